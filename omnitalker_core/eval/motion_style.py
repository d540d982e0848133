"""Motion statistics of one utterance, for telling speakers apart by how they move.

What a speaker keeps from sentence to sentence is not the mouth shapes (those follow the text)
but the manner: resting expression (smile, brows, squint), blink rate, how much and how fast the
head moves, where the gaze rests and how much it wanders. The feature vector collects, on 25 fps
codes [frames, 61]:
- mean and standard deviation of every blendshape (102),
- mean and standard deviation of the head pose (12) and the mean absolute pose velocity (6),
- mean and standard deviation of the gaze (8) and its mean absolute velocity (4),
- blink rate (blinks per second: rising crossings of the mean eyeBlink through `BLINK_THRESHOLD`).
"""

from __future__ import annotations

import numpy as np

from .. import motion as motion_code

BLINK_THRESHOLD = 0.5
MIN_FRAMES = 5
_BLINKS = [motion_code.CHANNEL["eyeBlinkLeft"], motion_code.CHANNEL["eyeBlinkRight"]]


def blink_rate(codes: np.ndarray, fps: float = motion_code.VIDEO_FPS, threshold: float = BLINK_THRESHOLD) -> float:
    """Blinks per second: frames where the mean eyeBlink rises through `threshold`."""
    codes = _check(codes)
    closed = codes[:, _BLINKS].mean(axis=1) >= threshold
    onsets = int(np.count_nonzero(closed[1:] & ~closed[:-1])) + int(closed[0])
    return onsets / (len(codes) / fps)


def motion_statistics(codes: np.ndarray, fps: float = motion_code.VIDEO_FPS) -> np.ndarray:
    """[frames, 61] codes at `fps` -> feature vector (see the module docstring for the layout)."""
    codes = _check(codes)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    bs, pose, gaze = codes[:, motion_code.BLENDSHAPES], codes[:, motion_code.POSE], codes[:, motion_code.GAZE]
    return np.concatenate([
        bs.mean(axis=0), bs.std(axis=0),
        pose.mean(axis=0), pose.std(axis=0), np.abs(np.diff(pose, axis=0)).mean(axis=0) * fps,
        gaze.mean(axis=0), gaze.std(axis=0), np.abs(np.diff(gaze, axis=0)).mean(axis=0) * fps,
        [blink_rate(codes, fps)],
    ])  # fmt: skip


def feature_names() -> list[str]:
    """Names of the `motion_statistics` entries, in order (for reports)."""
    bs, pose, gaze = motion_code.BLENDSHAPE_NAMES, motion_code.POSE_NAMES, motion_code.GAZE_NAMES
    return (
        [f"{n}.mean" for n in bs] + [f"{n}.std" for n in bs]
        + [f"{n}.mean" for n in pose] + [f"{n}.std" for n in pose] + [f"{n}.speed" for n in pose]
        + [f"{n}.mean" for n in gaze] + [f"{n}.std" for n in gaze] + [f"{n}.speed" for n in gaze]
        + ["blink_rate"]
    )  # fmt: skip


def _check(codes: np.ndarray) -> np.ndarray:
    x = np.asarray(codes, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != motion_code.MOTION_DIM:
        raise ValueError(f"motion codes must be [frames, {motion_code.MOTION_DIM}], got {x.shape}")
    if len(x) < MIN_FRAMES:
        raise ValueError(f"motion statistics need at least {MIN_FRAMES} frames, got {len(x)}")
    if not np.isfinite(x).all():
        raise ValueError("motion codes contain NaN or infinite values")
    return x
