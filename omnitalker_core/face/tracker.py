"""Tracker: video frames -> 61-D motion codes, the inverse of `rig.FaceRig`.

Per frame: 478 landmarks (`landmarks.FaceLandmarker`), then
1. head pose: weighted 3D similarity fit (Umeyama 1991) of the rig's points to the landmarks,
   weights favouring points no blendshape moves (skull), alternated with step 2 so the mouth and
   brows do not pull the pose;
2. blendshapes: bounded least squares 0 <= w <= 1 of the de-posed landmarks on the rig basis,
   batched over frames with FISTA on the normal equations (43 shapes; the 8 eyeLook* shapes
   are not fitted but follow the gaze, see `motion.look_from_gaze`); jawOpen is then re-read from
   the lower lip in the image plane with pose and the other shapes held (`RigFitter._refit_jaw`);
3. gaze: from the iris centres in the image plane, solved for the eye direction;
4. identity: whatever the basis cannot explain and stays constant over the clip (face shape) is
   moved into a per-clip neutral, so a person's face shape does not read as expression;
5. clip-level: missing frames interpolated, One-Euro smoothing, head translation relative to
   the clip's median position and size (so it is comparable across videos).

Shape legend: f - frames, n - points (478), k - blendshapes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .. import motion
from ..motion import EYE_LOOK, look_from_gaze
from . import canonical as C
from .rig import FaceRig, eyeball_centres, matrix_to_euler

if TYPE_CHECKING:
    from .adaptation import AdaptConfig
    from .appearance import AppearanceReader

log = logging.getLogger(__name__)

FIT_SHAPES = np.array([k for k in range(motion.NUM_BLENDSHAPES) if k not in EYE_LOOK])
JAW_OPEN = motion.BLENDSHAPE_NAMES.index("jawOpen")
# shapes whose landmark motion overlaps the jaw's (lower lip and chin moving down/back) and that
# pose-dependent landmark bias excites: under the noise-adaptive prior they cost more, so an open
# jaw under head motion is not read as a jutting jaw, rolled or frowning lips
JAW_CONFUSERS = (
    "jawForward", "mouthClose", "mouthRollUpper", "mouthRollLower", "mouthFrownLeft", "mouthFrownRight",
    "mouthShrugUpper", "mouthShrugLower",
)  # fmt: skip
JAW_CONFUSER_PRIOR = 10.0
# jawOpen is re-read from these in the image plane (see `RigFitter._refit_jaw`): the lower lip's
# inner contour moves most with the jaw and is the mouth edge a landmark model sees best
JAW_POINTS = list(C.LOWER_LIP_INNER[1:-1])
# The clip's One-Euro smoothing: 1 Hz while a channel is still, opening up with its speed. At 1.5 Hz and beta 0.3
# it kept 0.63 of the size of a speaking jaw, and 0.81 of the calibration's slower motion; at these settings 0.96
# and 1.00, with as much of a still face's jitter taken out (`scripts/smoothing_agreement.py`).
SMOOTH_MIN_CUTOFF = 1.0  # Hz
SMOOTH_BETA = 10.0  # Hz more per unit (or radian) per second of speed


@dataclass
class PoseFit:
    """Per-frame similarity transform image = s * R @ head + t."""

    scale: np.ndarray  # [f]
    rotation: np.ndarray  # [f, 3, 3]
    translation: np.ndarray  # [f, 3]

    def to_head(self, points: np.ndarray) -> np.ndarray:
        """Image points [f, n, 3] -> head frame."""
        return np.einsum("fji,fnj->fni", self.rotation, points - self.translation[:, None]) / self.scale[:, None, None]


@dataclass
class FaceFit:
    """Result of fitting the rig to landmarks: codes plus what a renderer needs to redo it."""

    codes: np.ndarray  # [f, 61], translation relative to the clip's median position/size
    pose: PoseFit
    neutral: np.ndarray  # [478, 3] the identity's neutral face, head frame
    head_points: np.ndarray  # [f, 478, 3] observed landmarks in the head frame


@dataclass
class TrackResult:
    codes: np.ndarray  # [f, 61] at `fps`
    fps: float
    found: np.ndarray  # [f] bool: a face was detected (others interpolated)
    landmarks: np.ndarray  # [f, 478, 3] image pixels (interpolated where not found)
    fit: FaceFit


# -- fitting helpers ---------------------------------------------------------------------------
def similarity_fit(src: np.ndarray, dst: np.ndarray, weights: np.ndarray) -> PoseFit:
    """Weighted Umeyama: s, R, t minimising sum_i w_i |s R src_i + t - dst_i|^2.

    src [f, n, 3] or [n, 3], dst [f, n, 3], weights [n]."""
    src = np.broadcast_to(src, dst.shape)
    w = (weights / weights.sum())[None, :, None]
    mu_s, mu_d = (w * src).sum(1), (w * dst).sum(1)  # f 3
    xs, xd = src - mu_s[:, None], dst - mu_d[:, None]
    cov = np.einsum("fni,fnj->fij", w * xd, xs)  # f 3 3
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones_like(sig)
    d[:, 2] = np.sign(np.linalg.det(u @ vt))
    rot = u @ (d[:, :, None] * vt)
    var = (w * xs * xs).sum((1, 2))
    scale = (sig * d).sum(1) / var
    t = mu_d - scale[:, None] * np.einsum("fij,fj->fi", rot, mu_s)
    return PoseFit(scale, rot, t)


def bounded_lsq(gram: np.ndarray, rhs: np.ndarray, iters: int = 400, init: np.ndarray | None = None) -> np.ndarray:
    """min_w 1/2 w^T G w - b^T w subject to 0 <= w <= 1, batched over rows of rhs [f, k] (FISTA)."""
    lip = float(np.linalg.eigvalsh(gram)[-1])
    w = np.clip(np.zeros_like(rhs) if init is None else init, 0, 1)
    y, t = w.copy(), 1.0
    for _ in range(iters):
        w_new = np.clip(y - (y @ gram - rhs) / lip, 0.0, 1.0)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        y = w_new + ((t - 1) / t_new) * (w_new - w)
        w, t = w_new, t_new
    return w


def interpolate_missing(x: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Fill rows of x [f, ...] where found [f] is False by linear interpolation in time."""
    if found.all():
        return x
    idx = np.nonzero(found)[0]
    flat = x.reshape(len(x), -1)
    out = np.empty_like(flat)
    t = np.arange(len(x))
    for c in range(flat.shape[1]):
        out[:, c] = np.interp(t, idx, flat[idx, c])
    return out.reshape(x.shape)


class RigFitter:
    """Fits the rig to landmark sequences; holds the precomputed normal equations."""

    def __init__(
        self,
        rig: FaceRig | None = None,
        ridge: float = 1e-4,
        z_weight: float = 0.5,
        prior: float = 0.0,
        edge_weight: float = 1.0,
        noise_prior: float = 3000.0,
    ):
        self.rig = rig or FaceRig.default()
        basis = self.rig.basis[FIT_SHAPES, : C.NUM_MESH]  # k n 3
        # landmark z is noisier than x, y: weigh it less in the expression fit
        self.dim_w = np.array([1.0, 1.0, z_weight], np.float32)
        self.point_w = np.tile(self.dim_w, C.NUM_MESH)  # (n*3)
        self.A = basis.reshape(len(FIT_SHAPES), -1).T.astype(np.float64)  # (n*3) k
        aw = self.A * self.point_w[:, None]
        if edge_weight > 0:
            # also fit the differences along mesh edges: local shape (a lid closing, lips parting)
            # counts more than smooth regional offsets, which is what head-pose-dependent landmark
            # bias and depth errors look like
            aw = aw + edge_weight * (self._edge_metric() @ aw)
        self.gram = aw.T @ self.A
        # Tikhonov prior relative to each shape's own strength: damps combinations of shapes that
        # nearly cancel (e.g. jawLeft + jawRight), which landmark noise would otherwise excite
        self.gram = self.gram + np.diag(ridge + prior * np.diag(self.gram))
        self.Aw = aw
        self.noise_prior = noise_prior
        names = [motion.BLENDSHAPE_NAMES[k] for k in FIT_SHAPES]
        self.prior_scale = np.array([JAW_CONFUSER_PRIOR if n in JAW_CONFUSERS else 1.0 for n in names])
        # pose weights: skull points 1, points that expressions move much less
        mobility = np.linalg.norm(self.rig.basis[:, : C.NUM_MESH], axis=-1).max(0)  # n
        self.pose_w = 1.0 / (1.0 + (mobility / 0.02) ** 2)
        # the orthogonal complement of the basis span (identity can only live there)
        q, _ = np.linalg.qr(self.A)
        self.span_q = q

    def _edge_metric(self):
        """D^T D for the difference operator D over the canonical mesh's edges (x, y, z each), [(n*3), (n*3)] sparse."""
        import scipy.sparse as sp
        from scipy.spatial import Delaunay

        p = self.rig.neutral[: C.NUM_MESH, :2]
        tri = Delaunay(p).simplices
        e = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]])
        e = np.unique(np.sort(e, 1), axis=0)
        ln = np.linalg.norm(p[e[:, 0]] - p[e[:, 1]], axis=1)
        e = e[ln < 0.15]
        m = len(e)
        rows, cols, vals = [], [], []
        for d in range(3):
            rows += [np.arange(m) * 3 + d] * 2
            cols += [e[:, 0] * 3 + d, e[:, 1] * 3 + d]
            vals += [np.ones(m), -np.ones(m)]
        D = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * 3, C.NUM_MESH * 3)
        )
        return (D.T @ D).tocsr()

    def _expression(
        self, head: np.ndarray, neutral: np.ndarray, init: np.ndarray | None, gram: np.ndarray
    ) -> np.ndarray:
        resid = (head[:, : C.NUM_MESH] - neutral[None, : C.NUM_MESH]).reshape(len(head), -1)  # f (n*3)
        # warm starts (alternation steps after the first) need far fewer iterations
        return bounded_lsq(gram, resid @ self.Aw, iters=400 if init is None or not init.any() else 150, init=init)

    def fit(
        self, landmarks: np.ndarray, neutral: np.ndarray | None = None, estimate_identity: bool = True, iterations: int = 3,
        rest_percentile: float = motion.REST_PERCENTILE, min_frames_for_rest: int = motion.MIN_FRAMES_FOR_REST,
    ) -> FaceFit:  # fmt: skip
        """Fit codes to image landmarks [f, 478, 3] (pixels; z in pixels).

        estimate_identity: move the clip's constant, basis-orthogonal shape into the neutral face.
        rest_percentile: on clips of at least `min_frames_for_rest` frames, each shape's weight at
        this percentile over the clip is the person's resting face (e.g. eyes open wider than the
        canonical face, or a constant jaw offset) and is moved into the neutral too, so motion
        reads from rest instead of fighting a constant offset through the box constraints."""
        if landmarks.ndim != 3 or landmarks.shape[1:] != (C.NUM_POINTS, 3):
            raise ValueError(f"landmarks must be [frames, {C.NUM_POINTS}, 3], got {landmarks.shape}")
        lm = landmarks.astype(np.float64)
        rig = self.rig
        neutral = (rig.neutral if neutral is None else neutral).astype(np.float64)
        f = len(lm)
        w = np.zeros((f, len(FIT_SHAPES)))
        use_rest = estimate_identity and f >= min_frames_for_rest and rest_percentile > 0
        passes = (3 if use_rest else 2) if estimate_identity else 1
        look_basis = rig.basis[list(EYE_LOOK), : C.NUM_MESH]  # 8 n 3
        fit_basis = rig.basis[FIT_SHAPES, : C.NUM_MESH]  # k n 3
        look = np.zeros((f, len(EYE_LOOK)))
        gram = self.gram
        for p in range(passes):
            for _ in range(iterations):
                model = (
                    neutral[None, : C.NUM_MESH]
                    + np.einsum("fk,knd->fnd", w, fit_basis)
                    + np.einsum("fk,knd->fnd", look, look_basis)
                )
                pose = similarity_fit(model, lm[:, : C.NUM_MESH], self.pose_w)
                head = pose.to_head(lm)
                # eyeLook* follow the gaze (not fitted): take their lid motion out first
                gaze = self.gaze(lm, pose, neutral)
                look = look_from_gaze(gaze)
                target = head.copy()
                target[:, : C.NUM_MESH] -= np.einsum("fk,knd->fnd", look, look_basis)
                w = self._expression(target, neutral, w, gram)
            if p == 0 and self.noise_prior > 0:
                # noise-adaptive prior (MAP with a Gaussian prior on the weights): a ridge (uniform,
                # JAW_CONFUSER_PRIOR times stronger on JAW_CONFUSERS) scaled by the clip's landmark
                # noise variance. Weak shape combinations that nearly
                # cancel (jawLeft + jawRight, eyeBlink + eyeWide) then stop soaking up landmark noise
                # on real video, while noise-free rig landmarks (round trip) stay unregularised.
                model = neutral[None, : C.NUM_MESH] + np.einsum("fk,knd->fnd", w, fit_basis)
                resid = target[:, : C.NUM_MESH, :2] - model[..., :2]
                resid = resid - np.median(resid, axis=0)  # the identity is not noise
                sigma2 = float(np.median((resid**2).mean((1, 2))))
                gram = self.gram + self.noise_prior * sigma2 * np.diag(self.prior_scale)
            if p == 1 and use_rest:
                w_rest = np.percentile(w, rest_percentile, axis=0)  # k
                neutral = neutral.copy()
                neutral[: C.NUM_MESH] += np.einsum("k,knd->nd", w_rest, fit_basis)
                neutral[C.NUM_MESH :] = C.iris_rest(neutral[: C.NUM_MESH])
                w = np.clip(w - w_rest, 0, 1)
            elif p + 1 < passes:
                # identity: the clip-median residual, minus what the basis could explain
                model = neutral[None, : C.NUM_MESH] + np.einsum("fk,knd->fnd", w, fit_basis)
                r = np.median(target[:, : C.NUM_MESH] - model, axis=0).reshape(-1)  # (n*3)
                r = r - self.span_q @ (self.span_q.T @ r)
                neutral = neutral.copy()
                neutral[: C.NUM_MESH] += r.reshape(C.NUM_MESH, 3)
                neutral[C.NUM_MESH :] = C.iris_rest(neutral[: C.NUM_MESH])
        codes = np.zeros((f, motion.MOTION_DIM))
        codes[:, FIT_SHAPES] = w
        codes[:, JAW_OPEN] = self._refit_jaw(lm, pose, neutral, codes[:, : motion.NUM_BLENDSHAPES])
        codes[:, motion.ROTATION] = matrix_to_euler(pose.rotation)
        s_med = float(np.median(pose.scale))
        codes[:, 54:56] = (pose.translation[:, :2] - np.median(pose.translation[:, :2], 0)) / s_med
        codes[:, 56] = pose.scale / s_med - 1
        codes[:, motion.GAZE] = gaze
        codes[:, list(EYE_LOOK)] = look
        return FaceFit(codes.astype(np.float32), pose, neutral.astype(np.float32), head.astype(np.float32))

    def _refit_jaw(self, lm: np.ndarray, pose: PoseFit, neutral: np.ndarray, w: np.ndarray) -> np.ndarray:
        """jawOpen [f] re-read in the image plane with the pose and every other shape held: the
        1-D least-squares fit of the lower inner lip's image x, y.

        Why: the joint fit de-poses with the landmark model's depth, which on an opening mouth is
        unreliable and tilts with head pitch, so there the open jaw partly reads as other shapes
        and pose; the image x, y of the lower lip are what the model sees best. On exact rig
        landmarks this returns the joint fit's own value (the others are already exact)."""
        basis = self.rig.basis[:, JAW_POINTS]  # 51 m 3
        others = w.copy()
        others[:, JAW_OPEN] = 0.0
        model = neutral[None, JAW_POINTS] + np.einsum("fk,kmd->fmd", others, basis)
        proj = pose.scale[:, None, None] * np.einsum("fij,fmj->fmi", pose.rotation, model) + pose.translation[:, None]
        jac = pose.scale[:, None, None] * np.einsum("fij,mj->fmi", pose.rotation, basis[JAW_OPEN])
        r = (lm[:, JAW_POINTS, :2] - proj[..., :2]).reshape(len(lm), -1)
        j = jac[..., :2].reshape(len(lm), -1)
        return np.clip((r * j).sum(1) / np.maximum((j * j).sum(1), 1e-12), 0.0, 1.0)

    @staticmethod
    def gaze(landmarks: np.ndarray, pose: PoseFit, neutral: np.ndarray) -> np.ndarray:
        """Gaze [f, 4] from the iris centres' image x, y (iris z from the model is unreliable):
        solve s R (ball + r d) + t = iris for the unit eye direction d facing the camera."""
        out = []
        for ball, iris_i in zip(eyeball_centres(neutral)[::-1], (C.LEFT_IRIS[0], C.RIGHT_IRIS[0])):
            centre = pose.scale[:, None] * np.einsum("fij,j->fi", pose.rotation, ball) + pose.translation  # f 3
            q = (landmarks[:, iris_i, :2] - centre[:, :2]) / (pose.scale[:, None] * C.EYEBALL_RADIUS)  # f 2
            n = np.linalg.norm(q, axis=-1, keepdims=True)
            q = np.where(n > 0.99, q * 0.99 / np.maximum(n, 1e-9), q)
            v = np.concatenate([q, -np.sqrt(1 - (q * q).sum(-1, keepdims=True))], -1)  # camera-frame direction
            d = np.einsum("fji,fj->fi", pose.rotation, v)  # head frame
            pitch = np.arcsin(np.clip(d[:, 1], -1, 1))
            yaw = np.arcsin(np.clip(-d[:, 0] / np.maximum(np.cos(pitch), 1e-6), -1, 1))
            out += [yaw, pitch]
        return np.stack(out, -1)  # left yaw, left pitch, right yaw, right pitch


# -- frames -> codes --------------------------------------------------------------------------
def _as_uint8(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [F, H, W, 3], got shape {frames.shape}")
    if frames.dtype == np.uint8:
        return frames
    return (np.clip(frames.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)


def detect_landmarks(
    frames: np.ndarray, where: str = "the reference video", callback: Callable[[int, int], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks [f, 478, 3] (NaN where no face) and found [f] for frames [f, h, w, 3]; callback(done, f)
    after each frame."""
    from .landmarks import FaceLandmarker

    frames = _as_uint8(frames)
    lm = FaceLandmarker()
    out = np.full((len(frames), C.NUM_POINTS, 3), np.nan, np.float32)
    found = np.zeros(len(frames), bool)
    for i, frame in enumerate(frames):
        pts = lm(frame, f"{where}, frame {i}")
        if pts is not None:
            out[i], found[i] = pts, True
        if callback:
            callback(i + 1, len(frames))
    return out, found


def track_frames(
    frames: np.ndarray, fps: float = motion.VIDEO_FPS, smooth: bool = True,
    min_cutoff: float = SMOOTH_MIN_CUTOFF, beta: float = SMOOTH_BETA,
    where: str = "the reference video", calibrated: bool = True, appearance: bool = True,
    adapt: AdaptConfig | None = None, callback: Callable[[int, int], None] | None = None,
    frame_callback: Callable[[int, int], None] | None = None, readers: Sequence[AppearanceReader] | None = None,
) -> TrackResult:  # fmt: skip
    """Frames [f, h, w, 3] (uint8, or float 0..1) -> codes [f, 61] at the same fps.

    calibrated: map the rig fit into the renderer's motion space (`calibration.Calibration`) and read the
    channels the landmarks miss from the pixels (`appearance`): the one space every part of the pack shares.
    False gives the raw rig fit (used to build the calibration). appearance=False leaves out the pixel
    read-out (used to train it). adapt: first fine-tune the read-out on renders of the clip's own face
    (`adaptation`, which states its cost; reported through callback(step, total)); readers: ones already adapted
    to this face (`AdaptedReader.readers`), for many clips of one face without adapting each. frame_callback(done, f):
    after each frame's landmarks. smooth: the One-Euro filter without lag (`motion.one_euro(zero_phase=True)`),
    so the motion stays in step with the clip's audio."""
    frames = _as_uint8(frames)
    landmarks, found = detect_landmarks(frames, where, frame_callback)
    if not found.any():
        raise ValueError(f"no face found in {where} ({len(found)} frames): use a clip that shows one face clearly")
    if not found.all():
        log.info("%s: no face in %d of %d frames; interpolated", where, int((~found).sum()), len(found))
    landmarks = interpolate_missing(landmarks, found)
    fit = RigFitter().fit(landmarks)
    codes = calibrate(fit.codes) if calibrated else fit.codes
    if calibrated and appearance:
        crops = appearance_crops(frames, landmarks)
        if adapt is not None and readers is None:
            from .adaptation import cached_adapt, rest_frame

            rest = np.nonzero(found)[0][rest_frame(crops[found])]
            try:
                readers = cached_adapt(frames[rest], adapt, callback).readers
            except ValueError as e:  # e.g. a face turned too far to render: the clip itself still tracks
                log.warning("%s: the tracker was not adapted to this face, read with the shipped one: %s", where, e)
        codes = read_appearance(crops, codes, readers)
    if smooth and len(codes) > 2:
        codes = motion.one_euro(codes, fps, min_cutoff=min_cutoff, beta=beta, zero_phase=True)
    return TrackResult(lids_from_gaze(codes), float(fps), found, landmarks, fit)


def lids_from_gaze(codes: np.ndarray) -> np.ndarray:
    """A clip's codes [f, 61] with eyeLook* following the gaze as read last (the calibration and the pixel
    read-out move the gaze, not them), measured from the clip's rest like every blendshape: a face that looks
    a little down throughout has its lids there at rest, as a portrait's own code has them (eyeLook* 0)."""
    import torch

    out = torch.from_numpy(motion.lids_follow_gaze(codes).astype(np.float32))
    return motion.from_rest(out, channels=list(EYE_LOOK)).numpy()


def calibrate(raw_codes: np.ndarray) -> np.ndarray:
    """Raw rig-fit codes [f, 61] -> the shared motion space (see `calibration`)."""
    from .calibration import Calibration

    return Calibration.load().apply(raw_codes)


def appearance_crops(frames: np.ndarray, landmarks: np.ndarray, cfg=None) -> np.ndarray:
    """Aligned face crops [f, s, s, 3] of frames [f, h, w, 3] as the appearance reader (or `cfg`) sees them."""
    from .appearance import aligned_crops, load_reader

    return aligned_crops(_as_uint8(frames), landmarks, cfg or load_reader().cfg)


def read_appearance(
    crops: np.ndarray, codes: np.ndarray, readers: Sequence[AppearanceReader] | None = None
) -> np.ndarray:
    """Calibrated codes [f, 61] of a clip with the channels the appearance reader reads replaced by what
    it reads from the clip's aligned crops [f, s, s, 3]; with several readers (the shipped one, then one
    adapted to the face), each replaces the channels it reads (its readouts map the rig fit's `codes`).

    Its blendshapes are measured from the clip's resting face like the rig fit's (`motion.from_rest`), within
    0..1; its gaze is absolute like the fit's."""
    from .appearance import load_reader

    out, shapes = codes, set()
    for reader in readers or (load_reader(),):
        out = reader.read(crops, out, fit=codes)
        shapes |= {
            motion.CHANNEL[n] for n in (*reader.used, *reader.readouts) if motion.CHANNEL[n] < motion.NUM_BLENDSHAPES
        }
    if shapes:
        import torch

        shapes = sorted(shapes)
        out = motion.from_rest(torch.from_numpy(out), channels=shapes).numpy()
        out[:, shapes] = np.clip(out[:, shapes], 0.0, 1.0)  # a clip too short for a rest is clipped too
    return out
