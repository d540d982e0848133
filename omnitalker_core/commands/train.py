"""`train`: flow-matching training of the generator on a corpus made by `corpus` or `prepare`.

Every TrainConfig field is a flag (`--max-steps`, `--grad-accum`, ...). With `--resume`, a flag not given
again keeps the value the run was started with (read from OUT/state.safetensors), so a resumed run trains
the same model the same way (a frozen audio branch stays frozen); a flag given again overrides it.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from ..train.state import read_state_meta
from ..train.trainer import LOSS_PARTS, TrainConfig, Trainer

HELP = "train the dual-branch generator on a corpus directory (resumable; torchrun for several processes)"

HELPS = {
    "text_alignment": "override the config's text alignment: filler (characters, F5) or frames (phonemes)",
    "lr": "AdamW peak learning rate",
    "weight_decay": "AdamW weight decay",
    "grad_clip": "clip the gradient norm of each optimizer step at this",
    "ema_decay": "EMA decay of the exported weights (warmed up: min(decay, (1 + n) / (10 + n)))",
    "seed": "seed of the initialisation, batch order and noise",
    "max_bad_steps": "stop as diverged after this many non-finite gradient norms in a row",
    "warmup_steps": "optimizer steps of linear learning-rate warm-up",
    "decay_start": "from this optimizer step the learning rate follows a cosine down to --lr x --final-lr-scale "
    "at --max-steps (0 = constant after the warm-up; give it on --resume to finish a constant-lr run)",
    "motion_from_rest": "train on blendshapes measured from each utterance's resting face, as the tracker reads "
    "a reference video (--no-motion-from-rest: the corpus's codes as they are)",
    "final_lr_scale": "the learning rate at --max-steps as a fraction of --lr, with --decay-start",
    "batch_frames": "padded mel frames per micro-batch and process (93.75 frames/s)",
    "max_frames": "skip utterances longer than this many frames",
    "max_steps": "stop after this many optimizer steps",
    "max_minutes": "stop (and save) after this many minutes of training; 0 = no limit",
    "save_every": "optimizer steps between resumable states and exported OUT/latest.safetensors",
    "eval_every": "optimizer steps between held-out loss evaluations (logged to OUT/log.jsonl)",
    "bf16": "bfloat16 autocast on CUDA",
    "reset_ema": "on resume, restart the EMA from the current weights",
    "init_from": "an OmniTalker model file: every generator tensor of the same name and shape starts from it",
    "init_audio": "a model file written by `convert f5`: the audio branch and text embedding start from it "
    "(all names and shapes must fit; the visual branch and fusion gates start fresh). Without --config the "
    "model config is the file's own. Default loss weights become the paper's (0.1 3.0 0.5 0.5)",
    "freeze_audio": "audio branch and text embedding get no gradient and are left out of the optimizer",
    "audio_lr_scale": "learning rate of the audio branch and text embedding = --lr times this (own AdamW "
    "parameter group; the warm-up applies to both)",
    "grad_accum": "micro-batches per optimizer step (effective batch = batch-frames x grad-accum x processes); "
    "logged steps, --max-steps, --save-every and --eval-every count optimizer steps",
}
NOT_INHERITED = {"reset_ema"}  # one-shot: applies to the resume it is given on


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", default=None,
        help="named model config (tiny, demo, paper) or an OmniTalker model file whose config to train; "
        "default: the --init-audio file's config, else demo",
    )  # fmt: skip
    p.add_argument("--data", required=True, help="corpus directory (manifest.json + shards)")
    p.add_argument("--out", required=True, help="run directory: state, latest.safetensors, log.jsonl")
    p.add_argument(
        "--resume", action="store_true",
        help="continue from OUT/state.safetensors; flags not given again keep the run's values",
    )  # fmt: skip
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0 = torch default)")
    p.add_argument(
        "--loss-weights", type=float, nargs=len(LOSS_PARTS), metavar=tuple(w.upper() for w in LOSS_PARTS),
        default=None,
        help="loss weight per part (default 1 1 0.5 0.5; with --init-audio the paper's 0.1 3 0.5 0.5)",
    )  # fmt: skip
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("model", "loss_weights"):
            continue
        flag = f"--{f.name.replace('_', '-')}"
        shown = f.default if f.default != "" else "none"
        help_ = f"{HELPS.get(f.name, f.name.replace('_', ' '))} (default {shown})"
        # default None: "not given", so a resumed run keeps its own value (see run)
        if isinstance(f.default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_)
        else:
            p.add_argument(flag, type=type(f.default), default=None, help=help_)


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The flags given, over the resumed run's own config (--resume), over TrainConfig's defaults."""
    values: dict = {}
    state = Path(args.out) / "state.safetensors"
    if args.resume and state.is_file():
        saved = read_state_meta(state).get("train_config", {})
        values = {k: v for k, v in saved.items() if k not in NOT_INHERITED}
    given = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(TrainConfig)}
    given["model"] = args.config
    given["loss_weights"] = tuple(args.loss_weights) if args.loss_weights is not None else None
    values.update({k: v for k, v in given.items() if v is not None})
    return TrainConfig.from_dict(values)


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = train_config(args)
    trainer = Trainer(cfg, args.data, args.out, device=args.device)
    try:
        if args.resume and not trainer.resume():
            print(f"no state in {args.out}; starting fresh")
        path = trainer.fit()
    finally:
        trainer.close()
    print(path)
    return 0
