"""`train-renderer`: train the paper's GAN renderer on talking-head clips of one person; resumable.

    python -m omnitalker_core train-renderer --video CLIP.mp4 [--video ...] --out RUN [--steps N] [--size 256]
    python -m omnitalker_core train-renderer --video CLIP.mp4 --out RUN --steps 4000 --resume
    python -m omnitalker_core convert renderer --generator RUN/generator.safetensors --into MODEL.safetensors

Each clip is decoded (`video.read_video`), face-tracked (`face.tracker.track_frames`: the codes the
generator is conditioned on), reduced to its frames with a detected face, and cached at the working
size with its geometric renders (`face.train_gan.prepare_clip`; the first such frame is the reference
portrait). `train_gan` then writes RUN/state.pt (resume) and RUN/generator.safetensors (inference,
for `convert renderer`). At the end the PSNR of the GAN and of the geometric renderer against each
clip is printed: the GAN should beat the geometric renderer on the clips it was trained on.
Ctrl-C stops at the current step and saves; `--resume` continues from there up to `--steps` in all.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

HELP = "train the GAN renderer on talking-head clips (RUN/generator.safetensors; add it with `convert renderer`)"
DEFAULT_SIZE = 256

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..face.render_gan import GanConfig
    from ..face.train_gan import TrainConfig

    t = TrainConfig()
    p.add_argument("--video", action="append", required=True, help="talking-head clip (repeat for several clips)")
    p.add_argument("--out", required=True, help="run directory (state.pt, generator.safetensors)")
    p.add_argument(
        "--steps", type=int, default=t.steps, help=f"total steps; a resumed run continues up to it ({t.steps})"
    )
    p.add_argument(
        "--size", type=int, default=None, help=f"working resolution in pixels, square (new runs: {DEFAULT_SIZE})"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out (its size and widths are kept)")
    p.add_argument("--batch", type=int, default=t.batch, help="frames per step")
    p.add_argument("--lr", type=float, default=t.lr_g, help="Adam learning rate of generator and discriminator")
    p.add_argument(
        "--channels", type=int, default=GanConfig.channels, help="generator width at full resolution (new runs)"
    )
    p.add_argument("--save-every", type=int, default=t.save_every, help="steps between checkpoints")
    p.add_argument("--max-frames", type=int, default=500, help="frames used per clip, from its start (500 = 20 s)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--seed", type=int, default=t.seed)
    p.add_argument("--json", action="store_true", help="print one JSON object (steps, PSNR per clip)")


def _run_config(args: argparse.Namespace, out: Path):
    """The GanConfig of a new run (from the flags) or of the run being resumed (from its generator file)."""
    from ..face.render_gan import GanConfig, read_generator_file

    state = out / "state.pt"
    if not args.resume:
        if state.exists():
            raise FileExistsError(
                f"{out} already holds a run ({state.name}): pass --resume to continue it, or another --out"
            )
        return GanConfig(size=args.size or DEFAULT_SIZE, channels=args.channels)
    if not state.is_file():
        raise ValueError(f"--resume: {out} holds no run to continue (no {state.name}); leave out --resume to start one")
    cfg, _, extra = read_generator_file(out / "generator.safetensors")
    if args.size is not None and args.size != cfg.size:
        raise ValueError(f"--size {args.size}: the run in {out} trains at {cfg.size} px; resume without --size")
    log.info("resuming %s at step %s (size %d)", out, extra.get("step"), cfg.size)
    return cfg


def _prepare(path: Path, size: int, max_frames: int):
    """One clip -> ClipData at `size`: decode, track, keep the frames with a face."""
    import numpy as np

    from ..face.render_gan import landmarks_at
    from ..face.tracker import track_frames
    from ..face.train_gan import prepare_clip
    from ..video import read_video

    if not path.is_file():
        raise FileNotFoundError(f"clip not found: {path}")
    frames, fps, _, _ = read_video(path, max_frames=max_frames)
    if len(frames) < 2:
        raise ValueError(f"{path.name}: {len(frames)} frame(s); a training clip needs at least 2")
    track = track_frames(frames, fps, where=path.name)
    keep = np.flatnonzero(track.found)
    if len(keep) < 2:
        raise ValueError(f"{path.name}: a face was found in {len(keep)} frame(s) only; use a clip that shows the face")
    landmarks = landmarks_at(track.landmarks[keep[0]], frames.shape[1:3], size)
    clip = prepare_clip(frames[keep], track.codes[keep], size, landmarks=landmarks)
    log.info("%s: %d of %d frames with a face, %.1f fps", path.name, len(keep), len(frames), fps)
    return clip, len(keep)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..face.render_gan import load_generator
    from ..face.train_gan import TrainConfig, evaluate, train_gan

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.steps < 0 or args.batch < 1 or args.save_every < 1 or args.max_frames < 2:
        raise ValueError("--steps must be >= 0, --batch and --save-every >= 1, --max-frames >= 2")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    out = Path(args.out)
    cfg = _run_config(args, out)
    videos = [Path(v) for v in args.video]
    clips, counts = [], []
    for v in videos:
        clip, n = _prepare(v, cfg.size, args.max_frames)
        clips.append(clip)
        counts.append(n)
    tcfg = TrainConfig(steps=args.steps, batch=args.batch, lr_g=args.lr, lr_d=args.lr, save_every=args.save_every,
                       seed=args.seed)  # fmt: skip
    result = train_gan(clips, out, cfg, tcfg, device=str(device))
    generator = out / "generator.safetensors"
    summary = {
        "run": str(out),
        "generator": str(generator),
        "start_step": result.start_step,
        "step": result.step,
        "interrupted": result.interrupted,
        "size": cfg.size,
        "clips": [],
    }
    if result.interrupted:
        print(f"interrupted: saved {out} at step {result.step}; continue with --resume", file=sys.stderr)
        if args.json:
            print(json.dumps(summary))
        return 130
    gen = load_generator(generator, device=device)
    for v, clip, n in zip(videos, clips, counts):
        scores = evaluate(gen, _on(clip, device))
        summary["clips"].append({"video": str(v), "frames": n, **{k: round(s, 3) for k, s in scores.items()}})
    for key in ("psnr_gan", "psnr_geometric"):
        summary[key] = round(sum(c[key] for c in summary["clips"]) / len(clips), 3)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{out}: step {result.start_step} -> {result.step}; weights {generator}")
    for c in summary["clips"]:
        print(f"  {Path(c['video']).name}: PSNR GAN {c['psnr_gan']:.2f} dB, geometric {c['psnr_geometric']:.2f} dB")
    print(
        f"add it to a model: python -m omnitalker_core convert renderer --generator {generator} --into MODEL.safetensors"
    )
    return 0


def _on(clip, device):
    """The clip's tensors on `device` (evaluation runs where the generator is)."""
    from dataclasses import fields, replace

    return replace(clip, **{f.name: getattr(clip, f.name).to(device) for f in fields(clip)})
