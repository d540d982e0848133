"""The face rig: 61-D motion code -> 478 face landmarks (468-point MediaPipe mesh + 10 iris points).

Model (head frame of `canonical.py`: x right, y down, z away from the camera, inter-ocular units):

    points(code) = neutral + sum_k w_k * B_k                      (expression, k = 51 ARKit shapes)
    iris(code)   = eyeball_centre + EYEBALL_RADIUS * d(gaze yaw, gaze pitch)
    image(code)  = s * (1 + z) * R(pitch, yaw, roll) @ points + (o + s * [x, y, 0])

B_k [468, 3] is a displacement field per blendshape, written procedurally below from the mesh's
named regions (lids, lips, jaw, brows, cheeks, nose) so every shape moves what ARKit's shape of
that name moves, in a plausible amount at weight 1. Points on the skull (forehead, temples, nose
bridge, ears) never move under any shape: they are the `rigid` set the tracker fits the head pose
on, which is what makes tracker o rig close to the identity.

Rotations: R = Rz(roll) @ Ry(yaw) @ Rx(pitch). In the image that means pitch > 0 looks down,
yaw > 0 turns the nose towards image left, roll > 0 tilts the head clockwise. Gaze uses the same
yaw/pitch convention for the eye direction d = Ry(yaw) Rx(pitch) (0, 0, -1).

eyeLook* shapes only move the lids (like ARKit's); the iris follows the 4 gaze channels. The
tracker derives eyeLook* from the measured gaze (`motion.look_from_gaze`), so they stay consistent.

Shape legend: f - frames, n - points (478), k - blendshapes (51).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from .. import motion
from . import canonical as C

JAW_OPEN_ANGLE = 0.35  # rad of jaw rotation at jawOpen = 1 (chin drops ~0.55 inter-ocular)
JAW_HINGE = np.array([0.0, 0.45, 0.0])  # y, z of the hinge axis (parallel to x), head frame


# -- rotations --------------------------------------------------------------------------------
def euler_to_matrix(pitch: np.ndarray, yaw: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """R = Rz(roll) Ry(yaw) Rx(pitch) (scipy's intrinsic "ZYX"), batched: angles [...] -> [..., 3, 3]."""
    angles = np.stack(np.broadcast_arrays(roll, yaw, pitch), -1).astype(np.float64)
    r = Rotation.from_euler("ZYX", angles.reshape(-1, 3)).as_matrix()
    return r.reshape(angles.shape[:-1] + (3, 3)).astype(np.result_type(pitch, np.float32))


def matrix_to_euler(r: np.ndarray) -> np.ndarray:
    """Inverse of `euler_to_matrix`: [..., 3, 3] -> [..., 3] (pitch, yaw, roll)."""
    r = np.asarray(r)
    roll_yaw_pitch = Rotation.from_matrix(r.reshape(-1, 3, 3).astype(np.float64)).as_euler("ZYX")
    return roll_yaw_pitch[:, ::-1].reshape(r.shape[:-2] + (3,)).astype(np.result_type(r, np.float32))


def gaze_direction(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Unit eye direction [..., 3] = Ry(yaw) Rx(pitch) (0, 0, -1)."""
    return np.stack([-np.sin(yaw) * np.cos(pitch), np.sin(pitch), -np.cos(yaw) * np.cos(pitch)], -1)


# -- basis construction -----------------------------------------------------------------------
def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    """0 at e0, 1 at e1 (either order), smooth (C1) between: falloffs without a kink at their ends."""
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _gauss(p: np.ndarray, centre: np.ndarray, sigma: float) -> np.ndarray:
    """Truncated Gaussian weight [n] of 2D (x, y) distance; exactly 0 beyond 2.5 sigma."""
    d = np.linalg.norm(p[:, :2] - centre[:2], axis=-1) / sigma
    return np.where(d < 2.5, np.exp(-0.5 * d * d) - np.exp(-0.5 * 2.5**2), 0.0) / (1 - np.exp(-0.5 * 2.5**2))


def _dist_to(p: np.ndarray, idx: tuple[int, ...]) -> np.ndarray:
    return np.linalg.norm(p[:, None, :2] - p[list(idx)][None, :, :2], axis=-1).min(1)


class _Builder:
    """Writes each blendshape's displacement field [468, 3] from the canonical mesh's regions."""

    def __init__(self, mesh: np.ndarray):
        self.p = mesh.astype(np.float64)
        self.n = len(mesh)
        p = self.p
        inner = np.array(C.UPPER_LIP_INNER + C.LOWER_LIP_INNER)
        self.mouth_centre = p[list(C.UPPER_LIP_OUTER + C.LOWER_LIP_OUTER)].mean(0)
        # the line between the lips: mean of the two inner contours, as y(x)
        up, lo = p[list(C.UPPER_LIP_INNER)], p[list(C.LOWER_LIP_INNER)]
        xs = (up[:, 0] + lo[:, 0]) / 2
        self.mid_x, self.mid_y = xs, (up[:, 1] + lo[:, 1]) / 2
        self.upper_lip = np.zeros(self.n, bool)
        self.lower_lip = np.zeros(self.n, bool)
        self.upper_lip[list(C.UPPER_LIP_OUTER[1:-1] + C.UPPER_LIP_INNER[1:-1])] = True
        self.lower_lip[list(C.LOWER_LIP_OUTER[1:-1] + C.LOWER_LIP_INNER[1:-1])] = True
        # other points inside the lip band (between the outer contours) belong to the lip they are on
        ym = self._mid(p[:, 0])
        outer_up = np.interp(p[:, 0], p[list(C.UPPER_LIP_OUTER), 0], p[list(C.UPPER_LIP_OUTER), 1])
        outer_lo = np.interp(p[:, 0], p[list(C.LOWER_LIP_OUTER), 0], p[list(C.LOWER_LIP_OUTER), 1])
        within = (
            (np.abs(p[:, 0]) < np.abs(p[C.MOUTH_CORNERS[0], 0]))
            & (p[:, 1] > outer_up - 0.01)
            & (p[:, 1] < outer_lo + 0.01)
        )
        within &= ~np.isin(np.arange(self.n), inner)
        self.upper_lip |= within & (p[:, 1] < ym)
        self.lower_lip |= within & (p[:, 1] >= ym)
        self.lips = self.upper_lip | self.lower_lip
        self.corners = np.isin(np.arange(self.n), list(C.MOUTH_CORNERS) + [78, 308])
        self.lips_and_corners = self.lips | self.corners

    def _mid(self, x: np.ndarray) -> np.ndarray:
        return np.interp(x, self.mid_x, self.mid_y)

    def side(self, sign: int) -> np.ndarray:
        """Soft side mask [n]: sign +1 = subject's left (+x), -1 = right."""
        return 1 / (1 + np.exp(-sign * self.p[:, 0] / 0.06))

    def zeros(self) -> np.ndarray:
        return np.zeros((self.n, 3))

    # regions -----------------------------------------------------------------------------
    def jaw_weight(self) -> np.ndarray:
        """How much a point follows the jaw [n]: 1 on the lower lip and chin, 0 above the mouth."""
        p = self.p
        w = smoothstep(-0.02, 0.3, p[:, 1] - self._mid(np.clip(p[:, 0], self.mid_x.min(), self.mid_x.max())))
        w = np.where(self.lower_lip, 1.0, np.where(self.upper_lip, 0.0, w))
        w[self.corners] = 0.4
        # the upper face never moves with the jaw (keeps the rigid set rigid)
        return np.where(p[:, 1] < 0.3, 0.0, w)

    def lip_weight(self, sigma: float = 0.12) -> np.ndarray:
        """1 on the lips and corners, falling off over the surrounding skin [n]."""
        d = _dist_to(self.p, C.UPPER_LIP_OUTER + C.LOWER_LIP_OUTER)
        w = np.exp(-0.5 * (d / sigma) ** 2) * (d < 2.5 * sigma)
        return np.where(self.lips_and_corners, 1.0, w)

    def lids(
        self,
        upper: tuple[int, ...],
        lower: tuple[int, ...],
        up_amount: float,
        low_amount: float,
        spread: float = 0.1,
        skin: float = 0.5,
    ) -> np.ndarray:
        """Lid motion in units of the local eye opening h(x): the upper lid contour moves down by
        up_amount*h, the lower lid up by low_amount*h; skin above/below follows with a falloff."""
        p, d = self.p, self.zeros()
        uc, lc = p[list(upper)], p[list(lower)]
        order_u, order_l = np.argsort(uc[:, 0]), np.argsort(lc[:, 0])

        def h(x: np.ndarray) -> np.ndarray:
            yu = np.interp(x, uc[order_u, 0], uc[order_u, 1])
            yl = np.interp(x, lc[order_l, 0], lc[order_l, 1])
            return yl - yu

        x0, x1 = uc[:, 0].min(), uc[:, 0].max()
        contour = np.zeros(self.n, bool)
        contour[list(upper + lower)] = True
        hx = h(np.clip(p[:, 0], x0, x1))
        xfall = smoothstep(0.0, 0.12, np.minimum(p[:, 0] - x0, x1 - p[:, 0]) + 0.04)
        # upper lid and skin above it (between brow and eye)
        du = _dist_to(p, upper)
        above = (p[:, 1] < np.interp(p[:, 0], uc[order_u, 0], uc[order_u, 1]) + 1e-6) & ~contour
        w_up = np.where(above, skin * np.exp(-0.5 * (du / spread) ** 2) * (du < 2.5 * spread), 0.0)
        w_up[list(upper[1:-1])] = 1.0
        below = (p[:, 1] > np.interp(p[:, 0], lc[order_l, 0], lc[order_l, 1]) - 1e-6) & ~contour
        dl = _dist_to(p, lower)
        w_lo = np.where(below, skin * np.exp(-0.5 * (dl / spread) ** 2) * (dl < 2.5 * spread), 0.0)
        w_lo[list(lower[1:-1])] = 1.0
        d[:, 1] = (up_amount * w_up - low_amount * w_lo) * hx * xfall
        return d

    def lip_roll(
        self, inner: tuple[int, ...], outer: tuple[int, ...], amount: float, spread: float = 0.08
    ) -> np.ndarray:
        """A lip rolled in: its outer contour (the edge of the red) moves towards the inner one by `amount` of the
        lip's height there, the lip between in proportion and back into the mouth, the skin beyond following with a
        fall-off. Why: the lip thins while the line between the lips stays, which is what a rolled
        lip shows from the front and what tells it from mouthClose (the whole lip lifted, the gap closed)."""
        p, d = self.p, self.zeros()
        ic, oc = p[list(inner)], p[list(outer)]
        oi, oo = np.argsort(ic[:, 0]), np.argsort(oc[:, 0])
        x = np.clip(p[:, 0], ic[:, 0].min(), ic[:, 0].max())
        y_in = np.interp(x, ic[oi, 0], ic[oi, 1])
        height = np.interp(x, oc[oo, 0], oc[oo, 1]) - y_in  # signed: > 0 for the lower lip (y down)
        # 0 on the inner contour and on the other lip's side of it, 1 at the outer contour
        u = np.clip((p[:, 1] - y_in) / np.where(np.abs(height) > 1e-6, height, 1e-6), 0.0, None)
        lip = u <= 1.0
        beyond = np.exp(-0.5 * (_dist_to(p, outer) / spread) ** 2) * (_dist_to(p, outer) < 2.5 * spread)
        w = np.where(lip, u, beyond)  # beyond: falling off
        w *= smoothstep(0.0, 0.15, np.abs(oc[:, 0]).max() - np.abs(p[:, 0]))  # none at the corners: no seam there
        d[:, 1] = -amount * height * w
        d[:, 2] = 0.05 * np.where(lip, w, 0.0)  # the red turns back into the mouth; the inner edge stays put
        return d

    def lid_shift_x(self, upper: tuple[int, ...], lower: tuple[int, ...], dx: float) -> np.ndarray:
        d = self.zeros()
        idx = list(upper[1:-1] + lower[1:-1])
        d[idx, 0] = dx
        return d

    def move(self, w: np.ndarray, v: tuple[float, float, float]) -> np.ndarray:
        return w[:, None] * np.asarray(v)[None]


def _build_basis(mesh: np.ndarray) -> np.ndarray:
    """All 51 displacement fields [51, 468, 3] (head frame units), keyed by ARKit name."""
    b = _Builder(mesh)
    p = b.p
    L, R = b.side(+1), b.side(-1)
    f: dict[str, np.ndarray] = {}
    eyes = {"Left": (C.LEFT_EYE_UPPER, C.LEFT_EYE_LOWER, +1), "Right": (C.RIGHT_EYE_UPPER, C.RIGHT_EYE_LOWER, -1)}
    for s, (up, lo, sign) in eyes.items():
        f[f"eyeBlink{s}"] = b.lids(up, lo, 0.92, 0.05)
        f[f"eyeLookDown{s}"] = b.lids(up, lo, 0.3, -0.12)
        f[f"eyeLookUp{s}"] = b.lids(up, lo, -0.2, 0.05)
        f[f"eyeLookIn{s}"] = b.lid_shift_x(up, lo, -sign * 0.03)
        f[f"eyeLookOut{s}"] = b.lid_shift_x(up, lo, sign * 0.03)
        cheek_below = _gauss(p, p[list(lo)].mean(0) + np.array([0, 0.25, 0]), 0.15)
        f[f"eyeSquint{s}"] = b.lids(up, lo, 0.12, 0.35) + b.move(cheek_below, (0, -0.04, 0))
        # wide: the lid lifts with the skin up to the brow, the lower lid drops (blink's opposite
        # would be indistinguishable from it in a fit)
        f[f"eyeWide{s}"] = b.lids(up, lo, -0.4, -0.2, spread=0.16, skin=0.9)
    jaw = b.jaw_weight()
    # jawOpen: rotate the jaw-weighted points about the hinge axis
    rel = p[:, 1:] - JAW_HINGE[1:]
    c, s = np.cos(JAW_OPEN_ANGLE), np.sin(JAW_OPEN_ANGLE)
    rot = np.stack([c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1]], -1)
    f["jawOpen"] = np.concatenate([np.zeros((b.n, 1)), (rot - rel) * jaw[:, None]], 1)
    f["jawForward"] = b.move(jaw, (0, 0.03, -0.15))
    # sideways jaw: the jaw also drops a little on the side it moves to (keeps Left/Right distinct)
    f["jawRight"] = b.move(jaw, (-0.15, 0, 0)) + b.move(jaw * R, (0, 0.04, 0))
    f["jawLeft"] = b.move(jaw, (0.15, 0, 0)) + b.move(jaw * L, (0, 0.04, 0))
    lip = b.lip_weight()
    lower_lip = b.lower_lip.astype(float)
    upper_lip = b.upper_lip.astype(float)
    f["mouthClose"] = b.move(lower_lip, (0, -0.12, 0)) + b.move(upper_lip, (0, 0.04, 0))
    to_centre = -(p[:, 0] - b.mouth_centre[0])
    funnel = b.zeros()
    funnel[:, 0] = 0.25 * to_centre * lip
    funnel[:, 1] = 0.05 * (lower_lip - upper_lip)
    funnel[:, 2] = -0.12 * lip
    f["mouthFunnel"] = funnel
    pucker = b.zeros()
    pucker[:, 0] = 0.45 * to_centre * lip
    pucker[:, 2] = -0.15 * lip
    f["mouthPucker"] = pucker
    # the mouth slides sideways, the leading corner more (and pulled back a little)
    f["mouthRight"] = b.move(lip * (0.6 + 0.4 * R), (-0.16, 0, 0)) + b.move(lip * R, (0, 0, 0.04))
    f["mouthLeft"] = b.move(lip * (0.6 + 0.4 * L), (0.16, 0, 0)) + b.move(lip * L, (0, 0, 0.04))
    for s, sign, corner in (("Left", +1, C.MOUTH_CORNERS[1]), ("Right", -1, C.MOUTH_CORNERS[0])):
        side = L if sign > 0 else R
        cw = _gauss(p, p[corner], 0.22) * side
        cw_wide = _gauss(p, p[corner] + np.array([sign * 0.1, -0.2, 0]), 0.2) * side
        f[f"mouthSmile{s}"] = b.move(cw, (sign * 0.1, -0.12, 0.03)) + b.move(cw_wide, (0, -0.03, -0.02))
        f[f"mouthFrown{s}"] = b.move(cw, (sign * 0.02, 0.12, 0))
        f[f"mouthDimple{s}"] = b.move(cw, (sign * 0.08, 0, 0.06))
        f[f"mouthStretch{s}"] = b.move(cw, (sign * 0.12, 0.05, 0)) + b.move(lower_lip * side, (0, 0.04, 0))
        press = b.zeros()
        press[:, 1] = 0.035 * side * (b.upper_lip & np.isin(np.arange(b.n), C.UPPER_LIP_OUTER)) - 0.035 * side * (
            b.lower_lip & np.isin(np.arange(b.n), C.LOWER_LIP_OUTER)
        )
        press[:, 2] = 0.03 * side * b.lips
        f[f"mouthPress{s}"] = press
        f[f"mouthLowerDown{s}"] = b.move(lower_lip * side, (0, 0.1, 0)) + b.move(
            _gauss(p, p[corner], 0.15) * side * jaw, (0, 0.03, 0)
        )
        f[f"mouthUpperUp{s}"] = b.move(upper_lip * side, (0, -0.09, 0)) + b.move(
            _gauss(p, p[C.NOSE_WINGS[1 if sign > 0 else 0]], 0.12), (0, -0.02, 0)
        )
        brow = C.LEFT_BROW if sign > 0 else C.RIGHT_BROW
        bw = np.exp(-0.5 * (_dist_to(p, brow) / 0.1) ** 2) * (_dist_to(p, brow) < 0.25) * (p[:, 1] < 0.05)
        inner = smoothstep(0.75, 0.25, np.abs(p[:, 0]))  # 1 near the nose, 0 at the temples
        f[f"browDown{s}"] = b.move(bw, (-sign * 0.03, 0.1, 0))
        f[f"browOuterUp{s}"] = b.move(bw * (1 - inner), (0, -0.12, 0))
        cheek = _gauss(p, np.array([sign * 0.5, 0.45, 0]), 0.16)
        f[f"cheekSquint{s}"] = b.move(cheek, (0, -0.07, 0))
        f[f"noseSneer{s}"] = b.move(_gauss(p, p[C.NOSE_WINGS[1 if sign > 0 else 0]], 0.14), (sign * 0.015, -0.06, 0))
    brows = C.LEFT_BROW + C.RIGHT_BROW
    bw_all = np.exp(-0.5 * (_dist_to(p, brows) / 0.1) ** 2) * (_dist_to(p, brows) < 0.25) * (p[:, 1] < 0.05)
    f["browInnerUp"] = b.move(bw_all * smoothstep(0.7, 0.15, np.abs(p[:, 0])), (0, -0.12, 0))
    puff = b.zeros()
    for sign in (+1, -1):
        g = _gauss(p, np.array([sign * 0.62, 0.85, 0]), 0.22)
        puff += b.move(g, (sign * 0.08, 0, -0.06))
    f["cheekPuff"] = puff + b.move(b.lips.astype(float), (0, 0, -0.03))
    f["mouthRollLower"] = b.lip_roll(C.LOWER_LIP_INNER, C.LOWER_LIP_OUTER, 0.75)
    f["mouthRollUpper"] = b.lip_roll(C.UPPER_LIP_INNER, C.UPPER_LIP_OUTER, 0.75)
    chin = _gauss(p, p[C.CHIN] + np.array([0, -0.25, 0]), 0.3) * jaw
    f["mouthShrugLower"] = b.move(np.maximum(chin, lower_lip), (0, -0.07, -0.03))
    # the upper lip pushed up and out together with the skin below the nose (not a lip curl)
    philtrum = _gauss(p, (p[C.NOSE_WINGS[0]] + p[C.NOSE_WINGS[1]]) / 2 + np.array([0, 0.15, 0]), 0.12)
    f["mouthShrugUpper"] = b.move(np.maximum(upper_lip, philtrum), (0, -0.04, -0.07))
    missing = set(motion.BLENDSHAPE_NAMES) - set(f)
    assert not missing, f"rig has no field for {sorted(missing)}"
    return np.stack([f[n] for n in motion.BLENDSHAPE_NAMES]).astype(np.float32)


@dataclass(frozen=True)
class FaceRig:
    """Neutral points [478, 3], blendshape basis [51, 478, 3] (iris rows 0) and rigid indices."""

    neutral: np.ndarray
    basis: np.ndarray
    rigid: np.ndarray

    @staticmethod
    @functools.lru_cache(maxsize=1)
    def default() -> FaceRig:
        """The rig on the shipped canonical face (cached)."""
        face = C.load_canonical()
        mesh_basis = _build_basis(face.mesh)
        basis = np.zeros((len(mesh_basis), C.NUM_POINTS, 3), np.float32)
        basis[:, : len(face.mesh)] = mesh_basis
        moving = np.abs(mesh_basis).max(axis=(0, 2)) > 1e-6
        rigid = np.nonzero(~moving)[0]
        return FaceRig(face.points, basis, rigid)

    def expression(self, codes: np.ndarray, neutral: np.ndarray | None = None) -> np.ndarray:
        """Head-frame points [f, 478, 3] for codes [f, 61]: blendshapes on the mesh, gaze on the iris.

        neutral: the identity's neutral points [478, 3] (default: the canonical face)."""
        codes = _check_codes(codes, "FaceRig.expression")
        base = self.neutral if neutral is None else neutral
        w = codes[:, motion.BLENDSHAPES]
        pts = base[None] + np.einsum("fk,knd->fnd", w, self.basis)  # f n 3
        return place_iris(pts, codes[:, motion.GAZE], base)

    def landmarks(
        self, codes: np.ndarray, scale: float, origin: tuple[float, float], neutral: np.ndarray | None = None
    ) -> np.ndarray:
        """Image-space landmarks [f, 478, 3] (pixels, z in pixels): `scale` = pixels per
        inter-ocular unit at headZ = 0, `origin` = image position of the head pivot at headX/Y = 0."""
        codes = _check_codes(codes, "FaceRig.landmarks")
        pts = self.expression(codes, neutral)
        return apply_pose(pts, codes[:, motion.POSE], scale, origin)


def eyeball_centres(neutral: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eyeball centres (right, left) [..., 3]: behind the neutral lid centres by EYEBALL_RADIUS."""
    back = np.array([0, 0, C.EYEBALL_RADIUS], np.float32)
    right, left = C.eye_centres(neutral[..., :468, :])
    return right + back, left + back


def place_iris(points: np.ndarray, gaze: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """Overwrite the 10 iris points of head-frame points [f, 478, 3] from gaze [f, 4]; the
    eyeballs sit in the neutral face [478, 3] (lids moving over them do not move them)."""
    out = points.copy()
    balls = eyeball_centres(neutral)
    for ball_i, yaw_i, pitch_i, sl in ((1, 0, 1, slice(473, 478)), (0, 2, 3, slice(468, 473))):
        ball = balls[ball_i]  # 3
        yaw, pitch = gaze[:, yaw_i], gaze[:, pitch_i]
        d = gaze_direction(yaw, pitch)  # f 3
        rot = euler_to_matrix(pitch, yaw, np.zeros_like(yaw))  # f 3 3
        centre = ball + C.EYEBALL_RADIUS * d
        rim = np.array([[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]], np.float32) * C.IRIS_RADIUS  # 4 3
        out[:, sl] = np.concatenate([centre[:, None], centre[:, None] + np.einsum("fij,rj->fri", rot, rim)], 1)
    return out


def apply_pose(points: np.ndarray, pose: np.ndarray, scale: float, origin: tuple[float, float]) -> np.ndarray:
    """Head-frame points [f, n, 3] + pose [f, 6] -> image points [f, n, 3]."""
    rot = euler_to_matrix(pose[:, 0], pose[:, 1], pose[:, 2])  # f 3 3
    s = scale * (1 + pose[:, 5])  # f
    t = np.stack([origin[0] + scale * pose[:, 3], origin[1] + scale * pose[:, 4], np.zeros_like(s)], -1)  # f 3
    return s[:, None, None] * np.einsum("fij,fnj->fni", rot, points) + t[:, None]


def _check_codes(codes: np.ndarray, where: str) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.float32)
    if codes.ndim != 2 or codes.shape[1] != motion.MOTION_DIM:
        raise ValueError(f"{where}: codes must be [frames, {motion.MOTION_DIM}], got shape {codes.shape}")
    return codes
