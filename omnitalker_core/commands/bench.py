"""`bench TARGET [options] [--json]`: speed of one part; every module `omnitalker_core/bench/TARGET.py` is a target.

Plug-in contract for a target module: `add_arguments(parser)` and `run(args) -> dict` (the result,
printed as JSON with --json, else by the module's optional `format_table(result)`). A module that
only has a `bench_TARGET(**kwargs) -> dict` function works too: its keyword arguments become options.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import logging
import pkgutil
import sys
from pathlib import Path

from .. import bench as bench_pkg

HELP = (
    "benchmarks: generator model (vs f5-tts), renderer, end to end, adaptation's fine-tuning; "
    "`bench TARGET --help` for options"
)
log = logging.getLogger(__name__)


def targets() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench_pkg.__path__) if not m.name.startswith("_"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help=f"what to measure: one of {', '.join(targets())}")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="the target's options (`bench TARGET --help`)")


def _options_from_signature(parser: argparse.ArgumentParser, fn) -> None:
    """Options for a plain `bench_X(**kwargs)` function, from its defaults' types."""
    for name, p in inspect.signature(fn).parameters.items():
        flag = "--" + name.replace("_", "-")
        default = None if p.default is inspect.Parameter.empty else p.default
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, tuple | list):
            kind = type(default[0]) if default else str
            parser.add_argument(
                flag, nargs="+", type=kind, default=list(default), help=f"default {' '.join(map(str, default))}"
            )
        else:
            kind = type(default) if default is not None else str
            parser.add_argument(flag, type=kind, default=default, required=p.default is inspect.Parameter.empty)


def run(args: argparse.Namespace) -> int:
    available = targets()
    if args.target not in available:
        log.error(
            "unknown bench target %r; available: %s (a target is a module omnitalker_core/bench/TARGET.py)",
            args.target,
            ", ".join(available),
        )
        return 2
    module = importlib.import_module(f"..bench.{args.target}", __package__)
    parser = argparse.ArgumentParser(
        prog=f"python -m omnitalker_core bench {args.target}", description=(module.__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON result to this file")
    fn = getattr(module, "run", None)
    if fn is not None:
        if hasattr(module, "add_arguments"):
            module.add_arguments(parser)
        opts = parser.parse_args(args.options)
        call = lambda: fn(opts)  # noqa: E731
    elif hasattr(module, f"bench_{args.target}"):
        func = getattr(module, f"bench_{args.target}")
        _options_from_signature(parser, func)
        opts = parser.parse_args(args.options)
        kwargs = {k: v for k, v in vars(opts).items() if k not in ("json", "out")}
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
        call = lambda: func(**kwargs)  # noqa: E731
    else:
        log.error("omnitalker_core/bench/%s.py defines neither run(args) nor bench_%s(...)", args.target, args.target)
        return 2
    try:
        result = call()
    except (ValueError, FileNotFoundError) as e:
        log.error("bench %s: %s", args.target, e)
        return 1
    if isinstance(result, int):
        return result
    text = json.dumps(result, indent=2, default=str)
    if opts.out is not None:
        opts.out.write_text(text + "\n", encoding="utf-8")
    if opts.json or not hasattr(module, "format_table"):
        sys.stdout.write(text + "\n")
    else:
        sys.stdout.write(module.format_table(result) + "\n")
    return 0
