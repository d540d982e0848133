"""Draw 61-D motion curves as an image (for the Motion Preview node): one panel per channel group.

Presentation only (PIL, no matplotlib): x = time in seconds at 25 fps, y = the channel's value; the
legend names the channels, so a user sees e.g. jawOpen following the syllables.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..omnitalker_core import motion as motion_lib

COLOURS = [
    (230, 80, 60), (60, 140, 230), (70, 180, 90), (220, 170, 40), (160, 90, 200), (40, 190, 190),
    (240, 120, 180), (120, 120, 120),
]  # fmt: skip

GROUPS: dict[str, tuple[str, ...]] = {
    "mouth": ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmileLeft", "mouthStretchLeft",
              "mouthLowerDownLeft", "mouthUpperUpLeft"),
    "eyes": ("eyeBlinkLeft", "eyeBlinkRight", "eyeWideLeft", "eyeSquintLeft", "leftEyeYaw", "leftEyePitch"),
    "brows": ("browInnerUp", "browDownLeft", "browOuterUpLeft", "cheekSquintLeft", "noseSneerLeft"),
    "head pose": motion_lib.POSE_NAMES,
}  # fmt: skip
PRESETS = {"all groups": tuple(GROUPS), **{name: (name,) for name in GROUPS}}


def draw_curves(
    codes: np.ndarray, fps: float, groups: tuple[str, ...], width: int = 1024, panel_height: int = 200
) -> np.ndarray:
    """codes [F, 61] -> uint8 image [H, W, 3] with one panel per group."""
    if codes.ndim != 2 or codes.shape[1] != motion_lib.MOTION_DIM:
        raise ValueError(f"motion must be [frames, {motion_lib.MOTION_DIM}], got shape {tuple(codes.shape)}")
    font = ImageFont.load_default()
    img = Image.new("RGB", (width, panel_height * len(groups)), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    frames = codes.shape[0]
    left, right, pad = 40, 150, 14
    plot_w = width - left - right
    for p, group in enumerate(groups):
        top = p * panel_height
        y0, y1 = top + pad, top + panel_height - pad
        names = GROUPS[group]
        idx = [motion_lib.CHANNEL[n] for n in names]
        vals = codes[:, idx]
        lo, hi = float(vals.min()), float(vals.max())
        if group != "head pose":
            lo, hi = min(lo, 0.0), max(hi, 1.0)
        if hi - lo < 1e-6:
            hi = lo + 1.0
        draw.rectangle([left, y0, left + plot_w, y1], outline=(180, 180, 180))
        draw.text((4, y0), f"{hi:.2g}", fill=(90, 90, 90), font=font)
        draw.text((4, y1 - 10), f"{lo:.2g}", fill=(90, 90, 90), font=font)
        draw.text((left + 4, y0 + 2), group, fill=(0, 0, 0), font=font)
        for s in range(int(frames / fps) + 1):  # a tick per second
            x = left + (s * fps / max(1, frames - 1)) * plot_w
            if x <= left + plot_w:
                draw.line([x, y1, x, y1 + 4], fill=(120, 120, 120))
        xs = left + np.arange(frames) / max(1, frames - 1) * plot_w
        for k, name in enumerate(names):
            colour = COLOURS[k % len(COLOURS)]
            ys = y1 - (vals[:, k] - lo) / (hi - lo) * (y1 - y0)
            if frames > 1:
                draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=colour, width=2)
            draw.text((left + plot_w + 8, y0 + 12 * k), name, fill=colour, font=font)
    return np.asarray(img, dtype=np.uint8)
