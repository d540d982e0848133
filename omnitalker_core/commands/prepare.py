"""`python -m omnitalker_core prepare`: real talking-head videos -> a training corpus (see omnitalker_core.prepare)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = (
    "Turn real talking-head videos (files, folders, or a CSV/JSONL manifest with path[,transcript][,speaker]) into "
    "a training corpus that `train --data OUT` reads: 1-10 s utterances cut at pauses, their mel, tracked 61-D "
    "motion and transcript phonemes. Transcripts: a .txt beside the video, the manifest column, else offline "
    "Whisper. Bad inputs are skipped with their reason in the report (report.json). Resumable (rerun the same "
    "command); --shard I/N splits the work across machines and --merge DIR... combines the parts."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..prepare.features import FaceLimits
    from ..prepare.segment import SegmentConfig

    seg, face = SegmentConfig(), FaceLimits()
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="video files, folders (searched recursively) or CSV/JSONL manifests; with --merge: the "
        "OUT directories of prepare runs to combine",
    )
    p.add_argument("--out", type=Path, required=True, help="output corpus directory (created; resumable)")
    p.add_argument(
        "--merge",
        action="store_true",
        help="combine the OUT dirs of --shard runs given as INPUTs into --out; give the same --seed and "
        "--heldout-* options as the parts had for the same splits as a single run",
    )
    p.add_argument(
        "--mel-spec",
        default="",
        help="mel front-end of the model to train (vocos_24k_100 or "
        "hifigan_22k_80); default: the demo model's (hifigan_22k_80)",
    )
    p.add_argument(
        "--asr-model",
        default=None,
        help="a local CTranslate2 Whisper model directory for videos "
        "without a transcript (default: the bundled Whisper tiny.en); English only",
    )
    p.add_argument("--workers", type=int, default=2, help="worker processes, one video each (default 2)")
    p.add_argument(
        "--shard",
        default="0/1",
        help="process part I of N (e.g. 0/4): a deterministic subset of the "
        "videos, the same on every machine; combine the parts with --merge (default 0/1: all)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the held-out choice (default 0)")
    p.add_argument(
        "--heldout-speakers",
        type=float,
        default=0.1,
        help="speakers kept out of training: a count "
        "K >= 1 or a fraction < 1 (default 0.1; at least one when > 0, never all)",
    )
    p.add_argument(
        "--heldout-utterances",
        type=float,
        default=0.02,
        help="fraction of the training speakers' "
        "utterances kept for the held-out loss (split heldout_sentence; default 0.02)",
    )
    p.add_argument(
        "--speaker-from",
        choices=("folder", "video"),
        default="folder",
        help="speaker id when the manifest has none: the video's parent folder name (default) or one speaker per video",
    )
    p.add_argument("--max-file-gb", type=float, default=4.0, help="skip files larger than this (default 4)")
    p.add_argument("--min-seconds", type=float, default=seg.min_seconds, help="shortest utterance (default 1)")
    p.add_argument("--max-seconds", type=float, default=seg.max_seconds, help="longest utterance (default 10)")
    p.add_argument(
        "--min-face-px",
        type=float,
        default=face.min_face_px,
        help=f"smallest face height in the video's pixels (default {face.min_face_px:g})",
    )
    p.add_argument(
        "--max-yaw",
        type=float,
        default=face.max_yaw_deg,
        help=f"head turned sideways further than this (degrees) counts as turned away (default {face.max_yaw_deg:g})",
    )
    p.add_argument(
        "--max-pitch", type=float, default=face.max_pitch_deg, help=f"the same up/down (default {face.max_pitch_deg:g})"
    )
    p.add_argument(
        "--max-face-lost",
        type=float,
        default=face.max_lost_fraction,
        help=f"drop an utterance whose face is missing in more than this share of frames "
        f"(default {face.max_lost_fraction:g})",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def config_from_args(args: argparse.Namespace):
    from ..prepare.features import FaceLimits
    from ..prepare.inputs import parse_shard
    from ..prepare.run import PrepareConfig
    from ..prepare.segment import SegmentConfig

    return PrepareConfig(
        out=args.out,
        mel_spec=args.mel_spec,
        asr_model=args.asr_model,
        workers=args.workers,
        seed=args.seed,
        heldout_speakers=args.heldout_speakers,
        heldout_utterances=args.heldout_utterances,
        shard=parse_shard(args.shard),
        speaker_from=args.speaker_from,
        max_file_gb=args.max_file_gb,
        segment=SegmentConfig(min_seconds=args.min_seconds, max_seconds=args.max_seconds),
        face=FaceLimits(
            min_face_px=args.min_face_px,
            max_yaw_deg=args.max_yaw,
            max_pitch_deg=args.max_pitch,
            max_lost_fraction=args.max_face_lost,
        ),
    )


def run(args: argparse.Namespace) -> int:
    from ..prepare.report import format_report
    from ..prepare.run import merge, prepare

    cfg = config_from_args(args)
    if args.merge:
        if args.shard != "0/1":
            raise ValueError("--merge combines finished parts; it takes no --shard")
        report, code = merge(args.inputs, cfg)
    else:
        report, code = prepare(args.inputs, cfg)
    print(json.dumps(report) if args.json else format_report(report))
    return code
