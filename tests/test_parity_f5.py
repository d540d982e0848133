"""Parity with the reference F5-TTS package (`f5-tts` from PyPI, test-only): an F5 DiT's weights,
loaded into our audio branch (fusion gates zero), must give F5's forward output and F5's sampled mel,
directly and through a converted file; our log-mel must be F5's.

All weights are random (normal, not F5's zero init) so that every layer contributes to the output.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

f5_model = pytest.importorskip("f5_tts.model")

from omnitalker_core.__main__ import main as cli  # noqa: E402
from omnitalker_core.checkpoints import load_bundle  # noqa: E402
from omnitalker_core.f5_compat import f5_to_omnitalker, infer_f5_config  # noqa: E402
from omnitalker_core.model.dit import Conditions  # noqa: E402
from omnitalker_core.model.flow import FlowMatching  # noqa: E402

TINY_F5 = dict(
    dim=64, depth=3, heads=2, dim_head=32, ff_mult=2, text_dim=32, conv_layers=2, text_num_embeds=40, mel_dim=100
)
ATOL = 1e-5


def randomize(module: torch.nn.Module, seed: int, std: float = 0.1) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return module.eval()


@pytest.fixture(scope="module")
def f5_dit():
    return randomize(f5_model.DiT(**TINY_F5), seed=1)


@pytest.fixture(scope="module")
def ours(f5_dit):
    cfg = infer_f5_config(f5_dit.state_dict(), dim_head=32, motion_width=32, motion_depth=3, fusion_depth=2)
    flow = FlowMatching(cfg)
    missing, unexpected = flow.load_state_dict(f5_to_omnitalker(f5_dit.state_dict()), strict=False)
    assert not unexpected
    assert all(k.startswith(("transformer.motion.", "transformer.fusion.", "motion_")) for k in missing), missing
    randomize(flow.transformer.motion, seed=2)  # a trained-looking visual branch must not leak into audio
    with torch.no_grad():
        for gate in flow.transformer.fusion:
            gate.motion.fill_(0.7)
    return flow.eval()


def inputs(n: int = 48, nt: int = 30, b: int = 1, seed: int = 3):
    g = torch.Generator().manual_seed(seed)
    x, cond = torch.randn(b, n, 100, generator=g), torch.randn(b, n, 100, generator=g)
    cond[:, n // 2 :] = 0
    text = torch.randint(0, TINY_F5["text_num_embeds"], (b, nt), generator=g)
    text[:, -4:] = -1  # batch padding
    return x, cond, text, torch.rand(b, generator=g)


def test_forward_matches_f5(f5_dit, ours):
    x, cond, text, t = inputs()
    motion = torch.randn(1, x.shape[1], 61)
    with torch.no_grad():
        ref = f5_dit(x=x, cond=cond, text=text, time=t, drop_audio_cond=False, drop_text=False)
        got, _ = ours.transformer(x, cond, motion, motion.flip(1), text, t, Conditions.keep_all(1, "cpu"))
    err = (got - ref).abs().max().item()
    assert ref.abs().mean() > 0.1  # a meaningful output, not all zeros
    assert err <= ATOL, f"max abs err {err:.3g}"


@pytest.mark.parametrize("scalar_time", [False, True])
def test_cfg_batched_forward_matches_f5(f5_dit, ours, scalar_time):
    x, cond, text, t = inputs(n=40, nt=25)
    t = t[0] if scalar_time else t
    with torch.no_grad():
        ref = f5_dit(x=x, cond=cond, text=text, time=t, cfg_infer=True)  # b -> 2b: cond, uncond
        flags = torch.tensor([False, True])
        conds = Conditions(drop_audio=flags, drop_motion=flags, drop_text=flags)
        m = torch.randn(2, x.shape[1], 61)
        got, _ = ours.transformer(x.repeat(2, 1, 1), cond.repeat(2, 1, 1), m, m, text.repeat(2, 1), t, conds)
    err = (got - ref).abs().max().item()
    assert err <= ATOL, f"max abs err {err:.3g}"
    assert (got[0] - got[1]).abs().max() > 1e-2  # cond and uncond really differ


def f5_sample(f5_dit, ref_mel, text, duration, steps, epss, seed):
    cfm = f5_model.CFM(transformer=f5_dit).eval()
    with torch.no_grad():
        out, _ = cfm.sample(
            ref_mel, text, duration, steps=steps, cfg_strength=2.0, sway_sampling_coef=-1.0, seed=seed, use_epss=epss
        )
    return out


def f5_noise(duration: int, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)  # CFM.sample: manual_seed(seed), then randn(duration, 100)
    return torch.randn(duration, 100)[None]


@pytest.mark.parametrize("epss", [True, False])
def test_sample_matches_f5(f5_dit, ours, epss):
    _, ref_mel, text, _ = inputs(n=30, nt=24, seed=5)
    ref_mel = ref_mel[:, :20]
    duration, steps, seed = 56, 6, 7
    expected = f5_sample(f5_dit, ref_mel, text, duration, steps, epss, seed)
    noise = (f5_noise(duration, seed), torch.randn(1, duration, 61))
    got = ours.sample(
        ref_mel,
        text,
        duration,
        ref_motion=torch.randn(1, 20, 61),
        steps=steps,
        cfg_audio=2.0,
        sway=-1.0,
        epss=epss,
        noise=noise,
    ).mel
    err = (got - expected).abs().max().item()
    assert err <= ATOL, f"max abs err {err:.3g} (epss={epss})"
    if epss:  # the two time grids really differ, so both branches of the sampler are exercised
        other = ours.sample(ref_mel, text, duration, steps=steps, sway=-1.0, epss=False, noise=noise).mel
        assert (other - got).abs().max() > 1e-3


def test_audio_only_sampling_is_exact(ours):
    """Voice-only sampling skips the visual branch; with audio gates at zero that changes nothing."""
    _, ref_mel, text, _ = inputs(n=24, nt=20, seed=9)
    kw = dict(steps=4, seed=11, ref_motion=torch.randn(1, 24, 61))
    full = ours.sample(ref_mel, text, 50, **kw)
    fast = ours.sample(ref_mel, text, 50, audio_only=True, **kw)
    assert torch.equal(full.mel, fast.mel) or (full.mel - fast.mel).abs().max() <= ATOL


def test_converted_file_matches_f5(tmp_path, f5_dit):
    """A fake F5-TTS release file (EMA + online weights) through `convert f5`, then load_bundle."""
    online = randomize(f5_model.DiT(**TINY_F5), seed=99)  # must NOT be picked: EMA weights are the release
    raw = {f"ema_model.transformer.{k}": v for k, v in f5_dit.state_dict().items()}
    raw |= {f"model.transformer.{k}": v for k, v in online.state_dict().items()}
    raw |= {"ema_model.initted": torch.tensor(True), "ema_model.step": torch.tensor(1250000)}
    ckpt = tmp_path / "model_1250000.safetensors"
    save_file({k: v.contiguous() for k, v in raw.items()}, str(ckpt))
    vocab = tmp_path / "vocab.txt"
    vocab.write_text(
        "\n".join([" "] + [chr(ord("a") + i) for i in range(26)] + list(".,!?'-0123456")) + "\n", encoding="utf-8"
    )
    out = tmp_path / "converted.safetensors"
    argv = ["convert", "f5", "--checkpoint", str(ckpt), "--vocab", str(vocab), "--out", str(out), "--dim-head", "32"]
    assert cli([*argv, "--extra-blocks", "2"]) == 0
    assert cli([*argv, "--extra-blocks", "2"]) == 1  # refuses to overwrite
    bundle = load_bundle(out)
    cfg = bundle.flow.model_cfg
    assert (cfg.depth, cfg.fusion_depth, cfg.motion_depth, cfg.heads) == (5, 3, 5, 2)
    assert bundle.info["converted_from"] == "f5-tts" and bundle.tokenizer.vocab[1] == "a"

    _, ref_mel, text, _ = inputs(n=20, nt=24, seed=13)
    duration, seed = 48, 17
    expected = f5_sample(f5_dit, ref_mel, text, duration, 5, True, seed)
    got = bundle.flow.sample(
        ref_mel, text, duration, steps=5, noise=(f5_noise(duration, seed), torch.randn(1, duration, 61))
    ).mel
    err = (got - expected).abs().max().item()
    assert err <= ATOL, f"max abs err {err:.3g} through the converted file"


def test_convert_rejects_bad_inputs(tmp_path, f5_dit):
    out = tmp_path / "x.safetensors"
    not_f5 = tmp_path / "other.safetensors"
    save_file({"encoder.weight": torch.zeros(2, 2)}, str(not_f5))
    assert cli(["convert", "f5", "--checkpoint", str(not_f5), "--out", str(out)]) == 1
    garbage = tmp_path / "model.safetensors"
    garbage.write_bytes(b"\x00garbage" * 50)
    assert cli(["convert", "f5", "--checkpoint", str(garbage), "--out", str(out)]) == 1
    good = tmp_path / "f5.safetensors"
    save_file({f"ema_model.transformer.{k}": v.contiguous() for k, v in f5_dit.state_dict().items()}, str(good))
    # the default vocab (2545 entries) does not fit a 40-token embedding
    assert cli(["convert", "f5", "--checkpoint", str(good), "--out", str(out), "--dim-head", "32"]) == 1
    assert not out.exists()


def test_log_mel_matches_f5():
    from omnitalker_core.audio import log_mel

    g = torch.Generator().manual_seed(0)
    t = torch.arange(24000) / 24000
    wave = 0.3 * torch.sin(2 * torch.pi * 220 * t) + 0.05 * torch.randn(24000, generator=g)
    wave[6000:12000] = 0  # silence: the log clamp matters here
    ref = f5_model.modules.MelSpec(mel_spec_type="vocos")(wave[None])
    got = log_mel(wave[None])
    assert got.shape == ref.shape == (1, 100, 24000 // 256 + 1)
    err = (got - ref).abs().max().item()
    assert err <= ATOL, f"max abs err {err:.3g}"


def test_bench_model_runs_and_matches_f5(capsys):
    """`bench model` on a tiny problem: JSON with per-branch params, timings, and parity with f5-tts."""
    import json

    argv = ["bench", "model", "--config", "tiny", "--steps", "2", "--repeats", "1", "--ref-seconds", "0.3"]
    assert cli([*argv, "--target-seconds", "0.5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    p = result["params"]
    assert p["total"] == p["text_embed"] + p["audio_branch"] + p["motion_branch"] + p["fusion_gates"]
    assert result["max_abs_diff_vs_f5"] <= ATOL and result["voice_vs_voice_motion_max_abs_diff"] <= ATOL
    for run in ("ours_voice", "ours_voice_motion", "f5"):
        assert result[run]["seconds_per_step"] > 0 and "rtf_16_steps" in result[run]
    assert cli(["bench", "nonexistent"]) == 2
