"""How well the tracker reads the key channels of a face moving about its own head pose: the case of a user's
reference clip or photo, which rests where the person holds their head (the photos here rest at a head pitch of
-0.18 to +0.27 rad, chin down > 0), not where the rig's pose is zero.

    .venv/bin/python scripts/own_pose_agreement.py hopper obama astronaut_mirrored_crop
    .venv/bin/python scripts/own_pose_agreement.py --absolute hopper   # the same codes about the rig's zero pose

Per held-out portrait: the calibration's random codes (`calibration.random_codes`, 500 frames at 320 px) with their
head rotation added to the portrait's own, rendered and tracked back as the table does, read with the shipped
tracker and with the tracker adapted to the face (`adaptation.adapt_reader`, as Capture Style's adapt_to_face).
Prints per key channel slope / r, and how many meet the target (slope 0.8-1.25, r >= 0.9). --absolute leaves the
codes' head rotation as drawn (about the rig's zero pose, as the table's round trips): the same frames otherwise.
"""

from __future__ import annotations

import sys

import numpy as np

from omnitalker_core import motion
from omnitalker_core.face import calibration as C
from omnitalker_core.face.adaptation import adapt_reader
from omnitalker_core.face.appearance import load_reader
from omnitalker_core.face.tracker import lids_from_gaze, read_appearance
from omnitalker_core.pipeline import render_size

FRAMES = 500
SIZE = 320


def main(names: list[str], absolute: bool = False) -> None:
    cal = C.Calibration.load()
    for i, name in enumerate(names):
        portrait = C.calibration_portraits()[name][0]
        own = C.portrait_code(portrait, size=render_size(portrait.shape[:2], SIZE))
        codes = C.random_codes(np.random.default_rng([11, i]), FRAMES)
        run = C.render_and_track(portrait, codes, SIZE, crops=load_reader().cfg, about_own_pose=not absolute)
        fit = cal.apply(run["tracked"])
        reads = {"tracker": lids_from_gaze(read_appearance(run["crops"], fit))}
        reads["adapted"] = lids_from_gaze(read_appearance(run["crops"], fit, adapt_reader(portrait).readers))
        pitch, yaw = own[motion.CHANNEL["headPitch"]], own[motion.CHANNEL["headYaw"]]
        print(f"## {name} (own pitch {pitch:+.2f}, yaw {yaw:+.2f})")
        print("| channel | " + " | ".join(reads) + " |")
        print("|---|" + "---|" * len(reads))
        agree = {k: C.channel_agreement(run["true"], v) for k, v in reads.items()}
        for ch in C.KEY_CHANNELS:
            print(f"| {ch} | " + " | ".join(f"{a[ch]['slope']:.2f} / {a[ch]['r']:.2f}" for a in agree.values()) + " |")
        met = [sum(C.meets_target(a[ch]) for ch in C.KEY_CHANNELS) for a in agree.values()]
        print(f"meet the target: {' / '.join(map(str, met))} of {len(C.KEY_CHANNELS)}\n", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    absolute = "--absolute" in args
    main([a for a in args if a != "--absolute"] or ["hopper", "obama", "astronaut_mirrored_crop"], absolute)
