"""Fréchet distance between two sets of per-frame codes (Gaussian fit of each set):
d² = |mu_a - mu_b|² + tr(C_a + C_b - 2 (C_a C_b)^½).

The paper's E-FID and P-FID apply it to expression and head-pose codes: how far the generated
motion's distribution is from the reference person's. Here E-FID uses the 51 blendshapes and
P-FID the 6 pose channels of the 61-D code, frames at 25 fps.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from .. import motion as motion_code


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between the Gaussians fitted to the rows of `a` [n, d] and `b` [m, d]."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need two [frames, dims] arrays of equal width, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"each set needs at least 2 frames for a covariance, got {len(a)} and {len(b)}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("codes contain NaN or infinite values")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    ca, cb = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():  # covariances of a few frames are singular; the eps retry handles it
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(ca @ cb)
        if not np.isfinite(covmean).all():
            offset = np.eye(ca.shape[0]) * eps
            covmean = linalg.sqrtm((ca + offset) @ (cb + offset))
    covmean = np.real(covmean)
    d2 = float(((mu_a - mu_b) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2.0 * np.trace(covmean))
    return max(d2, 0.0)


def expression_fid(generated: np.ndarray, reference: np.ndarray) -> float:
    """E-FID on the 51 blendshape channels of [frames, 61] codes."""
    return frechet_distance(
        _codes(generated)[:, motion_code.BLENDSHAPES], _codes(reference)[:, motion_code.BLENDSHAPES]
    )


def pose_fid(generated: np.ndarray, reference: np.ndarray) -> float:
    """P-FID on the 6 head-pose channels (rotation + translation) of [frames, 61] codes."""
    return frechet_distance(_codes(generated)[:, motion_code.POSE], _codes(reference)[:, motion_code.POSE])


def _codes(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != motion_code.MOTION_DIM:
        raise ValueError(f"motion codes must be [frames, {motion_code.MOTION_DIM}], got {x.shape}")
    return x
