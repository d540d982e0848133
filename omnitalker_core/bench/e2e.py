"""End to end, the demo workflow (a): reference clip + text -> talking-head mp4; seconds per stage and RTF.

The stages are the nodes of `workflows/Text to talking video.json`, run through the same
library calls the nodes make, with the workflow's settings (`WORKFLOW_A`):
  capture  decode the reference clip (Load Video) + `capture_style` (Capture Style: mel, face tracking)
  generate `pipeline.generate` (Text -> Audio + Motion)
  vocode+render  `pipeline.vocode_and_render_mp4`: `vocode` with `vocoder_for(model)` (Vocoder) in a worker
           thread while the style's portrait is rendered, rest pose = the style's first motion code, and the
           frames stream into H.264 + AAC (Render Video)
Loading the model is reported apart (`setup`): a session loads it once. RTF = sum of the three stages /
seconds of speech produced; `rtf_cached_style` leaves capture out, which is what re-queueing the
workflow with a new seed costs in ComfyUI (Load Video and Capture Style come from its cache).

The same workflow measured through a real ComfyUI (queue -> output) is a separate command, printed
in `host_command`: `python -m omnitalker_core host bench 'workflows/Text to talking video.json'`.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import tempfile
import time
from pathlib import Path

import torch

from ..checkpoints import DEMO_CHECKPOINT, DEMO_TEXT, REFERENCE_CLIP, REFERENCE_TRANSCRIPT
from ..pipeline import DEFAULT_STEPS
from ..precision import CHOICES

PACK = Path(__file__).resolve().parents[2]
WORKFLOW = PACK / "workflows" / "Text to talking video.json"
REFERENCE_VIDEO, REFERENCE_TEXT = REFERENCE_CLIP, REFERENCE_TRANSCRIPT
STAGES = ("capture", "generate", "vocode+render")

# The widget values of workflow (a) (tests/test_bench_e2e.py checks they still match the file).
WORKFLOW_A = {
    "text": DEMO_TEXT.read_text(encoding="utf-8").strip(),
    "seed": 0,
    "steps": DEFAULT_STEPS,
    "cfg_audio": 2.0,
    "cfg_motion": 2.5,
    "speed": 1.0,
    "max_seconds": 10.0,  # Capture Style
    "adapt_to_face": True,  # Capture Style
    "griffin_lim_iterations": 64,  # Vocoder (used only by a model without Vocos weights)
    "resolution": 512,  # Render Video: longer side of the output
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    w = WORKFLOW_A
    p.add_argument("--model", default=str(DEMO_CHECKPOINT), help="OmniTalker .safetensors (default: the bundled demo)")
    p.add_argument("--reference", default=str(REFERENCE_VIDEO), help="reference clip (default: the bundled one)")
    p.add_argument(
        "--ref-text",
        default=None,
        help=f"its transcript (default: {REFERENCE_TEXT.name} for the bundled clip; required for another clip)",
    )
    p.add_argument("--text", default=w["text"], help="what to say (default: workflow (a)'s text)")
    p.add_argument("--steps", type=int, default=w["steps"], help="ODE steps")
    p.add_argument("--seed", type=int, default=w["seed"])
    p.add_argument("--speed", type=float, default=w["speed"])
    p.add_argument("--cfg-audio", type=float, default=w["cfg_audio"])
    p.add_argument("--cfg-motion", type=float, default=w["cfg_motion"])
    p.add_argument("--max-seconds", type=float, default=w["max_seconds"], help="reference seconds used (0 = all)")
    p.add_argument(
        "--adapt", action=argparse.BooleanOptionalAction, default=w["adapt_to_face"],
        help="Capture Style's adapt_to_face: fine-tune the face read-out on renders of the reference face",
    )  # fmt: skip
    p.add_argument("--resolution", type=int, default=w["resolution"], help="longer side of the video (0 = portrait's)")
    p.add_argument("--griffin-lim-iterations", type=int, default=w["griffin_lim_iterations"])
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--dtype", choices=CHOICES, default="auto", help="network precision (auto: as Load Model's auto)")
    p.add_argument("--cfg-stop", type=float, default=1.0, help="guidance only on steps starting before this flow time")
    p.add_argument(
        "--repeats", type=int, default=1, help="timed runs (seed + i each); the one with the lowest total is reported"
    )
    p.add_argument("--video", type=Path, default=None, help="keep the last mp4 here (default: a temporary file)")


def host_command(args: argparse.Namespace) -> str:
    cmd = ["python", "-m", "omnitalker_core", "host", "bench", str(WORKFLOW.relative_to(PACK)), "--repeats", "2"]
    if Path(args.model).resolve() != Path(DEMO_CHECKPOINT).resolve():
        cmd += ["--model", str(args.model)]
    return shlex.join(cmd)


def _resolve_reference(args: argparse.Namespace) -> tuple[Path, str]:
    ref = Path(args.reference)
    if not ref.is_file():
        raise FileNotFoundError(f"reference clip not found: {ref}")
    text = args.ref_text
    if text is None and ref.resolve() == REFERENCE_VIDEO.resolve() and REFERENCE_TEXT.is_file():
        text = REFERENCE_TEXT.read_text(encoding="utf-8").strip()
    if not text:  # the bench times the workflow with a typed transcript; transcription is not a stage here
        raise ValueError(f"no transcript for {ref.name}: pass --ref-text (or add {REFERENCE_TEXT})")
    return ref, text


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(args: argparse.Namespace) -> dict:
    from .. import audio as audio_lib
    from ..checkpoints import load_bundle
    from ..eval.speed import StageTimer, real_time_factor
    from ..face import tracker  # noqa: F401  (imported before timing: import cost is not a stage)
    from ..face.adaptation import AdaptConfig
    from ..pipeline import generate, portrait_of, render_size, rest_codes, vocode_and_render_mp4
    from ..precision import resolve_dtype
    from ..style import capture_style
    from ..video import read_video
    from ..vocoder import vocoder_for

    if args.steps < 1 or args.repeats < 1:
        raise ValueError("--steps and --repeats must be >= 1")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model_path = Path(args.model)
    if not model_path.is_file():
        raise FileNotFoundError(
            f"model not found: {model_path}"
            + (
                " (the bundled demo checkpoint is not there yet: pass --model FILE)"
                if model_path == DEMO_CHECKPOINT
                else ""
            )
        )
    ref_path, ref_text = _resolve_reference(args)
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None

    t0 = time.perf_counter()
    dtype = resolve_dtype(args.dtype, device)
    bundle = load_bundle(model_path, device=device, dtype=dtype)
    vocoder = vocoder_for(bundle, device=device, griffin_lim_iters=args.griffin_lim_iterations, dtype=dtype)
    _sync(device)
    load_model = time.perf_counter() - t0

    runs = []
    with tempfile.TemporaryDirectory(prefix="omnitalker-bench-") as tmp:
        for i in range(args.repeats):
            timer = StageTimer()
            out = Path(tmp) / f"run{i}.mp4"
            with timer("capture"):
                frames, fps, ref_audio, ref_rate = read_video(ref_path)
                if ref_audio is None:
                    raise ValueError(f"{ref_path} has no audio track: the reference must carry the speaker's voice")
                style = capture_style(
                    torch.from_numpy(ref_audio), ref_rate, frames=frames, fps=fps, transcript=ref_text,
                    max_seconds=args.max_seconds, adapt=AdaptConfig(device=str(device)) if args.adapt else None,
                )  # fmt: skip
            with timer("generate"), torch.inference_mode():
                gen = generate(
                    bundle, style, args.text, seed=args.seed + i, steps=args.steps, speed=args.speed,
                    cfg_audio=args.cfg_audio, cfg_motion=args.cfg_motion, cfg_stop=args.cfg_stop,
                )  # fmt: skip
                _sync(device)
            with timer("vocode+render"):
                portrait = portrait_of(style)
                wave, frames = vocode_and_render_mp4(
                    out, vocoder, gen.mel, portrait, gen.motion, overwrite=True,
                    base_codes=rest_codes(portrait, style), resolution=args.resolution, device=device, bundle=bundle,
                )  # fmt: skip
            seconds = wave.numel() / audio_lib.SAMPLE_RATE
            width, height = render_size(portrait.shape[:2], args.resolution)
            stages = {k: timer.seconds[k] for k in STAGES}
            runs.append(
                {
                    "seed": args.seed + i,
                    "stages": stages,
                    "total_seconds": sum(stages.values()),
                    "audio_seconds": seconds,
                    "frames": frames,
                    "size": [width, height],
                    "mp4_bytes": out.stat().st_size,
                }
            )
            if args.video is not None and i == args.repeats - 1:
                args.video.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(out, args.video)

    best = min(runs, key=lambda r: r["total_seconds"] / r["audio_seconds"])
    stages = {k: round(v, 4) for k, v in best["stages"].items()}
    total = sum(stages.values())
    audio_seconds = round(best["audio_seconds"], 4)
    info = bundle.info or {}
    return {
        "target": "e2e",
        "workflow": str(WORKFLOW.relative_to(PACK)),
        "model": str(model_path),
        "model_step": info.get("step"),
        "vocoder": type(vocoder).__name__,
        "reference": str(ref_path),
        "reference_seconds": round(style.seconds, 3),
        "reference_transcript": ref_text,
        "text": args.text,
        "steps": args.steps,
        "dtype": str(dtype).removeprefix("torch."),
        "cfg_stop": args.cfg_stop,
        "seed": best["seed"],
        "device": str(device),
        "threads": torch.get_num_threads(),
        "audio_seconds": audio_seconds,
        "frames": best["frames"],
        "size": best["size"],
        "setup": {"load_model": round(load_model, 4)},
        "stages": stages,
        "total_seconds": round(total, 4),
        "rtf": round(real_time_factor(total, audio_seconds), 4),
        "rtf_cached_style": round(real_time_factor(total - stages["capture"], audio_seconds), 4),
        "repeats": args.repeats,
        "runs": [
            {
                **r,
                "stages": {k: round(v, 4) for k, v in r["stages"].items()},
                "total_seconds": round(r["total_seconds"], 4),
            }
            for r in runs
        ],
        "video": None if args.video is None else str(args.video),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg_1m_start": None if load_start is None else round(load_start, 2),
            "load_avg_1m_end": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        },
        "host_command": host_command(args),
    }


def format_table(result: dict) -> str:
    lines = [
        f"workflow (a) end to end: {result['model']} (step {result['model_step']}), {result['steps']} steps, "
        f"{result['device']} x{result['threads']} threads, {result['dtype']}",
        f"{result['audio_seconds']:.2f} s of speech, {result['frames']} frames {result['size'][0]}x{result['size'][1]}",
        f"{'load model':>12}: {result['setup']['load_model']:8.3f} s (once per session, not in the RTF)",
    ]
    lines += [f"{k:>12}: {v:8.3f} s" for k, v in result["stages"].items()]
    lines.append(f"{'total':>12}: {result['total_seconds']:8.3f} s")
    lines.append(f"RTF {result['rtf']:.3f} (all three stages); {result['rtf_cached_style']:.3f} with the style cached")
    lines.append(f"through ComfyUI (queue -> output): {result['host_command']}")
    return "\n".join(lines)
