"""`generate`: text + reference clip -> talking-head mp4 (H.264 + AAC) in the reference's voice and manner.

With no model or reference given it uses the bundled demo checkpoint and the bundled reference
clip (`omnitalker_core/assets/omnitalker_reference.mp4` + `.txt`, its transcript).
Stages (each timed): load model, read reference, capture style (face tracking + mel), generate
(flow-matching ODE), vocode+render (`pipeline.vocode_and_render_mp4`: the vocoder runs in a worker thread while
the reference's portrait is animated, by the model's GAN renderer when its file carries one, else the geometric
renderer, and the frames go to the H.264 encoder batch by batch, so memory stays flat however long the text).
RTF = (generate + vocode+render) / speech seconds: text -> mp4 once model and style are
ready (they are loaded once per session and reused); `rtf_total` counts every stage, and `rtf_wall` the
whole process from its start (Python start-up and imports included), which is what a user waits for.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from ..checkpoints import REFERENCE_CLIP, REFERENCE_TRANSCRIPT
from ..pipeline import DEFAULT_STEPS
from ..precision import CHOICES

HELP = "text + reference video -> talking-head mp4 with speech in the reference voice (bundled demo model and reference by default)"
REFERENCE_VIDEO, REFERENCE_TEXT = REFERENCE_CLIP, REFERENCE_TRANSCRIPT
PER_CLIP_STAGES = ("generate", "vocode+render")

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..checkpoints import DEMO_CHECKPOINT

    p.add_argument("--text", required=True, help="what to say")
    p.add_argument("--out", required=True, help="output .mp4 (never overwritten unless --overwrite)")
    p.add_argument(
        "--model", default=str(DEMO_CHECKPOINT), help="OmniTalker .safetensors (default: the bundled demo model)"
    )
    p.add_argument(
        "--reference",
        default=None,
        help=f"reference video with the speaker's face and voice (default: {REFERENCE_VIDEO.name} bundled)",
    )
    p.add_argument(
        "--ref-text",
        default=None,
        help="transcript of the reference (default: the bundled transcript; transcribed offline for your own clip if omitted)",
    )
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="ODE steps (fewer = faster, rougher)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speed", type=float, default=1.0, help="speaking-rate factor (0.5..2)")
    p.add_argument("--cfg-audio", type=float, default=2.0, help="classifier-free guidance of the audio branch")
    p.add_argument("--cfg-motion", type=float, default=2.5, help="classifier-free guidance of the motion branch")
    p.add_argument(
        "--resolution", type=int, default=0, help="longer side of the video in pixels (default 0: the portrait's size)"
    )
    p.add_argument("--wav", default=None, help="also write the speech as a WAV file")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument(
        "--dtype",
        choices=CHOICES,
        default="auto",
        help="network precision; auto: bfloat16 on CPUs with AMX and on GPUs, else float32 (docs/SPEED.md)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (stage seconds, RTF, output)")


def resolve_reference(reference: str | None, ref_text: str | None) -> tuple[Path, str | None]:
    """(video path, transcript or None = transcribe). Without --reference: the bundled clip and its transcript."""
    if reference is not None:
        path = Path(reference)
        if not path.is_file():
            raise ValueError(f"reference video not found: {path}")
        return path, ref_text
    if not REFERENCE_VIDEO.is_file():
        raise ValueError(
            f"no bundled reference clip at {REFERENCE_VIDEO}: pass --reference VIDEO (a few seconds of one face "
            "speaking) and --ref-text 'what is said in it'"
        )
    if ref_text is None and REFERENCE_TEXT.is_file():
        ref_text = REFERENCE_TEXT.read_text(encoding="utf-8").strip() or None
    return REFERENCE_VIDEO, ref_text


def _check_outputs(args: argparse.Namespace) -> list[Path]:
    out = Path(args.out)
    if out.suffix.lower() != ".mp4":
        raise ValueError(f"--out must be an .mp4 file, got {out.name}")
    paths = [out] + ([Path(args.wav)] if args.wav else [])
    existing = [str(p) for p in paths if p.exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{', '.join(existing)} exists; choose another name or pass --overwrite")
    return paths


def run(args: argparse.Namespace) -> int:
    from .. import audio as audio_lib
    from ..checkpoints import load_bundle
    from ..eval.speed import StageTimer, process_seconds, real_time_factor
    from ..motion import VIDEO_FPS
    from ..pipeline import generate, portrait_of, render_size, rest_codes, vocode_and_render_mp4
    from ..precision import resolve_dtype
    from ..style import capture_style
    from ..video import read_video
    from ..vocoder import vocoder_for

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    out, *_ = _check_outputs(args)
    ref_path, ref_text = resolve_reference(args.reference, args.ref_text)

    timer = StageTimer()

    def stage(name: str):
        if not args.json:
            print(f"{name}...", file=sys.stderr, flush=True)
        return timer(name)

    with stage("load model"):
        dtype = resolve_dtype(args.dtype, "cpu")
        bundle = load_bundle(args.model, dtype=dtype)
        vocoder = vocoder_for(bundle, dtype=dtype)
    with stage("read reference"):
        frames, fps, ref_audio, ref_rate = read_video(ref_path)
        if ref_audio is None:
            raise ValueError(
                f"the video '{ref_path.name}' has no audio track: the reference must carry the speaker's voice. "
                "Use a clip with sound."
            )
    with stage("capture style"):
        style = capture_style(torch.from_numpy(ref_audio), ref_rate, frames=frames, fps=fps, transcript=ref_text)
    with stage("generate"), torch.inference_mode():
        gen = generate(bundle, style, args.text, seed=args.seed, steps=args.steps, speed=args.speed,
                       cfg_audio=args.cfg_audio, cfg_motion=args.cfg_motion)  # fmt: skip
    with stage("vocode+render"):
        portrait = portrait_of(style)
        wave, frames = vocode_and_render_mp4(
            out, vocoder, gen.mel, portrait, gen.motion, overwrite=args.overwrite,
            base_codes=rest_codes(portrait, style), resolution=args.resolution, bundle=bundle,
        )  # fmt: skip
        if args.wav:
            audio_lib.save_wav(args.wav, wave, audio_lib.SAMPLE_RATE)
    size = render_size(portrait.shape[:2], args.resolution)

    seconds = wave.numel() / audio_lib.SAMPLE_RATE
    result = {
        "out": str(out),
        "wav": args.wav,
        "model": str(args.model),
        "reference": str(ref_path),
        "reference_transcript": style.transcript,
        "text": gen.text,
        "seconds": round(seconds, 3),
        "frames": frames,
        "size": list(size),
        "dtype": str(dtype).removeprefix("torch."),
        "stages": {k: round(v, 3) for k, v in timer.seconds.items()},
        "rtf": round(real_time_factor(timer.total(list(PER_CLIP_STAGES)), seconds), 3),
        "rtf_total": round(real_time_factor(timer.total(), seconds), 3),
        "threads": torch.get_num_threads(),
    }
    wall = process_seconds() if getattr(args, "standalone", False) else None  # not when called in-process
    if wall is not None:
        result["wall_seconds"] = round(wall, 2)
        result["rtf_wall"] = round(real_time_factor(wall, seconds), 3)
    if args.json:
        print(json.dumps(result))
        return 0
    for name, sec in result["stages"].items():
        print(f"{name:>15}: {sec:7.2f} s")
    print(f"wrote {out}: {seconds:.2f} s of speech, {result['frames']} frames at {VIDEO_FPS:g} fps ({result['dtype']})")
    print(
        f"RTF {result['rtf']:.2f} (generate, vocode+render), {result['rtf_total']:.2f} with model load and "
        f"style capture" + (f", {result['rtf_wall']:.2f} for the whole command" if "rtf_wall" in result else "")
    )
    return 0
