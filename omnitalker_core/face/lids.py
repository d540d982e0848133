"""Eyelids: painting the upper lid over the eye when it closes past where the portrait has it.

Why painted: warping alone cannot close an eye. The iris points hold the iris in place, and the
eye is only a few pixels tall, so a squeezed eye still shows its iris to a landmark model. When
the upper lid moves down past its rest position (blink, squint), the part of the eye it now
covers is painted as a lid: skin in the portrait's own lid colour, shaded towards the lid
margin, which carries a dark lash line.

Shape legend: f - frames, h w - image, hb wb - the painted box.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import motion
from . import canonical as C
from .overlay import box_grid, clip_box, interp_columns, paint_box, paint_uint8
from .portrait_fit import FittedFace

LASH_RGB = (0.10, 0.07, 0.06)
# MediaPipe mesh points on the cheeks (50, 280, 205, 425, 187, 411) and forehead (151, 108, 337)
SKIN_POINTS = (50, 280, 205, 425, 187, 411, 151, 108, 337)
LID_SHADE = 0.92  # a closed lid is a little darker than the cheeks
CLOSURE_FROM = 0.01  # a lid closed less is drawn as the portrait's; its layer fades in up to CLOSURE_FULL
CLOSURE_FULL = 0.15
MAX_LID_SKIN_DISTANCE = 0.35  # summed RGB distance (0..1 per channel) past which the band holds no lid skin
EYES = ((C.RIGHT_EYE_UPPER, C.RIGHT_EYE_LOWER), (C.LEFT_EYE_UPPER, C.LEFT_EYE_LOWER))
# shapes that move the lids: with them at their base values the upper lid rests where the portrait has it
LID_SHAPES = [
    i
    for i, n in enumerate(motion.BLENDSHAPE_NAMES)
    if n.startswith(("eyeBlink", "eyeSquint", "eyeWide", "eyeLookUp", "eyeLookDown"))
]


class EyeLids:
    """The two upper lids of one fitted portrait [h, w, 3] uint8."""

    def __init__(self, face: FittedFace, portrait: np.ndarray):
        self.face = face
        self.height, self.width = portrait.shape[:2]
        self.lid_rgb = self._lid_colours(portrait)  # [2, 3] 0..1, right and left upper lid skin

    def _lid_colours(self, portrait: np.ndarray) -> np.ndarray:
        """The portrait's upper-lid skin colour [2, 3] (0..1) per eye: the median of the pixels most like the
        face's skin in a band above the lid margin. The band alone also holds brows, lashes, shadow and glasses
        rims: a lid painted in a dark rim's colour reads as an open eye (Grace Hopper's glasses)."""
        skin = self._skin_colour(portrait)
        out = []
        for up, _ in EYES:
            c = self.face.landmarks[list(up[2:-2]), :2]
            x0, x1 = int(c[:, 0].min()), int(np.ceil(c[:, 0].max())) + 1
            y1 = int(c[:, 1].min() - 0.03 * self.face.s0)
            y0 = int(c[:, 1].min() - 0.15 * self.face.s0)
            patch = portrait[max(y0, 0) : max(y1, y0 + 1, 1), max(x0, 0) : x1].reshape(-1, 3) / 255.0
            if len(patch) < 4:
                out.append(skin * LID_SHADE)
                continue
            dist = np.abs(patch - skin).sum(-1)
            near = patch[dist <= np.quantile(dist, 0.4)]
            lid = np.median(near, 0)
            # no skin-like pixel above the lid at all (a thick rim, hair): the face's own skin, a little shaded
            out.append(lid if np.abs(lid - skin).sum() < MAX_LID_SKIN_DISTANCE else skin * LID_SHADE)
        return np.asarray(out, np.float32)

    def _skin_colour(self, portrait: np.ndarray) -> np.ndarray:
        """Median colour [3] (0..1) of small patches on the cheeks and forehead, where glasses, hair and lips
        rarely are; the median over all patches outvotes the ones that are covered."""
        r = max(1, int(0.06 * self.face.s0))
        h, w = portrait.shape[:2]
        pixels = []
        for x, y in self.face.landmarks[list(SKIN_POINTS), :2].astype(int):
            pixels.append(portrait[max(y - r, 0) : min(y + r + 1, h), max(x - r, 0) : min(x + r + 1, w)].reshape(-1, 3))
        pixels = np.concatenate(pixels)
        return np.median(pixels, 0) / 255.0 if len(pixels) else np.array([0.8, 0.6, 0.5])

    def upper_at_rest(self, codes: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Image x, y [f, 2, 9, 2] of both upper lid contours (right eye, left eye) for codes [f, 61]
        with the lid shapes held at their base values: where the lid margin would be without a blink."""
        idx = [i for up, _ in EYES for i in up]
        return self.face.subset_points(codes, base, idx, LID_SHAPES).reshape(len(codes), 2, -1, 2)

    def geometry(
        self, codes: np.ndarray, base: np.ndarray, dst: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Upper lid [f, 2, 9, 2], its rest position [f, 2, 9, 2], lower lid [f, 2, 9, 2] (image
        pixels) and the closure [f, 2] (0 = as open as the portrait, 1 = shut) of both eyes."""
        up = np.stack([dst[:, list(u)] for u, _ in EYES], 1)
        lo = np.stack([dst[:, list(lw)] for _, lw in EYES], 1)
        up0 = self.upper_at_rest(codes, base)
        inner = slice(2, -2)  # the middle of the contour (corners do not move)
        opening = (lo[:, :, inner, 1] - up0[:, :, inner, 1]).mean(-1)
        drop = (up[:, :, inner, 1] - up0[:, :, inner, 1]).mean(-1)
        closure = np.clip(drop / np.maximum(opening, 1e-3), 0.0, 1.0)
        return up, up0, lo, closure

    def box(self, up0: np.ndarray, lo: np.ndarray, closure: np.ndarray) -> tuple[int, int, int, int] | None:
        if not (closure > CLOSURE_FROM).any():
            return None
        pts = np.concatenate([up0, lo], 2).reshape(-1, 2)
        x0, y0 = np.floor(pts.min(0) - [2, 0.08 * self.face.s0 + 2]).astype(int)
        x1, y1 = np.ceil(pts.max(0) + 3).astype(int)
        return clip_box(x0, y0, x1, y1, self.width, self.height)

    def paint(
        self,
        frames: torch.Tensor,
        codes: np.ndarray,
        base: np.ndarray,
        dst: np.ndarray,
        box: tuple[int, int, int, int] | None = None,
    ) -> torch.Tensor:
        """Paint the closing upper lids: skin from the rest lid margin down to the current one,
        darker towards the margin, with a lash line along it.

        frames: [f, 3, h, w] float, the full image, or only `box` (x0, y0, x1, y1) of it."""
        up, up0, lo, closure = self.geometry(codes, base, dst)
        full_box = self.box(up0, lo, closure)
        if full_box is None:
            return frames
        dev = frames.device
        ys, xs = box_grid(full_box, dev)
        col = xs[0]
        ipd = self.face.s0
        lash_w = max(0.8, 0.025 * ipd)  # lash line thickness, px
        margin = max(0.8, 0.03 * ipd)  # also cover the portrait's own lash line above the rest margin
        colours = torch.from_numpy(self.lid_rgb).to(dev)
        lash_rgb = torch.tensor(LASH_RGB, device=dev).view(1, 3, 1, 1)

        def close_lids(out: torch.Tensor) -> torch.Tensor:  # f 3 hb wb
            for e in range(2):
                u = torch.from_numpy(up[:, e]).float().to(dev)  # f 9 2
                y_u = interp_columns(u, col)  # f wb
                y_u0 = interp_columns(torch.from_numpy(up0[:, e]).float().to(dev), col)
                y_l = interp_columns(torch.from_numpy(lo[:, e]).float().to(dev), col)
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
                # fade the layer in (no pop at a slight squint) from none at CLOSURE_FROM: a frame drawn alone (no
                # box below it) or beside blinking frames is then the same
                fade = (closure[:, e] - CLOSURE_FROM) / (CLOSURE_FULL - CLOSURE_FROM)
                a_frame = torch.from_numpy(np.clip(fade, 0, 1)).float().to(dev)
                alpha = (a_frame[:, None, None] * in_x[:, None] * torch.maximum(skin, lash))[:, None]
                out = out + alpha * (fill - out)
            return out

        return paint_box(frames, full_box, box is not None, close_lids)

    def paint_uint8(self, frames: np.ndarray, codes: np.ndarray, base: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """`paint` on uint8 [f, h, w, 3] frames, touching only the eyes' bounding box."""
        _, up0, lo, closure = self.geometry(codes, base, dst)
        box = self.box(up0, lo, closure)
        return paint_uint8(frames, box, lambda crop: self.paint(crop, codes, base, dst, box))
