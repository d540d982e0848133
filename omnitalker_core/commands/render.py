"""`render`: portrait image + motion CSV -> H.264 mp4 (`pipeline.render_frames`: the geometric renderer,
or the learned GAN renderer of a model file given with --model)."""

from __future__ import annotations

import argparse
import json
import logging
import time

HELP = "Animate a portrait with motion codes: --portrait IMG --motion motion.csv --out clip.mp4 (H.264)."
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--portrait", required=True, help="portrait image (PNG/JPEG) with one face")
    parser.add_argument("--motion", required=True, help="Live Link Face CSV (e.g. from `track`)")
    parser.add_argument("--out", required=True, help="output mp4 path")
    parser.add_argument(
        "--size",
        type=int,
        nargs=2,
        metavar=("W", "H"),
        default=None,
        help="output size in pixels (default: --resolution)",
    )
    parser.add_argument(
        "--resolution",
        type=int,
        default=0,
        help="longer side of the output, aspect kept (default 0: the portrait's size)",
    )
    parser.add_argument(
        "--model", default=None, help="OmniTalker .safetensors whose learned (GAN) renderer to use (default: geometric)"
    )
    parser.add_argument(
        "--fps", type=float, default=None, help="frame rate of the CSV (default: from its timecodes, else 25)"
    )
    parser.add_argument(
        "--relative",
        action="store_true",
        help="treat codes as offsets from the portrait (default: absolute, drawn relative to what the tracker reads from the portrait)",
    )
    parser.add_argument("--audio", default=None, help="optional audio/video file whose audio track is muxed in")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from .. import motion
    from ..audio import SAMPLE_RATE, read_audio
    from ..media_errors import no_audio_track
    from ..pipeline import render_frames, renderer_kind, rest_codes
    from ..video import write_mp4

    out = Path(args.out)
    if out.exists() and not args.overwrite:  # fail before the work, not after it
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    portrait = np.asarray(Image.open(args.portrait).convert("RGB"))
    codes, fps = motion.load_csv(args.motion, args.fps)
    bundle = None
    if args.model:
        from ..checkpoints import load_bundle

        bundle = load_bundle(args.model)
    # the CSV's values are absolute: drawn relative to what the tracker reads from the portrait itself
    base = None if args.relative else rest_codes(portrait)
    t0 = time.perf_counter()
    frames = render_frames(
        portrait, codes, base_codes=base, resolution=args.resolution, size=tuple(args.size) if args.size else None,
        bundle=bundle,
    )  # fmt: skip
    dt = time.perf_counter() - t0
    audio, sr = None, 0
    if args.audio:
        audio, sr = read_audio(args.audio)
        if audio is None:  # --audio names a file without sound: say so instead of writing a silent video
            raise no_audio_track(args.audio)
    write_mp4(out, frames, fps, audio=audio, sample_rate=sr or SAMPLE_RATE, overwrite=args.overwrite)
    summary = {
        "frames": len(frames),
        "fps": fps,
        "render_fps": len(frames) / dt,
        "size": [int(frames.shape[2]), int(frames.shape[1])],
        "renderer": renderer_kind(bundle),
        "out": str(out),
    }
    log.info("rendered %d frames at %.1f FPS -> %s", len(frames), summary["render_fps"], out)
    if args.json:
        print(json.dumps(summary))
    return 0
