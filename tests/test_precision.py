"""Reduced precision and the sampler's speed options: what changes and what must not.

bfloat16 runs only the network; positions, flow time, ODE state and motion statistics stay float32, so a
bf16 sample tracks the float32 one. Guidance stopped early (`cfg_stop`) is exactly unguided sampling on
the late steps."""

from __future__ import annotations

import pytest
import torch
from test_model import sample, tiny_flow

from omnitalker_core import precision
from omnitalker_core.model.modules import RotaryEmbedding


def test_rotary_phases_stay_float32_in_a_bfloat16_model():
    rope = RotaryEmbedding(64)
    exact = rope(1500)
    rope.to(torch.bfloat16)
    again = rope(1500)
    assert again.dtype == torch.float32
    # in bfloat16 position 1,001 would round to 1,000 and its fastest phase move by a radian
    torch.testing.assert_close(again, exact, rtol=0, atol=0)


def test_bfloat16_network_keeps_float32_state_and_tracks_float32():
    flow = tiny_flow()
    ref = sample(flow, 3)
    flow.transformer.to(torch.bfloat16)
    low = sample(flow, 3)
    assert flow.dtype == torch.bfloat16 and flow.motion_mean.dtype == torch.float32
    assert low.mel.dtype == torch.float32 and low.motion.dtype == torch.float32
    # the reference part is copied, not recomputed: bit-identical whatever the precision
    assert torch.equal(low.mel[:, :15], ref.mel[:, :15])
    gen, ref_gen = low.mel[:, 15:], ref.mel[:, 15:]
    rel = ((gen - ref_gen).norm() / ref_gen.norm()).item()
    assert 0 < rel < 0.05, rel  # rounding shows, but small (bf16 keeps 8 bits of mantissa)


def test_cfg_stop_zero_is_unguided_and_one_is_fully_guided():
    flow = tiny_flow()
    unguided = sample(flow, 4, cfg_audio=0.0, cfg_motion=0.0)
    stopped = sample(flow, 4, cfg_stop=0.0)
    torch.testing.assert_close(stopped.mel, unguided.mel, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(stopped.motion, unguided.motion, rtol=1e-4, atol=1e-4)
    guided, full = sample(flow, 4), sample(flow, 4, cfg_stop=1.0)
    assert torch.equal(guided.mel, full.mel)
    half = sample(flow, 4, cfg_stop=0.5)  # guided early, free late: neither of the two
    assert not torch.allclose(half.mel, guided.mel, atol=1e-3) and not torch.allclose(half.mel, unguided.mel, atol=1e-3)


@pytest.mark.parametrize("amx", [True, False])
def test_auto_precision_is_bfloat16_only_where_the_cpu_runs_it_fast(monkeypatch, amx):
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: amx)
    assert precision.resolve_dtype("auto", "cpu") == (torch.bfloat16 if amx else torch.float32)
    assert precision.resolve_dtype("float32", "cpu") == torch.float32  # an explicit choice wins
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        precision.resolve_dtype("fp8", "cpu")


def test_bundle_loads_in_bfloat16_with_float32_motion_stats():
    from omnitalker_core.checkpoints import DEMO_CHECKPOINT, load_bundle

    bundle = load_bundle(DEMO_CHECKPOINT, dtype=torch.bfloat16)
    assert bundle.flow.dtype == torch.bfloat16
    assert bundle.flow.motion_std.dtype == torch.float32 and bundle.flow.motion_std.min() > 0
