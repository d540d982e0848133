"""`track`: reference video -> Live Link Face CSV of 61-D motion codes (see omnitalker_core.face.tracker)."""

from __future__ import annotations

import argparse
import json
import logging
import time

HELP = "Track a talking-head video: VIDEO -> motion CSV (Live Link Face layout, 61-D codes per frame)."
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="input video file (any format FFmpeg reads)")
    parser.add_argument("--out", required=True, help="output CSV path")
    parser.add_argument("--max-frames", type=int, default=None, help="track only the first N frames")
    parser.add_argument("--no-smooth", action="store_true", help="skip One-Euro smoothing of the codes")
    parser.add_argument(
        "--adapt",
        action="store_true",
        help="first fine-tune the face read-out on renders of this face (about 10 min on 2 CPU cores): lips, brows "
        "and gaze of a face the tracker never saw then read at their size",
    )
    parser.add_argument(
        "--device", default="cpu", help="where --adapt fine-tunes (cpu or cuda); tracking is on the CPU"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .. import motion
    from ..face.tracker import track_frames
    from ..video import read_video

    out = Path(args.out)
    if out.exists() and not args.overwrite:  # fail before the work, not after it
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    frames, fps, _, _ = read_video(args.video, max_frames=args.max_frames)
    t0 = time.perf_counter()
    adapt = None
    if args.adapt:
        from ..face.adaptation import AdaptConfig

        adapt = AdaptConfig(device=args.device)
    result = track_frames(frames, fps, smooth=not args.no_smooth, where=f"the video {args.video}", adapt=adapt)
    dt = time.perf_counter() - t0
    motion.save_csv(out, result.codes, fps, overwrite=args.overwrite)
    summary = {
        "frames": len(frames),
        "fps": fps,
        "found": int(result.found.sum()),
        "track_fps": len(frames) / dt,
        "out": str(out),
    }
    log.info(
        "tracked %d frames (%d with a face) at %.1f FPS -> %s", len(frames), summary["found"], summary["track_fps"], out
    )
    if args.json:
        print(json.dumps(summary))
    return 0
