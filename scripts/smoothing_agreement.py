"""What the tracker's One-Euro smoothing keeps of a clip's motion, and what it takes out of a still face's jitter, for
a few (min_cutoff, beta) settings.

    .venv/bin/python scripts/smoothing_agreement.py hopper obama2 astronaut_mirrored_crop

Per portrait (at 320 px, rendered relative to its own code as every clip is), random codes are rendered and tracked
without smoothing, at the calibration's pace (a keyframe every 6 frames at 25 fps) and at a speaking pace (every 3);
and a still face (its own code, sensor noise, H.264) is tracked the same way. The smoothing is then applied to the
tracked codes. Printed per setting, over the key channels the tracker reads (r > 0.5 on the drawn codes): the slope
of the smoothed codes on the drawn ones as a share of the unsmoothed codes' slope (min and mean; 1 keeps the
motion's size), and the smoothed still's mean frame-to-frame change as a share of the unsmoothed one's (less is
steadier). The head moves about the rig's zero pose here (`random_codes` as drawn), as in the table before
random-code revision 3.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from omnitalker_core import motion
from omnitalker_core.face.calibration import KEY_CHANNELS, calibration_portraits, portrait_code, random_codes
from omnitalker_core.face.render_geometric import GeometricRenderer
from omnitalker_core.face.tracker import track_frames
from omnitalker_core.pipeline import render_size
from omnitalker_core.video import read_video, write_mp4

SETTINGS = ((1.5, 0.3), (1.5, 3.0), (1.0, 5.0), (1.0, 10.0), (1.5, 10.0), (1.0, 30.0), (3.0, 10.0))
FRAMES = 400


def _paced_codes(every: int, seed: int) -> np.ndarray:
    """`random_codes` (a keyframe every 6 frames) with every `6 // every`-th frame kept: the same motion, faster."""
    step = 6 // every
    return random_codes(np.random.default_rng(seed), FRAMES * step)[::step]


def _still(renderer: GeometricRenderer, rng: np.random.Generator) -> np.ndarray:
    frames = renderer.render(np.repeat(renderer.base[None], 100, 0))
    noisy = np.clip(frames + rng.normal(0, 3, frames.shape), 0, 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "still.mp4"
        write_mp4(path, noisy, 25.0)
        return read_video(path)[0]


def main(names: list[str]) -> None:
    keys = [motion.CHANNEL[k] for k in KEY_CHANNELS]
    moving: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {6: [], 3: []}  # (drawn, tracked) per portrait
    stills = []
    for name in names:
        portrait = calibration_portraits()[name][0]
        size = render_size(portrait.shape[:2], 320)
        base = portrait_code(portrait, size=size)
        r = GeometricRenderer(portrait, size=size, base_codes=base)
        for every in moving:
            codes = _paced_codes(every, 0)
            res = track_frames(r.render(codes), 25.0, smooth=False)
            moving[every].append((r.drawn_codes(codes)[res.found], res.codes[res.found]))
        stills.append(track_frames(_still(r, np.random.default_rng(0)), 25.0, smooth=False).codes)
        print(f"{name}: tracked", file=sys.stderr)
    print("| min_cutoff, beta | slope, a keyframe every 6 frames (min / mean) | every 3 frames | still's jitter kept |")
    print("|---|---|---|---|")
    for min_cutoff, beta in SETTINGS:
        row = []
        for runs in moving.values():
            slopes = []
            for drawn, raw in runs:
                smooth = motion.one_euro(raw, 25.0, min_cutoff=min_cutoff, beta=beta, zero_phase=True)
                slopes += [
                    np.polyfit(drawn[:, c], smooth[:, c], 1)[0] / np.polyfit(drawn[:, c], raw[:, c], 1)[0]
                    for c in keys
                    if np.corrcoef(drawn[:, c], raw[:, c])[0, 1] > 0.5  # channels the tracker reads at all
                ]
            row.append(f"{min(slopes):.2f} / {np.mean(slopes):.2f}")
        kept = [
            np.abs(np.diff(motion.one_euro(s, 25.0, min_cutoff=min_cutoff, beta=beta, zero_phase=True), axis=0)).mean()
            / np.abs(np.diff(s, axis=0)).mean()
            for s in stills
        ]
        print(f"| {min_cutoff}, {beta} | {row[0]} | {row[1]} | {' / '.join(f'{k:.2f}' for k in kept)} |")


if __name__ == "__main__":
    main(sys.argv[1:] or ["hopper", "obama2", "astronaut_mirrored_crop"])
