"""`python -m omnitalker_core VERB ...`: every module in `omnitalker_core/commands/` is a verb.

A command module defines `HELP: str`, `add_arguments(parser)` and `run(args) -> int`; it is
imported only when its verb is used, so a broken optional dependency cannot break other verbs.
User errors (ValueError, missing or existing files) become one message on stderr and exit code 1.
A module `train_renderer.py` is the verb `train-renderer` (the underscore spelling works too).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from . import commands


def _verbs() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    standalone = argv is None  # the process's own command line: its start-up time is the command's
    argv = sys.argv[1:] if argv is None else argv
    verbs = _verbs()
    parser = argparse.ArgumentParser(prog="python -m omnitalker_core", description=__doc__.splitlines()[0])
    parser.add_argument(
        "verb", choices=[v.replace("_", "-") for v in verbs], help="what to do; `VERB --help` for its options"
    )
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    verb, rest = argv[0].replace("-", "_"), argv[1:]
    if verb not in verbs:
        parser.error(f"unknown verb {argv[0]!r}; choose from {', '.join(v.replace('_', '-') for v in verbs)}")
    module = importlib.import_module(f".commands.{verb}", __package__)
    sub = argparse.ArgumentParser(prog=f"python -m omnitalker_core {verb.replace('_', '-')}", description=module.HELP)
    sub.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    module.add_arguments(sub)
    args = sub.parse_args(rest)
    args.standalone = standalone
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(module.run(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as e:  # bad input: a message, not a traceback
        logging.getLogger("omnitalker_core").error("%s", e)
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
