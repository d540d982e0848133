"""Eyeballs: gaze drawn by sliding the eye's contents inside its opening, not by warping the mesh.

Why: the iris is a few pixels inside an opening a few pixels tall. Dragging the iris control points of
the face mesh by the gaze folds the triangles between them and the lid contour, which stay put: at
±0.3 rad the iris smeared into black blobs over the lids (Biden, Obama; docs/MOTION_SPACE.md). Here the
mesh warp keeps the iris where the portrait has it, and this pass shifts everything inside each eye's
opening by the iris displacement, as a turning eyeball would; where the shift uncovers a part of the
opening that had nothing behind it, the eye's own white shows.

Shape legend: f - frames, h w - image, hb wb - the painted box.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import motion
from . import canonical as C
from .overlay import box_grid, clip_box, interp_columns, paint_box, paint_uint8
from .portrait_fit import FittedFace

EYES = ((C.RIGHT_EYE_UPPER, C.RIGHT_EYE_LOWER), (C.LEFT_EYE_UPPER, C.LEFT_EYE_LOWER))
IRIS_CENTRES = (468, 473)  # right eye, left eye (MediaPipe's refined order)
SCLERA_FALLBACK = (0.86, 0.82, 0.78)
MAX_SHIFT = 0.3  # of the opening's width, sideways
MIN_SHIFT = 0.05  # px: a frame whose irises move less is drawn as the portrait
# up and down, a smooth bound of this share of the opening's height (`_saturated`): cut off at 0.3, every pitch past
# 0.1 rad looked alike in a half-shut eye
MAX_SHIFT_UP_DOWN = 0.5


def _by_x(contour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A contour [k, 2] as (x, y) sorted by x, for np.interp."""
    order = np.argsort(contour[:, 0])
    return contour[order, 0], contour[order, 1]


def _saturated(shift: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """shift, bounded by limit (both [f]) smoothly, so a larger gaze always moves the iris further."""
    limit = np.maximum(limit, 1e-6)
    return limit * np.tanh(shift / limit)


def without_gaze(codes: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Codes [f, 61] with the gaze held at the portrait's own: what the mesh warp draws."""
    out = codes.copy()
    out[:, motion.GAZE] = base[motion.GAZE]
    return out


def _inside(upper: torch.Tensor, lower: torch.Tensor, cols: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Soft 0..1 [f, hb, wb]: pixel (column x cols [f, wb], row y [f, hb, wb]) lies between the lid contours
    upper and lower [f, k, 2] (half-pixel edges)."""
    y_u, y_l = interp_columns(upper, cols)[:, None], interp_columns(lower, cols)[:, None]
    xa, xb = upper[:, [0, -1], 0].min(1).values[:, None], upper[:, [0, -1], 0].max(1).values[:, None]
    in_x = (torch.sigmoid((cols - xa) / 0.5) * torch.sigmoid((xb - cols) / 0.5))[:, None]
    return in_x * torch.sigmoid((y - y_u) / 0.5) * torch.sigmoid((y_l - y) / 0.5)


class EyeBalls:
    """Both eyes of one fitted portrait [h, w, 3] uint8."""

    def __init__(self, face: FittedFace, portrait: np.ndarray):
        self.face = face
        self.height, self.width = portrait.shape[:2]
        self.sclera_rgb = self._sclera_colours(portrait)  # [2, 3] 0..1

    def _sclera_colours(self, portrait: np.ndarray) -> np.ndarray:
        """The white of each eye [2, 3] (0..1): the median of the brightest fifth of the pixels inside its
        opening (the iris, pupil and lashes are darker)."""
        from .opencv import cv2

        out = []
        for up, lo in EYES:
            contour = np.concatenate([self.face.landmarks[list(up), :2], self.face.landmarks[list(lo)[::-1], :2]])
            mask = np.zeros(portrait.shape[:2], np.uint8)
            cv2.fillPoly(mask, [np.round(contour).astype(np.int32)], 1)
            pixels = portrait[mask.astype(bool)].astype(np.float32) / 255.0
            if len(pixels) < 5:
                out.append(np.array(SCLERA_FALLBACK, np.float32))
                continue
            luma = pixels @ np.array([0.299, 0.587, 0.114], np.float32)
            out.append(np.median(pixels[luma >= np.quantile(luma, 0.8)], 0))
        return np.asarray(out, np.float32)

    def shifts(self, codes: np.ndarray, base: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Image displacement [f, 2, 2] of each iris centre (right eye, left eye) from where the control points
        dst [f, p, 2] (drawn without gaze) have it to where the gaze of codes [f, 61] turns it; at most MAX_SHIFT
        of the opening's width and about MAX_SHIFT_UP_DOWN of its height, so a narrow (smiling) eye still shows its
        iris when it looks up or aside, as a lid that follows the eye would let it."""
        with_gaze, _ = self.face.points(codes, base)
        held = dst[:, : with_gaze.shape[1]]
        out = (with_gaze - held)[:, list(IRIS_CENTRES)]
        for e, (up, lo) in enumerate(EYES):
            cx = held[:, IRIS_CENTRES[e], 0]
            top = np.array([np.interp(x, *_by_x(held[i, list(up)])) for i, x in enumerate(cx)])
            bottom = np.array([np.interp(x, *_by_x(held[i, list(lo)])) for i, x in enumerate(cx)])
            width = np.abs(held[:, up[-1], 0] - held[:, up[0], 0])
            out[:, e, 0] = np.clip(out[:, e, 0], -MAX_SHIFT * width, MAX_SHIFT * width)
            out[:, e, 1] = _saturated(out[:, e, 1], MAX_SHIFT_UP_DOWN * (bottom - top).clip(0))
        # the same frame drawn alone (no box, `box`) or beside frames that move their eyes: the same pixels
        out[(np.abs(out) <= MIN_SHIFT).all((1, 2))] = 0.0
        return out

    def box(self, dst: np.ndarray, shift: np.ndarray) -> tuple[int, int, int, int] | None:
        if not (np.abs(shift) > MIN_SHIFT).any():
            return None
        pts = dst[:, [i for up, lo in EYES for i in (*up, *lo)]].reshape(-1, 2)
        x0, y0 = np.floor(pts.min(0) - 3).astype(int)
        x1, y1 = np.ceil(pts.max(0) + 3).astype(int)
        return clip_box(x0, y0, x1, y1, self.width, self.height)

    def paint(
        self,
        frames: torch.Tensor,
        codes: np.ndarray,
        base: np.ndarray,
        dst: np.ndarray,
        box: tuple[int, int, int, int] | None = None,
        shift: np.ndarray | None = None,
    ) -> torch.Tensor:
        """Shift the contents of each eye opening (contours of control points dst [f, p, 2]) by the gaze.

        frames: [f, 3, h, w] float, the full image, or only `box` (x0, y0, x1, y1) of it; shift: `shifts`, when
        the caller has it."""
        shift = self.shifts(codes, base, dst) if shift is None else shift
        full_box = self.box(dst, shift)
        if full_box is None:
            return frames
        x0, y0, x1, y1 = full_box
        dev = frames.device
        ys, xs = box_grid(full_box, dev)
        col = xs[0]

        def shift_eyes(out: torch.Tensor) -> torch.Tensor:  # f 3 hb wb
            src_img = out
            hb, wb = ys.shape
            for e, (up, lo) in enumerate(EYES):
                u = torch.from_numpy(dst[:, list(up)]).float().to(dev)  # f 9 2
                lw = torch.from_numpy(dst[:, list(lo)]).float().to(dev)
                d = torch.from_numpy(shift[:, e]).float().to(dev)  # f 2

                f = len(d)
                cols_out, y_out = col[None].expand(f, -1), ys[None].expand(f, -1, -1)
                cols_src, y_src = cols_out - d[:, 0, None], y_out - d[:, 1, None, None]
                here, behind = _inside(u, lw, cols_out, y_out), _inside(u, lw, cols_src, y_src)
                x_src = cols_src[:, None].expand(-1, hb, -1)
                grid = torch.stack([(x_src - x0) / wb * 2 - 1, (y_src - y0) / hb * 2 - 1], -1)  # f hb wb 2
                moved = F.grid_sample(src_img, grid, mode="bilinear", padding_mode="border", align_corners=False)
                sclera = torch.from_numpy(self.sclera_rgb[e]).to(dev).view(1, 3, 1, 1)
                # the part of the opening the shift uncovers (nothing of it at zero shift: the portrait stays exact)
                uncovered = ((here - behind) / here.clamp_min(1e-6)).clamp(0, 1)[:, None]
                fill = moved + uncovered * (sclera - moved)
                out = out + here[:, None] * (fill - out)
            return out

        return paint_box(frames, full_box, box is not None, shift_eyes)

    def paint_uint8(self, frames: np.ndarray, codes: np.ndarray, base: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """`paint` on uint8 [f, h, w, 3] frames, touching only the eyes' bounding box."""
        shift = self.shifts(codes, base, dst)
        box = self.box(dst, shift)
        return paint_uint8(frames, box, lambda crop: self.paint(crop, codes, base, dst, box, shift))
