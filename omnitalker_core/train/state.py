"""Resumable training state in safetensors (model, EMA, AdamW moments) + JSON metadata (step, RNG,
configs), so a run continues on another machine or session without unpickling anything.

AdamW's per-parameter moments are matched to parameters by name (`param_names` in the metadata), so a run
resumes whatever its parameter groups are now: a frozen audio branch has none, an audio branch unfrozen on
resume starts its moments fresh, and a state written before names were recorded (one group of every
parameter, in `model.parameters()` order) still loads."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open

from ..checkpoints import atomic_save_file


def _group_names(model, optimizer) -> list[list[str]]:
    names = {id(p): n for n, p in model.named_parameters()}
    return [[names[id(p)] for p in group["params"]] for group in optimizer.param_groups]


def read_state_meta(path: Path) -> dict:
    """The JSON metadata of a state file (step, epoch, train_config, ...) without reading its tensors."""
    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["train_state"])


def save_state(path: Path, model, ema, optimizer, meta: dict) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.module.state_dict().items()})
    tensors["ema_n_averaged"] = ema.n_averaged.detach().cpu()
    opt = optimizer.state_dict()
    for pid, st in opt["state"].items():
        for name, v in st.items():
            tensors[f"optim.{pid}.{name}"] = torch.as_tensor(v).detach().cpu().contiguous()
    meta = dict(
        meta,
        param_groups=opt["param_groups"],
        param_names=_group_names(model, optimizer),
        rng=torch.get_rng_state().tolist(),
    )
    atomic_save_file(tensors, path, {"train_state": json.dumps(meta)})


def load_state(path: Path, model, ema, optimizer) -> dict:
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["train_state"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    ema.module.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    ema.n_averaged.copy_(tensors["ema_n_averaged"])
    saved: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, pid, name = k.split(".", 2)
            saved.setdefault(int(pid), {})[name] = v
    groups = meta.pop("param_groups")
    names = meta.pop("param_names", None)
    if names is None:  # written before names were recorded: one group of model.parameters()
        names = [[n for n, _ in model.named_parameters()]]
        if len(groups) != 1 or len(groups[0]["params"]) != len(names[0]):
            raise ValueError(f"{path}: its optimizer state does not fit this model; start a new run (--init-from)")
    by_name = {}
    for group, group_names in zip(groups, names, strict=True):
        for pid, name in zip(group["params"], group_names, strict=True):
            if pid in saved:
                by_name[name] = saved[pid]
    current = optimizer.state_dict()
    flat = [n for group_names in _group_names(model, optimizer) for n in group_names]
    state = {i: by_name[n] for i, n in enumerate(flat) if n in by_name}
    optimizer.load_state_dict({"state": state, "param_groups": current["param_groups"]})
    torch.set_rng_state(torch.tensor(meta.pop("rng"), dtype=torch.uint8))
    return meta
