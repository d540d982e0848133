"""Generated motion starts where the reference leaves off: no grimace in the first frames (issue 11).

The cause was the motion normalisation: channels the training corpus never moved have a floor std, so a
real face's small value there became a z-score in the hundreds in the reference condition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnitalker_core import checkpoints, pipeline
from omnitalker_core import motion as motion_code
from omnitalker_core.model.flow import MIN_MOTION_STD, REF_Z_MAX
from omnitalker_core.style import capture_style
from omnitalker_core.video import read_video

TEXT = "Hello! I was made from a single short video. Now I can say anything you type."


def test_reference_condition_ignores_unseen_channels_and_clips_extremes():
    bundle = checkpoints.load_bundle()
    flow = bundle.flow
    mean, std = flow.motion_mean.clone(), flow.motion_std.clone()
    dead = int(torch.nonzero(std <= 1.5 * MIN_MOTION_STD)[0])
    live = int(torch.argmax(std))
    ref = mean.repeat(3, 1)
    ref[:, dead] += 0.12  # a real face's jawLeft: 120 training stds away
    ref[0, live] = mean[live] + 10 * std[live]
    ref[1, live] = mean[live] - 10 * std[live]
    ref[2, live] = mean[live] + 0.5 * std[live]
    z = flow.reference_motion_condition(ref)
    assert torch.all(z[:, dead] == 0)
    assert z[:, live].tolist() == pytest.approx([REF_Z_MAX, -REF_Z_MAX, 0.5], abs=1e-4)


@pytest.fixture(scope="module")
def bundled_style():
    frames, fps, wave, rate = read_video(checkpoints.REFERENCE_CLIP)
    transcript = checkpoints.REFERENCE_TRANSCRIPT.read_text(encoding="utf-8").strip()
    return capture_style(torch.from_numpy(wave), rate, frames=frames, fps=fps, transcript=transcript)


@pytest.mark.parametrize("seed", [0, 1, 202])
def test_first_frames_are_no_further_apart_than_the_rest_of_the_clip(bundled_style, seed):
    bundle = checkpoints.load_bundle()
    gen = pipeline.generate(bundle, bundled_style, TEXT, seed=seed, steps=8)  # default guidance
    codes = gen.motion.numpy()
    jumps = np.abs(np.diff(codes, axis=0)).max(axis=1)  # largest per-channel change between frames
    p99 = np.percentile(jumps[10:], 99)
    assert jumps[:10].max() <= p99, f"first-frame jumps {jumps[:10].round(3)} vs p99 {p99:.3f} of the rest"
    face = [motion_code.BLENDSHAPE_NAMES.index(n) for n in ("jawOpen", "mouthFunnel", "browInnerUp")]
    assert codes[:3, face].max() < 0.6, f"saturated opening frames: {codes[:3, face].round(2)}"
