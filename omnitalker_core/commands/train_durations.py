"""`train-durations`: learn phoneme durations from a corpus's teacher timing and put the predictor into a
model file, which then times the target text with it instead of eSpeak (`model.duration`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "train the phoneme duration predictor on a corpus and add it to a model file (minutes on a CPU)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="corpus directory (manifest.json + shards)")
    p.add_argument("--model", required=True, type=Path, help="the OmniTalker model file to add it to")
    p.add_argument("--out", type=Path, default=None, help="write here (default: MODEL_durations.safetensors)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out, or the model file itself")
    p.add_argument("--minutes", type=float, default=3.0, help="training wall time (default 3)")
    p.add_argument("--max-steps", type=int, default=4000, help="training steps at most (default 4000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fp32", action="store_true", help="keep float32 weights (default: float16, as `export`)")


def run(args: argparse.Namespace) -> int:
    from ..audio import mel_spec
    from ..checkpoints import load_bundle, save_bundle
    from ..corpus.dataset import load_manifest
    from ..model.duration import DurationConfig, corpus_sequences, train_predictor
    from ..text.tokenizer import PhonemeTokenizer

    bundle = load_bundle(args.model)
    if not isinstance(bundle.tokenizer, PhonemeTokenizer):
        raise SystemExit(f"{args.model.name} reads characters, not phonemes: it has no use for phoneme durations")
    manifest = load_manifest(args.data)
    timing = manifest.get("phoneme_timing", "teacher")
    if timing != "teacher":  # e.g. `prepare`'s eSpeak phonemes stretched over real speech: nothing to learn from
        raise SystemExit(
            f"{args.data}: its phoneme timing is {timing!r}, an estimate, not a teacher's durations; train the "
            "predictor on a corpus made by `corpus` (eSpeak or Kokoro teacher)"
        )
    if manifest["phoneme_vocab"] != bundle.tokenizer.vocab.to_list():
        raise SystemExit(f"{args.data} has another phoneme vocabulary than {args.model.name}: use the model's corpus")
    fps = float(manifest["mel_fps"])
    model_fps = mel_spec(bundle.flow.model_cfg.mel_spec).fps
    if abs(fps - model_fps) > 1e-6:
        raise SystemExit(f"{args.data} is at {fps:.2f} frames/s but {args.model.name} at {model_fps:.2f}")
    dest = args.out or args.model.with_name(f"{args.model.stem}_durations{args.model.suffix}")
    if dest.exists() and not args.overwrite:
        raise SystemExit(f"{dest} exists; choose --out NEW or pass --overwrite")
    train = corpus_sequences(args.data, "train")
    held = corpus_sequences(args.data, "heldout_sentence")
    cfg = DurationConfig(num_symbols=len(bundle.tokenizer.vocab), fps=fps)
    model, report = train_predictor(train, cfg, minutes=args.minutes, max_steps=args.max_steps, seed=args.seed,
                                    held_out=held)  # fmt: skip
    bundle.tokenizer.durations = model
    bundle.info = dict(bundle.info, durations=report)
    save_bundle(bundle, dest, overwrite=True, half=not args.fp32)
    print(json.dumps({"out": str(dest), **report}))
    return 0
