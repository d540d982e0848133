"""Geometric renderer (weightless): portrait + per-frame motion codes -> frames.

Why this design: it must work on any portrait with no trained weights and run in real time on
a laptop CPU. The portrait's 478 landmarks are fitted once by the tracker (pose, expression,
identity); each frame re-poses and re-expresses that fitted mesh with the rig and warps the
photograph along with it:

1. control points = the face mesh + iris, a ring just outside the face that moves rigidly with
   the head (hair, ears), a wider static ring and the image border (background stays put);
2. their source positions are triangulated once (Delaunay); every pixel of a (half-resolution)
   flow grid gets its triangle's 3 vertex ids and barycentric weights, so a frame's forward flow
   is one gather + weighted sum (no per-triangle loop);
3. the forward flow is inverted by fixed-point iteration (p = q - flow(p)) with `grid_sample`,
   and the portrait is sampled once at full resolution;
4. when the jaw opens past the portrait's own mouth opening, the inner-lip polygon is filled
   with a dark cavity and a thin upper-teeth band (soft-edged); the cavity ends at the lower
   lip's inner edge, which the warp moves down with the jaw and chin (no lower-teeth band: a
   landmark model reads a bright band there as the lower lip and under-reads the opening);
5. when the upper lid moves down past where the portrait has it (blink, squint), the part of the
   eye it now covers is painted as a lid: skin in the portrait's own lid colour, shaded towards
   the lid margin, which carries a dark lash line. (Warping alone cannot close an eye: the iris
   points hold the iris in place, and the eye is only a few pixels tall, so a squeezed eye still
   shows its iris to a landmark model.)

With zero motion (codes equal to the base code) every displacement is exactly zero, so the
output equals the portrait: no jitter at rest.

Shape legend: f - frames, p - control points, h w - image, g - flow grid pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import Delaunay

from .. import motion
from . import canonical as C
from .rig import FaceRig, euler_to_matrix, eyeball_centres
from .tracker import FaceFit, RigFitter

log = logging.getLogger(__name__)

INNER_LIP_POLYGON = C.UPPER_LIP_INNER + C.LOWER_LIP_INNER[-2:0:-1]  # closed loop, 20 points
CAVITY_RGB = (0.16, 0.06, 0.06)
LASH_RGB = (0.10, 0.07, 0.06)
EYES = ((C.RIGHT_EYE_UPPER, C.RIGHT_EYE_LOWER), (C.LEFT_EYE_UPPER, C.LEFT_EYE_LOWER))
# shapes that move the lids: with them at their base values the upper lid rests where the portrait has it
LID_SHAPES = [
    i
    for i, n in enumerate(motion.BLENDSHAPE_NAMES)
    if n.startswith(("eyeBlink", "eyeSquint", "eyeWide", "eyeLookUp", "eyeLookDown"))
]
UPPER_TEETH_RGB = (0.88, 0.86, 0.80)
# the opened mouth, in inter-ocular units: upper teeth only as a thin band under the upper lip, and
# no lower-teeth band. A bright band along the lower lip's inner edge reads to a landmark model as
# the lower lip itself (the mouth then reads half as open as it is, and the error changes with
# head pose); the lower lip's edge must be where the cavity ends. The cavity fades in over a small
# opening past the portrait's own (a barely parted mouth already reads as parted).
TEETH_BAND = 0.05
MOUTH_FADE_START = 0.01
MOUTH_FADE_WIDTH = 0.04


def _as_codes(codes: np.ndarray | torch.Tensor) -> np.ndarray:
    c = codes.detach().cpu().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes)
    c = c.astype(np.float32)
    if c.ndim != 2 or c.shape[1] != motion.MOTION_DIM:
        raise ValueError(f"codes must be [frames, {motion.MOTION_DIM}], got shape {c.shape}")
    return c


def fit_portrait(portrait: np.ndarray) -> tuple[np.ndarray, FaceFit]:
    """Landmarks [478, 3] and rig fit of the face in a portrait [h, w, 3] uint8."""
    from .landmarks import FaceLandmarker

    pts = FaceLandmarker()(portrait, "the portrait")
    if pts is None:
        raise ValueError(
            f"no face found in the portrait ({portrait.shape[1]}x{portrait.shape[0]}): use a photo with one clearly visible face"
        )
    return pts, RigFitter().fit(pts[None])


class GeometricRenderer:
    """Animate one portrait with 61-D motion codes.

    portrait: RGB uint8 [H, W, 3]. size: output (width, height) or None for the portrait's size.
    base_codes: the code [61] the portrait itself shows (e.g. its tracked code in the reference
    video); codes are rendered relative to it. None: codes are offsets from the portrait (all
    zeros = the portrait unchanged).
    """

    def __init__(
        self,
        portrait: np.ndarray,
        size: tuple[int, int] | None = None,
        base_codes: np.ndarray | None = None,
        device: str | torch.device = "cpu",
        flow_downscale: int = 2,
        landmarks: np.ndarray | None = None,
    ):
        portrait = np.asarray(portrait)
        if portrait.ndim != 3 or portrait.shape[2] != 3 or portrait.dtype != np.uint8:
            raise ValueError(f"portrait must be an RGB uint8 image [H, W, 3], got {portrait.dtype} {portrait.shape}")
        if size is not None and tuple(size) != (portrait.shape[1], portrait.shape[0]):
            from .opencv import cv2

            portrait = cv2.resize(portrait, tuple(int(v) for v in size), interpolation=cv2.INTER_AREA)
        self.height, self.width = portrait.shape[:2]
        self.device = torch.device(device)
        self.rig = FaceRig.default()
        if landmarks is None:
            pts, fit = fit_portrait(portrait)
        else:
            pts = np.asarray(landmarks, np.float32)
            fit = RigFitter().fit(pts[None])
        self.landmarks = pts  # [478, 3]
        self.fit = fit
        self.base = (
            np.zeros(motion.MOTION_DIM, np.float32)
            if base_codes is None
            else _as_codes(np.asarray(base_codes)[None])[0]
        )
        self.head = fit.head_points[0].astype(np.float64)  # [478, 3] the portrait's own mesh, head frame
        self.s0 = float(fit.pose.scale[0])
        self.r0 = fit.pose.rotation[0]
        self.t0 = fit.pose.translation[0]
        self.balls = eyeball_centres(fit.neutral.astype(np.float64))  # right, left
        self._build_control_points()
        self._build_flow_grid(flow_downscale)
        self.portrait = np.ascontiguousarray(portrait)
        self.lid_rgb = self._lid_colours()  # [2, 3] 0..1, right and left upper lid skin
        self.image = torch.from_numpy(portrait).to(self.device).permute(2, 0, 1)[None].float() / 255.0  # 1 3 h w
        self.map_x, self.map_y = np.meshgrid(
            np.arange(self.width, dtype=np.float32), np.arange(self.height, dtype=np.float32)
        )

    # -- set-up ------------------------------------------------------------------------------
    def _build_control_points(self) -> None:
        head = self.head
        oval = head[list(C.FACE_OVAL)]  # o 3
        centre = head[: C.NUM_MESH].mean(0)
        # rigid ring (hair, ears): 25% outside the face oval, same depth as the oval
        ring = oval.copy()
        ring[:, :2] = centre[:2] + 1.25 * (oval[:, :2] - centre[:2])
        self.ring_head = ring
        # below the chin line the ring half-follows the head (neck and collar stretch)
        self.ring_follow = np.where(ring[:, 1] > head[C.CHIN, 1] - 0.3, 0.5, 1.0)
        src_face = self.landmarks[:, :2].astype(np.float64)
        src_ring = self._project(ring[None], np.eye(3)[None], np.array([self.s0]), self.t0[None])[0]
        # static ring and image border
        c2 = src_face.mean(0)
        src_far = c2 + 2.2 * (src_face[list(C.FACE_OVAL)] - c2)
        w, h = self.width, self.height
        n = 8
        t = np.linspace(0, 1, n, endpoint=False)
        border = np.concatenate(
            [
                np.stack([t * w, np.zeros(n)], 1),
                np.stack([np.full(n, w), t * h], 1),
                np.stack([w - t * w, np.full(n, h)], 1),
                np.stack([np.zeros(n), h - t * h], 1),
            ]
        )
        border = (border - [w / 2, h / 2]) * 1.02 + [w / 2, h / 2]  # just outside the image
        self.n_face, self.n_ring = len(src_face), len(src_ring)
        self.src = np.concatenate([src_face, src_ring, src_far, border]).astype(np.float64)  # p 2

    def _project(self, head_pts: np.ndarray, r_delta: np.ndarray, scale: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Head-frame points [f, n, 3] -> image x, y [f, n, 2] with rotation r_delta @ R0."""
        rot = np.einsum("fij,jk->fik", r_delta, self.r0)
        return (scale[:, None, None] * np.einsum("fij,fnj->fni", rot, head_pts) + t[:, None])[..., :2]

    def _build_flow_grid(self, down: int) -> None:
        gh, gw = max(1, self.height // down), max(1, self.width // down)
        self.grid_hw = (gh, gw)
        ys = (np.arange(gh) + 0.5) * self.height / gh
        xs = (np.arange(gw) + 0.5) * self.width / gw
        q = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)  # g 2 (pixel-centre coordinates)
        tri = Delaunay(self.src)
        simplex = tri.find_simplex(q)
        inside = simplex >= 0
        simplex = np.where(inside, simplex, 0)
        trans = tri.transform[simplex]  # g 3 2
        b2 = np.einsum("gij,gj->gi", trans[:, :2], q - trans[:, 2])
        bary = np.concatenate([b2, 1 - b2.sum(1, keepdims=True)], 1) * inside[:, None]  # g 3
        self.tri_idx = torch.from_numpy(tri.simplices[simplex].astype(np.int64)).to(self.device)  # g 3
        self.tri_w = torch.from_numpy(bary.astype(np.float32)).to(self.device)  # g 3
        import scipy.sparse as sp

        rows = np.repeat(np.arange(len(q)), 3)
        self.bary_csr = sp.csr_matrix(
            (bary.reshape(-1).astype(np.float32), (rows, tri.simplices[simplex].reshape(-1))),
            shape=(len(q), len(self.src)),
        )
        self.src_t = torch.from_numpy(self.src.astype(np.float32)).to(self.device)
        self.px_to_norm = torch.tensor([2.0 / self.width, 2.0 / self.height], device=self.device)
        self.q_grid = _pixel_grid(gh, gw, self.device)
        self.q_full = _pixel_grid(self.height, self.width, self.device)

    # -- per frame ---------------------------------------------------------------------------
    def control_points(self, codes: np.ndarray) -> np.ndarray:
        """Destination image positions [f, p, 2] of all control points for codes [f, 61]."""
        d = codes - self.base[None]
        f = len(d)
        head = self.head[None] + np.einsum("fk,knd->fnd", d[:, motion.BLENDSHAPES], self.rig.basis)  # f 478 3
        # gaze: turn the portrait's own iris points about the eyeball by the gaze change
        for ball, (yaw_i, pitch_i), sl in (
            (self.balls[1], (0, 1), slice(473, 478)),
            (self.balls[0], (2, 3), slice(468, 473)),
        ):
            g = codes[:, motion.GAZE]
            gb = self.base[motion.GAZE]
            r = (
                euler_to_matrix(g[:, pitch_i], g[:, yaw_i], np.zeros(f))
                @ euler_to_matrix(gb[pitch_i], gb[yaw_i], 0.0).T
            )
            head[:, sl] = ball + np.einsum("fij,nj->fni", r, self.head[sl] - ball)
        r_delta = euler_to_matrix(d[:, 51], d[:, 52], d[:, 53])  # f 3 3
        scale = self.s0 * (1 + d[:, 56])
        t = self.t0[None] + self.s0 * np.stack([d[:, 54], d[:, 55], np.zeros(f)], 1)
        face = self._project(head, r_delta, scale, t)  # f 478 2
        ring_rigid = self._project(np.broadcast_to(self.ring_head, (f,) + self.ring_head.shape), r_delta, scale, t)
        ring_src = self.src[self.n_face : self.n_face + self.n_ring]
        ring = ring_src + self.ring_follow[None, :, None] * (ring_rigid - ring_src)
        rest = np.broadcast_to(
            self.src[self.n_face + self.n_ring :], (f,) + self.src[self.n_face + self.n_ring :].shape
        )
        return np.concatenate([face, ring, rest], 1)

    def _upper_lids_at_rest(self, codes: np.ndarray) -> np.ndarray:
        """Image x, y [f, 2, 9, 2] of both upper lid contours (right eye, left eye) for codes [f, 61]
        with the lid shapes held at their base values: where the lid margin would be without a blink."""
        d = codes - self.base[None]
        d[:, LID_SHAPES] = 0.0
        idx = [i for up, _ in EYES for i in up]
        head = self.head[None, idx] + np.einsum("fk,knd->fnd", d[:, motion.BLENDSHAPES], self.rig.basis[:, idx])
        r_delta = euler_to_matrix(d[:, 51], d[:, 52], d[:, 53])
        scale = self.s0 * (1 + d[:, 56])
        t = self.t0[None] + self.s0 * np.stack([d[:, 54], d[:, 55], np.zeros(len(d))], 1)
        return self._project(head, r_delta, scale, t).reshape(len(d), 2, -1, 2)

    def _lid_geometry(
        self, codes: np.ndarray, dst: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Upper lid [f, 2, 9, 2], its rest position [f, 2, 9, 2], lower lid [f, 2, 9, 2] (image
        pixels) and the closure [f, 2] (0 = as open as the portrait, 1 = shut) of both eyes."""
        up = np.stack([dst[:, list(u)] for u, _ in EYES], 1)
        lo = np.stack([dst[:, list(lw)] for _, lw in EYES], 1)
        up0 = self._upper_lids_at_rest(codes)
        inner = slice(2, -2)  # the middle of the contour (corners do not move)
        opening = (lo[:, :, inner, 1] - up0[:, :, inner, 1]).mean(-1)
        drop = (up[:, :, inner, 1] - up0[:, :, inner, 1]).mean(-1)
        closure = np.clip(drop / np.maximum(opening, 1e-3), 0.0, 1.0)
        return up, up0, lo, closure

    def _lids_box(self, up0: np.ndarray, lo: np.ndarray, closure: np.ndarray) -> tuple[int, int, int, int] | None:
        if not (closure > 0.01).any():
            return None
        pts = np.concatenate([up0, lo], 2).reshape(-1, 2)
        x0, y0 = np.floor(pts.min(0) - [2, 0.08 * self.s0 + 2]).astype(int)
        x1, y1 = np.ceil(pts.max(0) + 3).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.width), min(y1, self.height)
        if x1 <= x0 or y1 <= y0:
            return None
        return int(x0), int(y0), int(x1), int(y1)

    def _lid_colours(self) -> np.ndarray:
        """The portrait's upper-lid skin colour [2, 3] (0..1) per eye: median of a band above the
        lid margin, over the middle of the eye."""
        out = []
        for up, _ in EYES:
            c = self.landmarks[list(up[2:-2]), :2]
            x0, x1 = int(c[:, 0].min()), int(np.ceil(c[:, 0].max())) + 1
            y1 = int(c[:, 1].min() - 0.05 * self.s0)
            y0 = int(c[:, 1].min() - 0.12 * self.s0)
            patch = self.portrait[max(y0, 0) : max(y1, y0 + 1, 1), max(x0, 0) : x1].reshape(-1, 3)
            out.append(np.median(patch, 0) / 255.0 if len(patch) else np.array([0.8, 0.6, 0.5]))
        return np.asarray(out, np.float32)

    def _lids(
        self, frames: torch.Tensor, codes: np.ndarray, dst: np.ndarray, box: tuple[int, int, int, int] | None = None
    ) -> torch.Tensor:
        """Paint the closing upper lids: skin from the rest lid margin down to the current one,
        darker towards the margin, with a lash line along it.

        frames: [f, 3, h, w] float, the full image, or only `box` (x0, y0, x1, y1) of it."""
        up, up0, lo, closure = self._lid_geometry(codes, dst)
        full_box = self._lids_box(up0, lo, closure)
        if full_box is None:
            return frames
        x0, y0, x1, y1 = full_box
        dev = frames.device
        ys, xs = torch.meshgrid(
            torch.arange(y0, y1, device=dev) + 0.5, torch.arange(x0, x1, device=dev) + 0.5, indexing="ij"
        )
        col = xs[0]
        ipd = self.s0
        lash_w = max(0.8, 0.025 * ipd)  # lash line thickness, px
        margin = max(0.8, 0.03 * ipd)  # also cover the portrait's own lash line above the rest margin
        colours = torch.from_numpy(self.lid_rgb).to(dev)
        lash_rgb = torch.tensor(LASH_RGB, device=dev).view(1, 3, 1, 1)
        out = frames if box is not None else frames[:, :, y0:y1, x0:x1]
        out = out.clone()
        for e in range(2):
            u = torch.from_numpy(up[:, e]).float().to(dev)  # f 9 2
            y_u = _interp_columns(u, col)  # f wb
            y_u0 = _interp_columns(torch.from_numpy(up0[:, e]).float().to(dev), col)
            y_l = _interp_columns(torch.from_numpy(lo[:, e]).float().to(dev), col)
            y_u = torch.minimum(y_u, y_l)
            top = torch.minimum(y_u0, y_u) - margin
            xa, xb = u[:, [0, -1], 0].min(1).values, u[:, [0, -1], 0].max(1).values  # f
            in_x = torch.sigmoid((col[None] - xa[:, None]) / 0.5) * torch.sigmoid(
                (xb[:, None] - col[None]) / 0.5
            )  # f wb
            rel = ys[None] - top[:, None]  # f hb wb, 0 at the top of the lid
            span = (y_u - top).clamp(min=1e-3)[:, None]
            skin = torch.sigmoid(rel / 0.5) * torch.sigmoid((y_u[:, None] - ys[None]) / 0.5)
            lash = torch.sigmoid((ys[None] - (y_u[:, None] - lash_w)) / 0.5) * torch.sigmoid(
                (y_u[:, None] + 0.4 - ys[None]) / 0.4
            )
            shade = 1 - 0.1 * (rel / span).clamp(0, 1)  # the lid darkens towards its margin
            fill = colours[e].view(1, 3, 1, 1) * shade[:, None]
            fill = fill + (0.9 * lash)[:, None] * (lash_rgb - fill)
            # fade the layer in over the first 15% of the closure (no pop at a slight squint)
            a_frame = torch.from_numpy(np.clip(closure[:, e] / 0.15, 0, 1)).float().to(dev)
            alpha = (a_frame[:, None, None] * in_x[:, None] * torch.maximum(skin, lash))[:, None]
            out = out + alpha * (fill - out)
        if box is not None:
            return out
        res = frames.clone()
        res[:, :, y0:y1, x0:x1] = out
        return res

    def _lids_uint8(self, frames: np.ndarray, codes: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """`_lids` on uint8 [f, h, w, 3] frames, touching only the eyes' bounding box."""
        _, up0, lo, closure = self._lid_geometry(codes, dst)
        box = self._lids_box(up0, lo, closure)
        if box is None:
            return frames
        x0, y0, x1, y1 = box
        crop = torch.from_numpy(frames[:, y0:y1, x0:x1]).permute(0, 3, 1, 2).float() / 255.0
        crop = self._lids(crop, codes, dst, box)
        frames[:, y0:y1, x0:x1] = (crop.permute(0, 2, 3, 1) * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
        return frames

    def _backward_grid(self, dst: torch.Tensor) -> torch.Tensor:
        """Sampling grid [f, h, w, 2] (normalised, for grid_sample) from control points [f, p, 2]."""
        f = dst.shape[0]
        gh, gw = self.grid_hw
        disp = dst - self.src_t[None]  # f p 2
        flow = (disp[:, self.tri_idx] * self.tri_w[None, :, :, None]).sum(2)  # f g 2 (pixels)
        flow = flow.reshape(f, gh, gw, 2) * self.px_to_norm  # f gh gw 2, normalised units
        flow_c = flow.permute(0, 3, 1, 2)  # f 2 gh gw
        q = self.q_grid  # 1 gh gw 2
        # invert the forward flow on the coarse grid: p = q - flow(p), a few fixed-point steps
        p = q - flow
        for _ in range(2):
            p = q - F.grid_sample(flow_c, p, mode="bilinear", padding_mode="border", align_corners=False).permute(
                0, 2, 3, 1
            )
        if (gh, gw) == (self.height, self.width):
            return p
        back = (p - q).permute(0, 3, 1, 2)  # f 2 gh gw: backward displacement, smooth
        back = F.interpolate(back, size=(self.height, self.width), mode="bilinear", align_corners=False)
        return self.q_full + back.permute(0, 2, 3, 1)

    def _mouth_alpha(self, dst: np.ndarray) -> np.ndarray:
        """Per-frame opacity [f] of the mouth fill: how far the lips opened past the portrait's."""
        ipd = self.s0
        up_c, lo_c = C.UPPER_LIP_INNER[5], C.LOWER_LIP_INNER[5]
        gap = dst[:, lo_c, 1] - dst[:, up_c, 1]  # f
        gap0 = float(self.landmarks[lo_c, 1] - self.landmarks[up_c, 1])
        return np.clip((gap - gap0 - MOUTH_FADE_START * ipd) / (MOUTH_FADE_WIDTH * ipd), 0.0, 1.0)

    def _mouth_box(self, dst: np.ndarray) -> tuple[int, int, int, int] | None:
        if not (self._mouth_alpha(dst) > 0).any():
            return None
        poly = dst[:, list(INNER_LIP_POLYGON)]  # f 20 2
        x0, y0 = np.floor(poly.min((0, 1))).astype(int) - 2
        x1, y1 = np.ceil(poly.max((0, 1))).astype(int) + 3
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.width), min(y1, self.height)
        if x1 <= x0 or y1 <= y0:
            return None
        return int(x0), int(y0), int(x1), int(y1)

    def _mouth(
        self, frames: torch.Tensor, dst: np.ndarray, box: tuple[int, int, int, int] | None = None
    ) -> torch.Tensor:
        """Fill the opened mouth: cavity + teeth, faded in by how far it opened past the portrait.

        frames: [f, 3, h, w] float, the full image, or only `box` (x0, y0, x1, y1) of it."""
        ipd = self.s0
        alpha = self._mouth_alpha(dst)
        full_box = self._mouth_box(dst)
        if full_box is None:
            return frames
        x0, y0, x1, y1 = full_box
        poly = dst[:, list(INNER_LIP_POLYGON)]  # f 20 2
        dev = frames.device
        from .opencv import cv2

        hb, wb = y1 - y0, x1 - x0
        masks = np.zeros((len(dst), hb, wb), np.uint8)
        for i in range(len(dst)):  # one filled polygon per frame (sub-pixel, anti-aliased)
            if alpha[i] > 0:
                pts = np.round((poly[i] - [x0 + 0.5, y0 + 0.5]) * 16).astype(np.int32)
                cv2.fillPoly(masks[i], [pts], 255, lineType=cv2.LINE_AA, shift=4)
        soft = torch.from_numpy(masks).to(dev).float()[:, None] / 255.0  # f 1 hb wb
        ys, xs = torch.meshgrid(
            torch.arange(y0, y1, device=dev) + 0.5, torch.arange(x0, x1, device=dev) + 0.5, indexing="ij"
        )
        # upper teeth band below the upper inner lip, per column
        up_pts = torch.from_numpy(dst[:, list(C.UPPER_LIP_INNER)]).float().to(dev)  # f 11 2
        lo_pts = torch.from_numpy(dst[:, list(C.LOWER_LIP_INNER)]).float().to(dev)
        y_up = _interp_columns(up_pts, xs[0])  # f wb
        y_lo = _interp_columns(lo_pts, xs[0])
        rel_up = ys[None] - y_up[:, None]  # f hb wb
        mouth_h = (y_lo - y_up).clamp(min=1.0)[:, None]
        upper_t = torch.sigmoid((TEETH_BAND * ipd - rel_up) / 1.0) * torch.sigmoid((rel_up + 1.0) / 1.0)
        upper_t = upper_t * (rel_up < 0.45 * mouth_h).float()
        depth = (1 - 0.5 * (rel_up / mouth_h).clamp(0, 1))[:, None]  # darker towards the lower lip's edge
        cavity = torch.tensor(CAVITY_RGB, device=dev).view(1, 3, 1, 1) * depth
        fill = cavity
        fill = fill + upper_t[:, None] * (torch.tensor(UPPER_TEETH_RGB, device=dev).view(1, 3, 1, 1) - fill)
        a_t = torch.from_numpy(alpha).float().to(dev).view(-1, 1, 1, 1) * soft
        if box is not None:  # frames is the box crop already
            return frames + a_t * (fill - frames)
        out = frames.clone()
        region = out[:, :, y0:y1, x0:x1]
        out[:, :, y0:y1, x0:x1] = region + a_t * (fill - region)
        return out

    def _remap_cpu(self, dst: np.ndarray) -> np.ndarray:
        """CPU path (numpy + OpenCV, fastest there): control points [f, p, 2] -> uint8 [f, h, w, 3]."""
        from .opencv import cv2

        f = len(dst)
        gh, gw = self.grid_hw
        disp = (dst - self.src[None]).astype(np.float32)  # f p 2
        flow = self.bary_csr @ disp.transpose(1, 0, 2).reshape(len(self.src), f * 2)  # g (f*2), pixels
        flow = flow.reshape(gh, gw, f, 2).transpose(2, 0, 1, 3)  # f gh gw 2
        kx, ky = gw / self.width, gh / self.height  # full-res pixels -> coarse grid index units
        qx, qy = np.meshgrid(np.arange(gw, dtype=np.float32), np.arange(gh, dtype=np.float32))
        out = np.empty((f, self.height, self.width, 3), np.uint8)
        for i in range(f):  # one remap chain per frame
            fl = np.ascontiguousarray(flow[i])
            # invert p = q - flow(p) on the coarse grid (coarse index units)
            bx, by = -fl[..., 0] * kx, -fl[..., 1] * ky
            for _ in range(2):
                s_ = cv2.remap(fl, qx + bx, qy + by, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                bx, by = -s_[..., 0] * kx, -s_[..., 1] * ky
            back = cv2.resize(
                np.stack([bx / kx, by / ky], -1), (self.width, self.height), interpolation=cv2.INTER_LINEAR
            )
            out[i] = cv2.remap(
                self.portrait,
                self.map_x + back[..., 0],
                self.map_y + back[..., 1],
                cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
        return out

    @torch.inference_mode()
    def render_tensor(self, codes: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Codes [f, 61] -> float frames [f, 3, h, w] in 0..1 on the renderer's device (torch path)."""
        c = _as_codes(codes)
        dst_np = self.control_points(c)  # f p 2
        dst = torch.from_numpy(dst_np.astype(np.float32)).to(self.device)
        grid = self._backward_grid(dst)
        frames = F.grid_sample(
            self.image.expand(len(c), -1, -1, -1), grid, mode="bilinear", padding_mode="border", align_corners=False
        )
        return self._mouth(self._lids(frames, c, dst_np), dst_np)

    @torch.inference_mode()
    def render_with_flow(self, codes: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames [f, 3, h, w] (0..1) and their backward warp [f, 2, h, w] (normalised offsets of
        the sampling grid from identity): the inputs of the GAN renderer."""
        c = _as_codes(codes)
        dst_np = self.control_points(c)
        grid = self._backward_grid(torch.from_numpy(dst_np.astype(np.float32)).to(self.device))
        frames = F.grid_sample(
            self.image.expand(len(c), -1, -1, -1), grid, mode="bilinear", padding_mode="border", align_corners=False
        )
        return self._mouth(self._lids(frames, c, dst_np), dst_np), (grid - self.q_full).permute(0, 3, 1, 2)

    def render_iter(self, codes: np.ndarray | torch.Tensor, batch: int = 8) -> Iterator[np.ndarray]:
        """Yield uint8 frames [b, h, w, 3] in chunks of `batch` (progress bars, cancelling)."""
        c = _as_codes(codes)
        for i in range(0, len(c), batch):
            chunk = c[i : i + batch]
            if self.device.type == "cpu":
                dst = self.control_points(chunk)
                frames = self._lids_uint8(self._remap_cpu(dst), chunk, dst)
                yield self._mouth_uint8(frames, dst)
            else:
                out = self.render_tensor(chunk)
                yield out.permute(0, 2, 3, 1).mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()

    def _mouth_uint8(self, frames: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """`_mouth` on uint8 [f, h, w, 3] frames, touching only the mouth's bounding box."""
        box = self._mouth_box(dst)
        if box is None:
            return frames
        x0, y0, x1, y1 = box
        crop = torch.from_numpy(frames[:, y0:y1, x0:x1]).permute(0, 3, 1, 2).float() / 255.0
        crop = self._mouth(crop, dst, box)
        frames[:, y0:y1, x0:x1] = (crop.permute(0, 2, 3, 1) * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
        return frames

    def render(self, codes: np.ndarray | torch.Tensor, batch: int = 8) -> np.ndarray:
        """Codes [f, 61] -> uint8 frames [f, h, w, 3]."""
        chunks = list(self.render_iter(codes, batch))
        if not chunks:
            return np.zeros((0, self.height, self.width, 3), np.uint8)
        return np.concatenate(chunks)


def _pixel_grid(h: int, w: int, device: torch.device) -> torch.Tensor:
    """Normalised (align_corners=False) coordinates of pixel centres, [1, h, w, 2] as (x, y)."""
    ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h, device=device)
    xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w, device=device)
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)[None]


def _interp_columns(pts: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear y(x) through points [f, k, 2] (any order), at columns x [w] -> [f, w]."""
    order = pts[..., 0].argsort(-1)
    px = torch.gather(pts[..., 0], 1, order)
    py = torch.gather(pts[..., 1], 1, order)
    xq = x[None].expand(len(pts), -1).contiguous()
    i = torch.searchsorted(px.contiguous(), xq).clamp(1, px.shape[1] - 1)
    x0, x1 = torch.gather(px, 1, i - 1), torch.gather(px, 1, i)
    y0, y1 = torch.gather(py, 1, i - 1), torch.gather(py, 1, i)
    t = ((xq - x0) / (x1 - x0).clamp(min=1e-6)).clamp(0, 1)
    return y0 + t * (y1 - y0)
