"""`train`: flow-matching training of the generator on a corpus made by `corpus`."""

from __future__ import annotations

import argparse
import dataclasses

import torch

from ..train.trainer import TrainConfig, Trainer

HELP = "train the dual-branch generator on a corpus directory (resumable; torchrun for several processes)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="demo", help="named model config: tiny, demo, paper")
    p.add_argument("--data", required=True, help="corpus directory (manifest.json + shards)")
    p.add_argument("--out", required=True, help="run directory: state, latest.safetensors, log.jsonl")
    p.add_argument("--resume", action="store_true", help="continue from OUT/state.safetensors")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0 = torch default)")
    for f in dataclasses.fields(TrainConfig):
        if f.name == "model" or f.name == "loss_weights":
            continue
        flag = f"--{f.name.replace('_', '-')}"
        if isinstance(f.default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            p.add_argument(flag, type=type(f.default), default=f.default)


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainConfig)
        if f.name not in ("model", "loss_weights")
    }
    cfg = TrainConfig(model=args.config, **values)
    trainer = Trainer(cfg, args.data, args.out, device=args.device)
    if args.resume and not trainer.resume():
        print(f"no state in {args.out}; starting fresh")
    path = trainer.fit()
    print(path)
    return 0
