"""One channel (or several moved together) at 0, 0.125, 0.25, 0.5 and 1 on one of the calibration portraits, the
mouth zoomed in: a quick look at what the geometric renderer draws for a code, as the tracker is then asked to read it.

    .venv/bin/python scripts/render_strip.py obama2 mouthClose docs/images/open_mouth_closing.jpg
    .venv/bin/python scripts/render_strip.py hopper mouthFunnel+jawOpen /tmp/strip.png

Portraits: `calibration.calibration_portraits()` (astronaut crops, the bundled photos, `camera`). Each is drawn
relative to what the tracker reads from it, as in the calibration's round trips (blendshapes 0 = the portrait).
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image

from omnitalker_core import motion
from omnitalker_core.face.calibration import calibration_portraits, portrait_code
from omnitalker_core.face.render_geometric import GeometricRenderer
from omnitalker_core.pipeline import render_size

VALUES = (0.0, 0.125, 0.25, 0.5, 1.0)
TILE = (300, 200)


def main(name: str, channels: str, out: str) -> None:
    portrait = calibration_portraits()[name][0]
    w, h = render_size(portrait.shape[:2], 384)
    base = portrait_code(portrait, size=(w, h), calibrated=True, appearance=True)
    renderer = GeometricRenderer(portrait, size=(w, h), base_codes=base)
    codes = np.tile(base, (len(VALUES), 1)).astype(np.float32)
    codes[:, motion.BLENDSHAPES] = 0.0
    for channel in channels.split("+"):
        codes[:, motion.CHANNEL[channel]] = VALUES
    frames = np.asarray(renderer.render(codes))
    lm, s = renderer.face.landmarks[:, :2], renderer.face.s0
    x, y = lm[[61, 291, 0, 17]].mean(0)  # mouth corners, lip tops and bottoms
    box = (int(x - 0.9 * s), int(y - 0.6 * s), int(x + 0.9 * s), int(y + 0.6 * s))
    sheet = Image.new("RGB", (TILE[0] * len(VALUES), TILE[1]))
    for i, frame in enumerate(frames):
        sheet.paste(Image.fromarray(frame).crop(box).resize(TILE), (TILE[0] * i, 0))
    sheet.save(out, **({"quality": 85} if out.endswith(".jpg") else {}))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
