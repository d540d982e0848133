"""Resumable training state in safetensors (model, EMA, AdamW moments) + JSON metadata (step, RNG,
configs), so a run continues on another machine or session without unpickling anything."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open

from ..checkpoints import atomic_save_file


def save_state(path: Path, model, ema, optimizer, meta: dict) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.module.state_dict().items()})
    tensors["ema_n_averaged"] = ema.n_averaged.detach().cpu()
    opt = optimizer.state_dict()
    for pid, st in opt["state"].items():
        for name, v in st.items():
            tensors[f"optim.{pid}.{name}"] = torch.as_tensor(v).detach().cpu().contiguous()
    meta = dict(meta, param_groups=opt["param_groups"], rng=torch.get_rng_state().tolist())
    atomic_save_file(tensors, path, {"train_state": json.dumps(meta)})


def load_state(path: Path, model, ema, optimizer) -> dict:
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["train_state"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    ema.module.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    ema.n_averaged.copy_(tensors["ema_n_averaged"])
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": meta.pop("param_groups")})
    torch.set_rng_state(torch.tensor(meta.pop("rng"), dtype=torch.uint8))
    return meta
