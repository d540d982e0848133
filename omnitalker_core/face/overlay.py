"""Helpers for the parts the geometric renderer paints over the warped photograph (lids, mouth).

Why: warping alone cannot close an eye or open a mouth (there is nothing in the photograph to
move into the gap), so those parts are painted as soft layers in a small box around them; the
layers share these helpers: contours as y(x) per pixel column, and running a float layer on a
box of uint8 frames without converting the whole image.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def interp_columns(pts: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear y(x) through points [f, k, 2] (any order), at columns x [w] (or per frame [f, w]) -> [f, w]."""
    order = pts[..., 0].argsort(-1)
    px = torch.gather(pts[..., 0], 1, order)
    py = torch.gather(pts[..., 1], 1, order)
    xq = (x if x.ndim == 2 else x[None]).expand(len(pts), -1).contiguous()
    i = torch.searchsorted(px.contiguous(), xq).clamp(1, px.shape[1] - 1)
    x0, x1 = torch.gather(px, 1, i - 1), torch.gather(px, 1, i)
    y0, y1 = torch.gather(py, 1, i - 1), torch.gather(py, 1, i)
    t = ((xq - x0) / (x1 - x0).clamp(min=1e-6)).clamp(0, 1)
    return y0 + t * (y1 - y0)


def clip_box(x0: int, y0: int, x1: int, y1: int, width: int, height: int) -> tuple[int, int, int, int] | None:
    """A pixel box (x1, y1 exclusive) clipped to the image; None when nothing of it is left."""
    x0, y0, x1, y1 = max(int(x0), 0), max(int(y0), 0), min(int(x1), width), min(int(y1), height)
    return None if x1 <= x0 or y1 <= y0 else (x0, y0, x1, y1)


def box_grid(box: tuple[int, int, int, int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates (ys, xs), each [hb, wb], of box (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    return torch.meshgrid(
        torch.arange(y0, y1, device=device) + 0.5, torch.arange(x0, x1, device=device) + 0.5, indexing="ij"
    )


def paint_box(
    frames: torch.Tensor, box: tuple[int, int, int, int], cropped: bool, paint: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """Apply `paint` (float [f, 3, hb, wb] -> same, not in place) to box (x0, y0, x1, y1) of frames [f, 3, h, w];
    cropped: `frames` are that box already (as `paint_uint8` hands them)."""
    if cropped:
        return paint(frames)
    x0, y0, x1, y1 = box
    out = frames.clone()
    out[:, :, y0:y1, x0:x1] = paint(frames[:, :, y0:y1, x0:x1])
    return out


def paint_uint8(
    frames: np.ndarray, box: tuple[int, int, int, int] | None, paint: Callable[[torch.Tensor], torch.Tensor]
) -> np.ndarray:
    """Apply `paint` (float [f, 3, hb, wb] 0..1 -> same) to box (x0, y0, x1, y1) of uint8 frames
    [f, h, w, 3] in place; None: nothing to paint."""
    if box is None:
        return frames
    x0, y0, x1, y1 = box
    crop = torch.from_numpy(frames[:, y0:y1, x0:x1]).permute(0, 3, 1, 2).float() / 255.0
    crop = paint(crop)
    frames[:, y0:y1, x0:x1] = (crop.permute(0, 2, 3, 1) * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
    return frames
