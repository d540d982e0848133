"""The dual-branch generator on the `tiny` config: training signal, sampler determinism and shapes,
the audio/visual gate contract, and the sampling fast path against the reference `forward`."""

from __future__ import annotations

import pytest
import torch

from omnitalker_core import motion as motion_code
from omnitalker_core.checkpoints import OmniTalkerBundle
from omnitalker_core.model.config import named_config
from omnitalker_core.model.dit import Conditions
from omnitalker_core.model.flow import FlowMatching, time_grid
from omnitalker_core.pipeline import generate, video_frames_for
from omnitalker_core.style import Style
from omnitalker_core.text.tokenizer import CharTokenizer

VOCAB = [" "] + list("abcdefghijklmnopqrstuvwxyz.,'?!")


def tiny_flow(seed: int = 0, randomize: bool = True, **overrides) -> FlowMatching:
    torch.manual_seed(seed)
    flow = FlowMatching(named_config("tiny", dropout=0.0, **overrides))
    if randomize:  # AdaLN-zero init makes every block the identity: draw everything so all of it counts
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for name, p in flow.transformer.named_parameters():
                if "fusion" not in name:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return flow.eval()


def batch(b: int = 2, n: int = 40, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    mel = torch.randn(b, n, 100, generator=g)
    motion = torch.rand(b, n, motion_code.MOTION_DIM, generator=g)
    text = torch.randint(0, 60, (b, 20), generator=g)
    lens = torch.tensor([n, n - 7])[:b]
    return mel, motion, text, lens


def test_overfits_one_batch():
    flow = tiny_flow(randomize=False).train()
    opt = torch.optim.AdamW(flow.parameters(), lr=3e-3)
    mel, motion, text, lens = batch()
    losses = []
    for _ in range(30):
        torch.manual_seed(123)  # same t, noise, span and condition drops every step: one fixed objective
        loss = flow(mel, motion, text, lens).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], f"loss {losses[0]:.3f} -> {losses[-1]:.3f}"
    out = flow(mel, motion, text, lens)
    assert set(out.parts) == {"mel", "expression", "pose", "gaze"}


def sample(flow: FlowMatching, seed: int | None, **kw):
    g = torch.Generator().manual_seed(5)
    ref_mel = torch.randn(1, 15, 100, generator=g)
    ref_motion = torch.rand(1, 15, motion_code.MOTION_DIM, generator=g)
    text = torch.randint(0, 60, (1, 12), generator=g)
    return flow.sample(ref_mel, text, 36, ref_motion=ref_motion, steps=4, seed=seed, **kw)


def test_seed_is_bit_identical_and_different_seeds_differ():
    flow = tiny_flow()
    a, b, c = sample(flow, 7), sample(flow, 7), sample(flow, 8)
    assert torch.equal(a.mel, b.mel) and torch.equal(a.motion, b.motion)
    assert (a.mel - c.mel).abs().max() > 1e-3 and (a.motion - c.motion).abs().max() > 1e-3
    assert a.mel.shape == (1, 36, 100) and a.motion.shape == (1, 36, motion_code.MOTION_DIM)


def test_sampler_keeps_the_reference_and_validates():
    flow = tiny_flow()
    out = sample(flow, 1)
    g = torch.Generator().manual_seed(5)
    ref_mel = torch.randn(1, 15, 100, generator=g)
    assert torch.equal(out.mel[:, :15], ref_mel)
    with pytest.raises(ValueError, match="must exceed the reference"):
        flow.sample(ref_mel, torch.zeros(1, 3, dtype=torch.long), 15)
    with pytest.raises(ValueError, match="steps"):
        time_grid(0, None, False)


def reference_sample(flow: FlowMatching, ref_mel, ref_motion, text, duration, steps, cfg_a, cfg_m, noise):
    """The sampler written naively on `forward` (the training computation): the fast path must match it."""
    b, n_ref, _ = ref_mel.shape
    keep = (torch.arange(duration) < n_ref)[None, :, None]
    cond_a = torch.nn.functional.pad(ref_mel, (0, 0, 0, duration - n_ref)) * keep
    cond_m = torch.nn.functional.pad(flow.normalize_motion(ref_motion), (0, 0, 0, duration - n_ref)) * keep
    flags = torch.tensor([False, True])
    conds = Conditions(flags, flags, flags)
    x_a, x_m = noise
    t = time_grid(steps, -1.0, True)
    with torch.no_grad():
        for i in range(steps):
            pa, pm = flow.transformer(
                torch.cat((x_a, x_a)), torch.cat((cond_a, cond_a)), torch.cat((x_m, x_m)), torch.cat((cond_m, cond_m)),
                torch.cat((text, text)), t[i].repeat(2), conds,
            )  # fmt: skip
            (pa, na), (pm, nm) = pa.chunk(2), pm.chunk(2)
            x_a = x_a + (t[i + 1] - t[i]) * (pa + (pa - na) * cfg_a)
            x_m = x_m + (t[i + 1] - t[i]) * (pm + (pm - nm) * cfg_m)
    return torch.where(keep, cond_a, x_a), flow.denormalize_motion(torch.where(keep, cond_m, x_m))


@pytest.mark.parametrize("gates", [(0.0, 1.0), (0.3, 0.6), (0.0, 0.0)])
def test_fast_sampler_matches_forward(gates):
    flow = tiny_flow(seed=3)
    with torch.no_grad():
        for gate in flow.transformer.fusion:
            gate.audio.fill_(gates[0])
            gate.motion.fill_(gates[1])
    g = torch.Generator().manual_seed(9)
    ref_mel, ref_motion = torch.randn(1, 12, 100, generator=g), torch.rand(1, 12, motion_code.MOTION_DIM, generator=g)
    text = torch.randint(0, 60, (1, 10), generator=g)
    noise = (torch.randn(1, 30, 100, generator=g), torch.randn(1, 30, motion_code.MOTION_DIM, generator=g))
    mel, motion = reference_sample(flow, ref_mel, ref_motion, text, 30, 4, 2.0, 2.5, noise)
    out = flow.sample(ref_mel, text, 30, ref_motion=ref_motion, steps=4, cfg_audio=2.0, cfg_motion=2.5, noise=noise)
    err_a, err_m = (out.mel - mel).abs().max().item(), (out.motion - motion).abs().max().item()
    assert err_a <= 1e-5 and err_m <= 1e-5, f"mel err {err_a:.3g}, motion err {err_m:.3g}"
    voice = flow.sample(ref_mel, text, 30, ref_motion=ref_motion, steps=4, cfg_audio=2.0, noise=noise, audio_only=True)
    if gates[0] == 0.0:  # the visual branch is skipped; the audio branch computes the same (up to float rounding)
        assert voice.motion is None and (voice.mel - out.mel).abs().max() <= 1e-5
    else:  # audio depends on motion: audio_only must not skip it
        assert voice.motion is not None and (voice.mel - out.mel).abs().max() <= 1e-5


def forward_audio(flow, motion, motion_cond):
    g = torch.Generator().manual_seed(4)
    mel, mel_cond = torch.randn(1, 30, 100, generator=g), torch.randn(1, 30, 100, generator=g)
    text = torch.randint(0, 60, (1, 10), generator=g)
    with torch.no_grad():
        return flow.transformer(
            mel, mel_cond, motion, motion_cond, text, torch.tensor([0.4]), Conditions.keep_all(1, "cpu")
        )


def test_audio_ignores_motion_only_while_audio_gates_are_zero():
    flow = tiny_flow(seed=2)
    m1, m2 = torch.randn(1, 30, 61), torch.randn(1, 30, 61) * 3
    a1, v1 = forward_audio(flow, m1, m1)
    a2, v2 = forward_audio(flow, m2, m2.flip(1))
    assert torch.equal(a1, a2), "audio gates are zero: audio output must not see motion"
    assert (v1 - v2).abs().max() > 1e-3
    with torch.no_grad():
        flow.transformer.fusion[0].audio[0] = 0.5
    b1, _ = forward_audio(flow, m1, m1)
    b2, _ = forward_audio(flow, m2, m2.flip(1))
    assert (b1 - b2).abs().max() > 1e-4, "an open audio gate must let motion into audio"


def test_motion_sees_audio_through_fusion():
    flow = tiny_flow(seed=2)
    m = torch.randn(1, 30, 61)
    g = torch.Generator().manual_seed(4)
    text = torch.randint(0, 60, (1, 10), generator=g)
    outs = []
    for s in (1, 2):
        mel = torch.randn(1, 30, 100, generator=torch.Generator().manual_seed(s))
        with torch.no_grad():
            outs.append(flow.transformer(mel, mel, m, m, text, torch.tensor([0.4]), Conditions.keep_all(1, "cpu"))[1])
    assert (outs[0] - outs[1]).abs().max() > 1e-4


def synthetic_style(frames: int = 47, with_motion: bool = True) -> Style:
    g = torch.Generator().manual_seed(0)
    return Style(
        ref_mel=torch.randn(frames, 100, generator=g) - 4,
        ref_motion=torch.rand(frames, motion_code.MOTION_DIM, generator=g) * 0.3 if with_motion else None,
        transcript="a short reference.",
        portrait=None,
        ref_audio=torch.zeros(frames * 256),
    )


@pytest.mark.parametrize("with_motion", [True, False])
def test_pipeline_generate_shapes(with_motion):
    flow = tiny_flow(seed=4, text_num_embeds=len(VOCAB))
    bundle = OmniTalkerBundle(flow=flow, tokenizer=CharTokenizer(VOCAB))
    steps_seen = []
    gen = generate(bundle, synthetic_style(with_motion=with_motion), "hello there, how are you?", steps=3,
                   callback=lambda i, n: steps_seen.append((i, n)))  # fmt: skip
    inp = bundle.tokenizer.build("a short reference.", "hello there, how are you?", 47)
    n_target = inp.duration - 47
    assert gen.mel.shape == (n_target, 100)
    assert gen.motion.shape == (video_frames_for(n_target), motion_code.MOTION_DIM)
    assert gen.motion.shape[0] == round(n_target * 256 / 24000 * 25)  # 25 fps
    assert torch.isfinite(gen.mel).all() and torch.isfinite(gen.motion).all()
    assert steps_seen[-1] == (3, 3)
    with pytest.raises(ValueError, match="text"):
        generate(bundle, synthetic_style(), "   ")
