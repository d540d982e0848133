"""One .safetensors per model: exact round trip, and every broken file is a ValueError naming the file.
Foreign torch files are read weights-only: a pickle that would run code is refused, never executed."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from omnitalker_core.checkpoints import (
    OmniTalkerBundle,
    load_bundle,
    load_foreign_state_dict,
    read_metadata,
    save_bundle,
)
from omnitalker_core.model.config import ModelConfig, named_config
from omnitalker_core.model.flow import FlowMatching
from omnitalker_core.text.tokenizer import CharTokenizer

VOCAB = [" ", "a", "b", "你", "ni3"]


def tiny_bundle(seed: int = 0) -> OmniTalkerBundle:
    torch.manual_seed(seed)
    flow = FlowMatching(named_config("tiny"))
    with torch.no_grad():
        for p in flow.parameters():
            p.normal_()
        flow.set_motion_stats(torch.rand(61), torch.rand(61) + 0.5)
    return OmniTalkerBundle(flow=flow, tokenizer=CharTokenizer(VOCAB), info={"note": "unit test ü"})


@pytest.fixture
def saved(tmp_path):
    bundle = tiny_bundle()
    return bundle, save_bundle(bundle, tmp_path / "model.safetensors")


def test_round_trip_is_exact(saved):
    bundle, path = saved
    loaded = load_bundle(path)
    a, b = bundle.flow.state_dict(), loaded.flow.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert loaded.flow.model_cfg == bundle.flow.model_cfg and loaded.flow.flow_cfg == bundle.flow.flow_cfg
    assert loaded.tokenizer.vocab == VOCAB and loaded.info == bundle.info and loaded.path == path
    assert not loaded.flow.training


def test_save_refuses_to_overwrite(saved, tmp_path):
    bundle, path = saved
    with pytest.raises(FileExistsError):
        save_bundle(bundle, path)
    save_bundle(bundle, path, overwrite=True)
    assert not list(tmp_path.glob("*.tmp")), "atomic save must leave no temp file"


def test_truncated_file(saved):
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=path.name):
        load_bundle(path)


def test_garbage_bytes(tmp_path):
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(b"\x13\x37 this is not a model" * 20)
    with pytest.raises(ValueError, match="garbage.safetensors"):
        load_bundle(path)


def test_foreign_safetensors(tmp_path):
    path = tmp_path / "sd15.safetensors"
    save_file({"model.diffusion_model.x": torch.zeros(2)}, str(path))
    with pytest.raises(ValueError, match="sd15.safetensors.*not an OmniTalker model"):
        load_bundle(path)


def rewrite_config(path, **changes) -> None:
    with safe_open(str(path), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    cfg = {k: v for k, v in (json.loads(meta["model_config"]) | changes).items() if v is not None}  # None: drop
    meta["model_config"] = json.dumps(cfg)
    save_file(tensors, str(path), metadata=meta)


@pytest.mark.parametrize("changes", [{"depth": 5}, {"dim": 96}, {"fusion": "none"}])
def test_config_weights_mismatch(saved, changes):
    _, path = saved
    rewrite_config(path, **changes)
    with pytest.raises(ValueError, match=f"{path.name}.*do not match"):
        load_bundle(path)


def test_unknown_config_field_and_broken_metadata(saved):
    _, path = saved
    rewrite_config(path, future_knob=1)
    with pytest.raises(ValueError, match=f"{path.name}.*unknown model config fields"):
        load_bundle(path)
    rewrite_config(path, future_knob=None)
    load_bundle(path)  # repaired
    with safe_open(str(path), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    meta["tokenizer"] = "{not json"
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(ValueError, match=f"{path.name}: broken OmniTalker metadata"):
        load_bundle(path)


def test_missing_and_wrong_suffix(tmp_path):
    with pytest.raises(FileNotFoundError, match="omnitalker"):
        load_bundle(tmp_path / "nope.safetensors")
    pt = tmp_path / "model.pt"
    torch.save({"a": torch.zeros(1)}, pt)
    with pytest.raises(ValueError, match="model.pt"):
        read_metadata(pt)


class Boom:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_never_unpickles(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "pytorch_model.bin"
    torch.save({"weight": torch.zeros(2), "payload": Boom(str(marker))}, evil)
    assert not marker.exists()
    with pytest.raises(ValueError, match="pytorch_model.bin.*weights-only"):
        load_foreign_state_dict(evil)
    assert not marker.exists(), "the pickle payload ran"


def test_foreign_torch_file_weights_only(tmp_path):
    sd = {"backbone.w": torch.arange(6.0).view(2, 3)}
    for name, obj in (("plain.bin", sd), ("wrapped.pt", {"state_dict": sd, "step": 3})):
        torch.save(obj, tmp_path / name)
        got = load_foreign_state_dict(tmp_path / name)
        assert torch.equal(got["backbone.w"], sd["backbone.w"])
    ema = tmp_path / "model_1200.pt"
    torch.save({"ema_model_state_dict": {"transformer.x": torch.ones(1)}, "step": 1200}, ema)
    assert "ema_model.transformer.x" in load_foreign_state_dict(ema)
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="list.pt"):
        load_foreign_state_dict(tmp_path / "list.pt")


def test_config_validation():
    with pytest.raises(ValueError, match="fusion_depth"):
        ModelConfig(depth=4, motion_depth=3, fusion_depth=4)
    with pytest.raises(ValueError, match="unknown config"):
        named_config("huge")
