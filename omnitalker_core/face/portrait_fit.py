"""The portrait's face, fitted once, and that fitted face re-posed for each frame's code.

Why a module of its own: every part of the geometric renderer (the warp, the lids, the mouth)
needs the same thing from the portrait, where each landmark of its face goes under a code, and
it must be computed one way only so the painted parts stay glued to the warped photograph. The
tracker's rig fit gives the portrait's mesh in the head frame (its identity and expression) and
its pose; a frame's points are that mesh + the rig's blendshape deltas (code minus the
portrait's own code) + the gaze change, posed with the pose change and projected orthographically.

Shape legend: f - frames, n - points.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from .. import motion
from . import canonical as C
from .rig import FaceRig, euler_to_matrix, eyeball_centres
from .tracker import FaceFit, RigFitter

log = logging.getLogger(__name__)


def as_codes(codes: np.ndarray | torch.Tensor) -> np.ndarray:
    """Codes as float32 [f, 61] (ValueError on any other shape)."""
    c = codes.detach().cpu().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes)
    c = c.astype(np.float32)
    if c.ndim != 2 or c.shape[1] != motion.MOTION_DIM:
        raise ValueError(f"codes must be [frames, {motion.MOTION_DIM}], got shape {c.shape}")
    return c


ROUNDING = [motion.CHANNEL["mouthFunnel"], motion.CHANNEL["mouthPucker"]]
MAX_ROUNDING = 1.0  # funnel + pucker, as the mouth painter's rounding
# where the gaze turns an iris: this far in front of the eyeball's centre (inter-ocular units; the rig's own
# irises sit at C.EYEBALL_RADIUS), at most, and at least
IRIS_DEPTH_RANGE = (0.6 * C.EYEBALL_RADIUS, 1.5 * C.EYEBALL_RADIUS)


def ahead(w: np.ndarray) -> np.ndarray:
    """A weight 0..1 drawn ahead of itself: 0 at 0, 1 at 1, twice as steep at the start."""
    return 1.0 - (1.0 - w) ** 2


def limit_rounding(d: np.ndarray) -> np.ndarray:
    """Code offsets [f, 61] with funnel + pucker scaled down to a sum of at most MAX_ROUNDING: each
    narrows the mouth by itself, and added at full strength they pull the lip corners into a slit (the
    rig's shapes are linear; a real mouth cannot round past an O)."""
    r = d[:, ROUNDING].clip(min=0).sum(1)
    if (r <= MAX_ROUNDING).all():
        return d
    d = d.copy()
    d[:, ROUNDING] *= np.minimum(1.0, MAX_ROUNDING / np.maximum(r, 1e-9))[:, None]
    return d


def fit_portrait(portrait: np.ndarray) -> tuple[np.ndarray, FaceFit]:
    """Landmarks [478, 3] and rig fit of the face in a portrait [h, w, 3] uint8."""
    from .landmarks import FaceLandmarker

    pts = FaceLandmarker()(portrait, "the portrait")
    if pts is None:
        raise ValueError(
            f"no face found in the portrait ({portrait.shape[1]}x{portrait.shape[0]}): use a photo with one clearly visible face"
        )
    return pts, RigFitter().fit(pts[None])


class FittedFace:
    """The portrait's face: its mesh in the head frame and its pose, re-posed per code.

    landmarks: the portrait's own [478, 3] (image pixels); fit: the rig fit of those landmarks."""

    def __init__(self, landmarks: np.ndarray, fit: FaceFit, rig: FaceRig):
        self.landmarks = landmarks
        self.fit = fit
        self.rig = rig
        self.head = fit.head_points[0].astype(np.float64)  # [478, 3] the portrait's own mesh, head frame
        self.s0 = float(fit.pose.scale[0])
        self.r0 = fit.pose.rotation[0]
        self.t0 = fit.pose.translation[0]
        self.balls = eyeball_centres(fit.neutral.astype(np.float64))  # right, left
        self.iris_depth = self._iris_depth()
        # renderer-side corrective fields on top of the rig: code channel -> displacement [478, 3]
        # per unit of that channel's change (e.g. the mouth's lip rounding, `mouth.rounding_fields`).
        # Each field takes its shape to a target at weight 1, so together they are capped there: where
        # their weights add up past 1 they are scaled down to sum to 1 (two targets do not stack).
        self.correctives: dict[int, np.ndarray] = {}
        # code channel -> the vertical part [478, 3] of its corrective, drawn ahead of its weight w (at
        # `ahead(w)`): a pucker shuts parted lips before it has rounded them (`mouth.SHUT_AHEAD`)
        self.shut_ahead: dict[int, np.ndarray] = {}
        # displacement [478, 3] per unit of min(mouthClose, jawOpen) change: lips shut over an open jaw
        # (`mouth.seal_field`); None: the rig alone
        self.seal: np.ndarray | None = None
        # how far mouthClose may run past jawOpen before the lips meet (`mouth.close_room`); None: no limit
        self.close_room: float | None = None
        # displacement [478, 3] per unit of mouthClose on top of the rig's, for lips parted wider than it closes
        # (`mouth.close_field`); None: the rig alone
        self.close_extra: np.ndarray | None = None

    def _iris_depth(self) -> float:
        """How far in front of its eyeball's centre the gaze turns each iris: the same for both, the face's
        mean. The landmark model's depth of one iris is noise (the speaking Obama's: 0.003 and 0.445
        inter-ocular units in front of the eyeball, so one eye barely turned and the other turned 2.3 times
        the eyeball's radius); their mean keeps the face's gaze at its size (within IRIS_DEPTH_RANGE)."""
        depth = np.mean([self.balls[1][2] - self.head[473, 2], self.balls[0][2] - self.head[468, 2]])
        return float(np.clip(depth, *IRIS_DEPTH_RANGE))

    def drawn(self, d: np.ndarray) -> np.ndarray:
        """Code deltas [f, 61] as the face can draw them: funnel + pucker round the lips no further than one O
        (`limit_rounding`), and closed lips close no further (mouthClose past jawOpen only up to `close_room`:
        past it the rig would push the lower lip through the upper one, and the warp folded along the lip line,
        a jagged seam on every /p b m/ of a closed mouth)."""
        d = limit_rounding(d)
        if self.close_room is not None:
            k_close, k_jaw = motion.CHANNEL["mouthClose"], motion.CHANNEL["jawOpen"]
            most = np.maximum(d[:, k_jaw], 0) + self.close_room
            if (d[:, k_close] > most).any():
                d = d.copy()
                d[:, k_close] = np.minimum(d[:, k_close], most)
        return d

    def _deform(self, d: np.ndarray, idx: list[int] | slice = slice(None)) -> np.ndarray:
        """The portrait's head-frame points [f, n, 3] (n = idx) deformed by code deltas d [f, 61]."""
        head = self.head[None, idx] + np.einsum("fk,knd->fnd", d[:, motion.BLENDSHAPES], self.rig.basis[:, idx])
        if self.close_extra is not None:
            head = head + d[:, motion.CHANNEL["mouthClose"], None, None] * self.close_extra[None, idx]
        if self.correctives:
            chans = list(self.correctives)
            total = np.clip(d[:, chans], 0, None).sum(1)
            scale = 1 / np.maximum(total, 1.0)  # f
            for ch, field in self.correctives.items():
                w = d[:, ch] * scale
                head = head + w[:, None, None] * field[None, idx]
                if ch in self.shut_ahead:
                    w = np.clip(w, 0.0, 1.0)
                    head = head + (ahead(w) - w)[:, None, None] * self.shut_ahead[ch][None, idx]
        if self.seal is not None:
            sealed = np.clip(np.minimum(d[:, motion.CHANNEL["mouthClose"]], d[:, motion.CHANNEL["jawOpen"]]), 0, None)
            head = head + sealed[:, None, None] * self.seal[None, idx]
        return head

    def project(self, head_pts: np.ndarray, r_delta: np.ndarray, scale: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Head-frame points [f, n, 3] -> image x, y [f, n, 2] with rotation r_delta @ R0."""
        rot = np.einsum("fij,jk->fik", r_delta, self.r0)
        return (scale[:, None, None] * np.einsum("fij,fnj->fni", rot, head_pts) + t[:, None])[..., :2]

    def pose(self, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rotation change [f, 3, 3], scale [f] and translation [f, 3] for code deltas d [f, 61]."""
        r_delta = euler_to_matrix(d[:, 51], d[:, 52], d[:, 53])  # f 3 3
        scale = self.s0 * (1 + d[:, 56])
        t = self.t0[None] + self.s0 * np.stack([d[:, 54], d[:, 55], np.zeros(len(d))], 1)
        return r_delta, scale, t

    def points(self, codes: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, tuple]:
        """Image x, y [f, 478, 2] of the whole face (mesh + iris) for codes [f, 61] relative to the
        portrait's code `base` [61], and the pose (r_delta, scale, t) they were projected with."""
        d = self.drawn(codes - base[None])
        f = len(d)
        head = self._deform(d)  # f 478 3
        # gaze: turn the portrait's own iris points about the eyeball by the gaze change
        for ball, (yaw_i, pitch_i), sl in (
            (self.balls[1], (0, 1), slice(473, 478)),
            (self.balls[0], (2, 3), slice(468, 473)),
        ):
            g = codes[:, motion.GAZE]
            gb = base[motion.GAZE]
            r = (
                euler_to_matrix(g[:, pitch_i], g[:, yaw_i], np.zeros(f))
                @ euler_to_matrix(gb[pitch_i], gb[yaw_i], 0.0).T
            )
            own = self.head[sl].copy()
            own[:, 2] += ball[2] - self.iris_depth - self.head[sl.start, 2]  # the iris at iris_depth
            head[:, sl] = self.head[sl] + ball - own + np.einsum("fij,nj->fni", r, own - ball)  # as own turns
        pose = self.pose(d)
        return self.project(head, *pose), pose

    def subset_points(self, codes: np.ndarray, base: np.ndarray, idx: list[int], held: list[int]) -> np.ndarray:
        """Image x, y [f, len(idx), 2] of the mesh points idx with the blendshapes `held` kept at
        their base values (no gaze: mesh points only)."""
        d = self.drawn(codes - base[None])
        d[:, held] = 0.0
        return self.project(self._deform(d, idx), *self.pose(d))
