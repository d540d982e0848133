"""Parity with the reference `vocos` package (test-only): our log-mel is Vocos's feature extractor, and
decoding through `VocosVocoder` (built from whitelisted classes, weights read weights-only, stored in
an OmniTalker file by `convert vocos`) is `vocos.Vocos.decode` itself. Random weights, tiny backbone."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch
import vocos  # a runtime requirement of the pack (requirements.txt), so never a reason to skip
import yaml

from omnitalker_core.__main__ import main as cli
from omnitalker_core.audio import log_mel
from omnitalker_core.commands.convert import load_vocoder_file
from omnitalker_core.vocoder import VOCOS_MEL_24KHZ, VocosVocoder, build_vocos

ATOL = 1e-5
TINY_CONFIG = {
    "feature_extractor": VOCOS_MEL_24KHZ["feature_extractor"],
    "backbone": {
        "class_path": "vocos.models.VocosBackbone",
        "init_args": {"input_channels": 100, "dim": 48, "intermediate_dim": 96, "num_layers": 2},
    },
    "head": VOCOS_MEL_24KHZ["head"] | {"init_args": {"dim": 48, "n_fft": 1024, "hop_length": 256, "padding": "center"}},
}


def reference_vocos(seed: int = 0) -> torch.nn.Module:
    """vocos.Vocos assembled by the package's own classes, every parameter random."""
    from vocos.feature_extractors import MelSpectrogramFeatures
    from vocos.heads import ISTFTHead
    from vocos.models import VocosBackbone

    model = vocos.Vocos(
        feature_extractor=MelSpectrogramFeatures(),
        backbone=VocosBackbone(input_channels=100, dim=48, intermediate_dim=96, num_layers=2),
        head=ISTFTHead(dim=48, n_fft=1024, hop_length=256, padding="center"),
    )
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model.eval()


def make_wave(seconds: float = 1.0) -> torch.Tensor:
    n = int(24000 * seconds)
    g = torch.Generator().manual_seed(1)
    t = torch.arange(n) / 24000
    wave = 0.3 * torch.sin(2 * torch.pi * 330 * t) + 0.05 * torch.randn(n, generator=g)
    wave[n // 4 : n // 2] = 0  # silence: exercises the log clamp
    return wave


def test_log_mel_matches_vocos_features():
    wave = make_wave()
    ref = reference_vocos().feature_extractor(wave[None])  # log(clamp(mel, 1e-7))
    got = log_mel(wave[None])  # log(clamp(mel, 1e-5)), as F5-TTS
    assert got.shape == ref.shape
    floor = math.log(1e-5)
    assert (ref < floor).any(), "the silent part must reach below F5's clamp, else the test proves less"
    err = (got - ref.clamp(min=floor)).abs().max().item()
    assert err <= ATOL, f"max abs err {err:.3g} (above the 1e-5 floor)"
    assert torch.all(got >= floor - 1e-6)


def mel_input(frames: int = 60) -> torch.Tensor:
    g = torch.Generator().manual_seed(2)
    return torch.randn(1, 100, frames, generator=g) - 2.0  # b 100 n log-mel


def test_decode_matches_vocos():
    ref_model = reference_vocos()
    mel = mel_input()
    with torch.no_grad():
        expected = ref_model.decode(mel)
    ours = VocosVocoder(TINY_CONFIG, ref_model.state_dict())
    got = ours.decode(mel)
    assert got.shape == expected.shape == (1, 59 * 256)
    assert expected.abs().max() < 1.0, "the reference stays inside [-1, 1] so our clamp does not hide errors"
    assert expected.abs().mean() > 1e-3
    err = (got - expected).abs().max().item()
    assert err <= ATOL, f"max abs err {err:.3g}"


def test_unknown_vocos_class_is_refused():
    bad = TINY_CONFIG | {"head": {"class_path": "os.system", "init_args": {}}}
    with pytest.raises(ValueError, match="unsupported Vocos config"):
        build_vocos(bad)


def file_digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_convert_vocos_bin_out_and_into(tmp_path):
    """pytorch_model.bin (torch.save, read back weights-only) -> `convert vocos` -> same decode."""
    ref_model = reference_vocos(seed=5)
    mel = mel_input(40)
    with torch.no_grad():
        expected = ref_model.decode(mel)
    bin_path, cfg_path = tmp_path / "pytorch_model.bin", tmp_path / "config.yaml"
    torch.save(ref_model.state_dict(), bin_path)
    cfg_path.write_text(yaml.safe_dump(TINY_CONFIG), encoding="utf-8")

    out = tmp_path / "vocos.safetensors"
    assert cli(["convert", "vocos", "--checkpoint", str(bin_path), "--config", str(cfg_path), "--out", str(out)]) == 0
    err = (load_vocoder_file(out).decode(mel) - expected).abs().max().item()
    assert err <= ATOL, f"max abs err {err:.3g} through the vocoder-only file"

    from omnitalker_core.checkpoints import OmniTalkerBundle, load_bundle, save_bundle
    from omnitalker_core.model.config import named_config
    from omnitalker_core.model.flow import FlowMatching
    from omnitalker_core.text.tokenizer import CharTokenizer
    from omnitalker_core.vocoder import vocoder_for

    model = save_bundle(
        OmniTalkerBundle(FlowMatching(named_config("tiny")), CharTokenizer([" ", "a"])), tmp_path / "m.safetensors"
    )
    before = file_digest(model)
    argv = ["convert", "vocos", "--checkpoint", str(bin_path), "--config", str(cfg_path), "--into", str(model)]
    assert cli(argv) == 0
    assert file_digest(model) == before, "--into without --overwrite must not touch the user's file"
    merged = tmp_path / "m_vocos.safetensors"
    assert cli(argv) == 1  # the new name exists now: refused, not overwritten
    bundle = load_bundle(merged)
    err = (vocoder_for(bundle).decode(mel) - expected).abs().max().item()
    assert err <= ATOL, f"max abs err {err:.3g} through the merged model file"
    assert cli([*argv, "--overwrite"]) == 0
    assert load_bundle(model).vocoder_config == TINY_CONFIG


def test_convert_vocos_rejects_bad_inputs(tmp_path):
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(TINY_CONFIG), encoding="utf-8")
    out = tmp_path / "v.safetensors"
    wrong = tmp_path / "wrong.bin"
    torch.save({"backbone.embed.weight": torch.zeros(3, 3)}, wrong)
    assert cli(["convert", "vocos", "--checkpoint", str(wrong), "--config", str(cfg_path), "--out", str(out)]) == 1
    corrupt = tmp_path / "corrupt.bin"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    assert cli(["convert", "vocos", "--checkpoint", str(corrupt), "--out", str(out)]) == 1
    # the full mel-24khz config does not fit the tiny weights
    good = tmp_path / "tiny.bin"
    torch.save(reference_vocos().state_dict(), good)
    assert cli(["convert", "vocos", "--checkpoint", str(good), "--out", str(out)]) == 1
    assert not out.exists()
