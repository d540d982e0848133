"""What the bundled model generates from the bundled reference moves as a face does, in the code's signs.

First frames (issue 11): generated motion starts where the reference leaves off, no grimace. The cause was
the motion normalisation: channels the training corpus never moved have a floor std, so a real face's small
value there became a z-score in the hundreds in the reference condition.

Signs: the demo model once learnt from a corpus that wrote head pitch and the eyeLook lids mirrored (corpus
version 1): its lids rose when its eyes looked down and its nods lifted the chin."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import skew

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


SEEDS = (0, 1, 202)


@pytest.fixture(scope="module")
def generated(bundled_style) -> dict[int, np.ndarray]:
    """Motion codes [frames, 61] the bundled model makes for TEXT, per seed (8 steps, default guidance)."""
    bundle = checkpoints.load_bundle()
    return {s: pipeline.generate(bundle, bundled_style, TEXT, seed=s, steps=8).motion.numpy() for s in SEEDS}


@pytest.mark.parametrize("seed", SEEDS)
def test_first_frames_are_no_further_apart_than_the_rest_of_the_clip(generated, seed):
    codes = generated[seed]
    jumps = np.abs(np.diff(codes, axis=0)).max(axis=1)  # largest per-channel change between frames
    p99 = np.percentile(jumps[10:], 99)
    assert jumps[:10].max() <= p99, f"first-frame jumps {jumps[:10].round(3)} vs p99 {p99:.3f} of the rest"
    face = [motion_code.BLENDSHAPE_NAMES.index(n) for n in ("jawOpen", "mouthFunnel", "browInnerUp")]
    assert codes[:3, face].max() < 0.6, f"saturated opening frames: {codes[:3, face].round(2)}"


def test_generated_lids_follow_the_eyes_and_nods_dip_the_chin(generated):
    """eyeLook* as `look_from_gaze` implies from the generated gaze, and head pitch skewed towards dips
    (pitch > 0 = chin down), as the corpus's accents on stressed syllables are (its utterances: skew +0.7
    median). Measured here: the demo model trained on corpus version 1 did both the other way (r -0.19 to
    -0.26, skew -0.68 to -1.02); retrained on version 2, r +0.57 to +0.89, skew +1.14 to +1.32. The bundled
    reference's tracked pitch is skewed the other way (-1.11), so this is what the model learnt, not what it
    copies."""
    for seed, codes in generated.items():
        look = codes[:, list(motion_code.EYE_LOOK)]
        implied = motion_code.look_from_gaze(codes[:, motion_code.GAZE])
        r = np.corrcoef((look - look.mean(0)).ravel(), (implied - implied.mean(0)).ravel())[0, 1]
        assert r > 0.25, f"seed {seed}: eyeLook* against the gaze's implied weights r = {r:.2f}"
        pitch = codes[:, motion_code.CHANNEL["headPitch"]].astype(np.float64)
        assert skew(pitch) > 0.3, f"seed {seed}: head pitch skew {skew(pitch):.2f}: nods lift the chin"
