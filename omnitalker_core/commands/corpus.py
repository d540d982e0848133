"""`python -m omnitalker_core corpus`: generate the synthetic training corpus (see omnitalker_core.corpus)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = (
    "Generate a synthetic multi-speaker talking corpus: teacher speech (eSpeak NG, or Kokoro-82M's natural "
    "voices with --teacher kokoro), frame-aligned phonemes and 61-D facial motion per mel frame, in "
    "safetensors shards plus manifest.json (written last). Deterministic for a seed."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output directory (shards, manifest.json, STATS.txt); a corpus already there is replaced",
    )
    parser.add_argument(
        "--speakers", type=int, default=32, help="number of synthetic speakers; every 8th is held out (default 32)"
    )
    parser.add_argument(
        "--hours", type=float, default=5.0, help="hours of training audio; held-out splits come on top (default 5)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same corpus (default 0)")
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes (default 2); does not change the result"
    )
    parser.add_argument("--shard-size", type=int, default=200, help="utterances per shard (default 200)")
    parser.add_argument(
        "--heldout-sentences", type=int, default=150, help="sentences kept out of training (default 150)"
    )
    parser.add_argument(
        "--heldout-speaker-utts", type=int, default=50, help="utterances per held-out speaker (default 50)"
    )
    parser.add_argument(
        "--teacher", choices=("espeak", "kokoro"), default="espeak",
        help="who speaks: eSpeak NG (default; 24 kHz Vocos mel) or Kokoro-82M's 28 English voices and blends of "
        "them (HiFi-GAN 22.05 kHz mel; needs `bash scripts/setup_train.sh`); with kokoro, --speakers counts "
        "the original voices and blends (at least 37)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the stats as JSON")


def run(args: argparse.Namespace) -> int:
    from ..corpus.generate import CorpusConfig, generate

    config = CorpusConfig(
        out=args.out, speakers=args.speakers, hours=args.hours, seed=args.seed, workers=args.workers,
        shard_size=args.shard_size, heldout_sentences=args.heldout_sentences,
        heldout_speaker_utts=args.heldout_speaker_utts, teacher=args.teacher,
    )  # fmt: skip
    from ..corpus.kokoro import KokoroMissing

    try:
        stats = generate(config)
    except KokoroMissing as e:  # a part of the teacher is not installed: say which and what to run
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(stats))
    else:
        print(f"corpus in {args.out}: {stats['hours']} h, {stats['utterances']} utterances, "
              f"{stats['speakers']} speakers, {stats['minutes']} min")  # fmt: skip
    return 0
