"""`host run|bench WORKFLOW`: a headless ComfyUI (CPU) with this pack linked runs UI-format workflows.

    host run workflows/X.json [more.json] [--base DIR] [--suffix .mp4]   # prints the output files
    host bench workflows/X.json --repeats 2 [--model M] [--out R.json]  # queue -> output seconds, RTF (JSON)

ComfyUI comes from `$COMFYUI_PATH`, else `<repo>/../shared/comfyui`, else ComfyUI v0.3.64 fetched once into
`<repo>/.comfyui/` (`scripts/comfyui.sh`); see `omnitalker_core.host`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from ..host import (
    PACK_ROOT,
    ComfyHost,
    ExecutionFailed,
    HostError,
    PromptRejected,
    bench_workflow,
    load_workflow,
    start_host,
)

HELP = "run or time UI-format workflows in a headless ComfyUI with this pack linked (`host run|bench WORKFLOW`)"
DEFAULT_BENCH_WORKFLOW = PACK_ROOT / "workflows" / "Text to talking video.json"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="{run,bench}")
    run_p = sub.add_parser("run", help="start the host, queue each workflow, print its output files, stop")
    run_p.add_argument("workflows", nargs="+", type=Path, metavar="WORKFLOW", help="UI-format workflow .json")
    run_p.add_argument("--base", type=Path, default=None, help="ComfyUI base directory (default: a temporary one)")
    run_p.add_argument("--timeout", type=float, default=1800, help="seconds per workflow")
    run_p.add_argument("--suffix", default=None, help="only print output files with this suffix, e.g. .mp4")
    bench = sub.add_parser(
        "bench",
        help="time a workflow through the host: queue -> output wall seconds, per node and stage, RTF (JSON)",
        description="Start the host, queue the workflow --repeats times with a new seed each time, print JSON "
        "(the host-side counterpart of `python -m omnitalker_core bench e2e`).",
    )
    bench.add_argument("workflow", nargs="?", type=Path, default=DEFAULT_BENCH_WORKFLOW, help="default: workflow (a)")
    bench.add_argument("--repeats", type=int, default=2)
    bench.add_argument("--model", type=Path, default=None, help="model file to use instead of the workflow's")
    bench.add_argument("--seed", type=int, default=None, help="first seed (default: the workflow's)")
    bench.add_argument("--base", type=Path, default=None, help="ComfyUI base directory (default: a temporary one)")
    bench.add_argument("--timeout", type=float, default=1800, help="seconds per repeat")
    bench.add_argument(
        "--no-cache", action="store_true", help="start ComfyUI with --cache-none: every repeat runs every node"
    )
    bench.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    bench.add_argument("--text", default=None, help="what the generator says instead of the workflow's text")
    bench.add_argument("--text-file", type=Path, default=None, help="the same, read from a UTF-8 file")


def _short(e: HostError, host: ComfyHost) -> str:
    """The error without the server log tail, and where the whole log is."""
    return f"{str(e).split(chr(10) + '--- server log')[0]}\n(server log: {host.log_path})"


def run(args: argparse.Namespace) -> int:
    try:
        return _bench(args) if args.action == "bench" else _run(args)
    except HostError as e:  # the server did not start (its log tail is in the message)
        print(f"error: {e}", file=sys.stderr)
        return 1


def _start(base: Path | None, prefix: str, extra_args: tuple[str, ...] = ()) -> ComfyHost:
    host = start_host(base or Path(tempfile.mkdtemp(prefix=prefix)), extra_args=extra_args)
    log.info(
        "ComfyUI ready on %s in %.1f s (base %s, log %s)", host.url, host.startup_seconds, host.base, host.log_path
    )
    return host


def _run(args: argparse.Namespace) -> int:
    for path in args.workflows:
        if not path.is_file():
            raise FileNotFoundError(f"workflow not found: {path}")
    host = _start(args.base, "omnitalker-host-")
    try:
        for wf_path in args.workflows:
            wf = load_workflow(wf_path)
            t0 = time.monotonic()
            entry = host.run(host.ui_to_api(wf), wf, args.timeout)
            log.info("%s: done in %.1f s", wf_path.name, time.monotonic() - t0)
            for path in host.output_files(entry, suffix=args.suffix, kinds=("output",)):
                print(path.resolve(), flush=True)
    except (ExecutionFailed, PromptRejected) as e:
        print(f"error: {_short(e, host)}", file=sys.stderr)
        return 1
    except HostError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        host.stop()
    return 0


def _bench(args: argparse.Namespace) -> int:
    if args.repeats < 1:
        raise ValueError("--repeats must be >= 1")
    if not args.workflow.is_file():
        raise FileNotFoundError(f"workflow not found: {args.workflow}")
    if args.model is not None and not args.model.is_file():
        raise FileNotFoundError(f"model not found: {args.model}")
    if args.text_file is not None and not args.text_file.is_file():
        raise FileNotFoundError(f"text file not found: {args.text_file}")
    host = _start(args.base, "omnitalker-bench-", ("--cache-none",) if args.no_cache else ())
    try:
        text = args.text_file.read_text(encoding="utf-8").strip() if args.text_file is not None else args.text
        result = bench_workflow(
            host, args.workflow, repeats=args.repeats, model=args.model, seed=args.seed, timeout=args.timeout, text=text
        )
    except (HostError, ValueError) as e:
        print(f"error: {_short(e, host) if isinstance(e, HostError) else e}", file=sys.stderr)
        return 1
    finally:
        host.stop()
    result["workflow"] = str(args.workflow)
    result["comfyui_cache"] = "none" if args.no_cache else "default"
    text = json.dumps(result, indent=2)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0
