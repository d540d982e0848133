"""Nearest-centroid speaker identification, used by both the voice and the motion-style tests.

A speaker's centroid is the mean feature of some of their corpus utterances. A probe (generated or
ground-truth) is assigned to the closest centroid; the test passes when that is the intended
speaker. With cosine similarity this is the usual d-vector test; for motion statistics the features
are first scaled by their pooled within-speaker spread (a diagonal Mahalanobis distance), so a
statistic that varies a lot from sentence to sentence counts less than one a speaker keeps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Centroids:
    speakers: list[str]
    means: np.ndarray  # [s, d]
    scale: np.ndarray  # [d] divisor applied to features before distances (ones for cosine)
    metric: str  # "cosine" | "euclidean"

    def _prep(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=np.float64)) / self.scale
        if x.shape[1] != self.means.shape[1]:
            raise ValueError(f"features have {x.shape[1]} dimensions, centroids {self.means.shape[1]}")
        return x

    def scores(self, x: np.ndarray) -> np.ndarray:
        """[p, s] similarity of each probe to each speaker (higher = closer)."""
        x, m = self._prep(x), self.means / self.scale
        if self.metric == "cosine":
            xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
            mn = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
            return xn @ mn.T
        return -np.linalg.norm(x[:, None, :] - m[None], axis=-1)

    def nearest(self, x: np.ndarray) -> list[str]:
        return [self.speakers[i] for i in np.argmax(self.scores(x), axis=1)]


def build_centroids(
    features: Mapping[str, Sequence[np.ndarray]], metric: str = "cosine", within_scale: bool = False
) -> Centroids:
    """Centroids from {speaker: [feature vectors]}. `within_scale`: divide every dimension by the
    pooled within-speaker standard deviation (needs >= 2 vectors for some speaker)."""
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    if len(features) < 2:
        raise ValueError(f"nearest-speaker needs at least 2 speakers, got {len(features)}")
    speakers = sorted(features)
    arrays = []
    for s in speakers:
        a = np.atleast_2d(np.asarray(features[s], dtype=np.float64))
        if a.size == 0:
            raise ValueError(f"speaker {s!r} has no feature vectors")
        arrays.append(a)
    dims = {a.shape[1] for a in arrays}
    if len(dims) != 1:
        raise ValueError(f"feature vectors differ in length across speakers: {sorted(dims)}")
    means = np.stack([a.mean(axis=0) for a in arrays])
    scale = np.ones(means.shape[1])
    if within_scale:
        resid = np.concatenate([a - a.mean(axis=0) for a in arrays if len(a) > 1] or [np.zeros((0, means.shape[1]))])
        if len(resid) == 0:
            raise ValueError("within-speaker scaling needs at least 2 utterances of some speaker")
        std = np.sqrt((resid**2).mean(axis=0))
        floor = max(float(np.median(std[std > 0])) * 1e-2, 1e-9) if (std > 0).any() else 1.0
        scale = np.maximum(std, floor)
    return Centroids(speakers, means, scale, metric)


def nearest_accuracy(centroids: Centroids, probes: np.ndarray, intended: Sequence[str]) -> float:
    """Fraction of probes whose nearest centroid is the intended speaker."""
    probes = np.atleast_2d(np.asarray(probes, dtype=np.float64))
    if len(probes) != len(intended):
        raise ValueError(f"{len(probes)} probes but {len(intended)} intended speakers")
    if len(probes) == 0:
        raise ValueError("no probes to classify")
    unknown = sorted(set(intended) - set(centroids.speakers))
    if unknown:
        raise ValueError(f"intended speakers without a centroid: {unknown}")
    got = centroids.nearest(probes)
    return float(np.mean([g == t for g, t in zip(got, intended)]))
