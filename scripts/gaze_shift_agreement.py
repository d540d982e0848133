"""How well the iris's drawn shift up and down follows the gaze pitch on random codes, per calibration portrait:
what the reader can at best see of the pitch in the eye itself (the lids that follow the gaze aside).

    .venv/bin/python scripts/gaze_shift_agreement.py obama2 obama hopper

Prints, for the left eye over 2,000 random-code frames at 320 px, the share of frames the bound on the shift holds
back (by more than 0.05 px) and Pearson r of the drawn shift, and of the unbounded one, against the pitch.
"""

from __future__ import annotations

import sys
from unittest import mock

import numpy as np

from omnitalker_core import motion
from omnitalker_core.face import eyeballs
from omnitalker_core.face.calibration import calibration_portraits, portrait_code, random_codes
from omnitalker_core.face.render_geometric import GeometricRenderer
from omnitalker_core.pipeline import render_size


def main(names: list[str]) -> None:
    codes = random_codes(np.random.default_rng(0), 2000).astype(np.float32)
    pitch = codes[:, motion.CHANNEL["leftEyePitch"]]
    for name in names:
        portrait = calibration_portraits()[name][0]
        size = render_size(portrait.shape[:2], 320)
        base = portrait_code(portrait, size=size, calibrated=True, appearance=True)
        r = GeometricRenderer(portrait, size=size, base_codes=base)
        dst = r.control_points(codes)  # as the renderer has them before it turns the irises
        drawn = r.eyes.shifts(codes, r.base, dst)[:, 1, 1]  # left eye, down
        with mock.patch.object(eyeballs, "MAX_SHIFT", 1e3), mock.patch.object(eyeballs, "MAX_SHIFT_UP_DOWN", 1e3):
            free = r.eyes.shifts(codes, r.base, dst)[:, 1, 1]
        held = np.mean(np.abs(free - drawn) > 0.05)
        print(
            f"{name}: bound holds back {held:.0%} of frames; r(pitch, drawn shift) {np.corrcoef(pitch, drawn)[0, 1]:.3f},"
            f" unbounded {np.corrcoef(pitch, free)[0, 1]:.3f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:] or ["obama2", "obama", "hopper"])
