"""Does the reader fine-tuned on a GPU read like the one fine-tuned on the CPU? (docs/SPEED.md, "On a GPU")

Two steps, because the GPU machine need not have MediaPipe: on any machine with the pack installed, render
random codes onto a portrait and track them back (the crops adaptation trains on); then, where CUDA is, fine-tune
the shipped reader on the first 200 crops on the CPU and twice on CUDA and compare their reads of the other 100.

    .venv/bin/python scripts/compare_adapt_devices.py make crops.npz       # ~1 min on 2 cores
    python scripts/compare_adapt_devices.py compare crops.npz              # needs CUDA
"""

from __future__ import annotations

import sys
import time

import numpy as np

from omnitalker_core import motion
from omnitalker_core.face.adaptation import AdaptConfig, adaptation_codes, fine_tune, first_check_render
from omnitalker_core.face.appearance import AppearanceReader, clip_reference, load_reader

TRAIN, CHECK, EPOCHS = 200, 100, 6


def make(path: str) -> None:
    from omnitalker_core.face.calibration import calibration_portraits, render_and_track

    portrait = calibration_portraits()["obama2"][0]  # held out of the reader's training
    cfg = AdaptConfig(frames=TRAIN + CHECK, check_frames=CHECK)
    run = render_and_track(
        portrait, adaptation_codes(cfg), 384, calibrated=True, crops=load_reader().cfg, appearance=False
    )
    split = first_check_render(run["index"], cfg)  # as `adapt_reader` splits them
    np.savez_compressed(path, crops=run["crops"], true=run["true"], split=split)


def compare(path: str) -> None:
    d = np.load(path)
    crops, true, split = d["crops"], d["true"], int(d["split"])
    base = load_reader()
    cols = [motion.CHANNEL[c] for c in base.cfg.channels]
    ref = clip_reference(crops, base.cfg.reference_frames)
    outs = {}
    for name, device in (("cpu", "cpu"), ("cuda", "cuda"), ("cuda again", "cuda")):
        start = time.perf_counter()
        net = fine_tune(base, crops[:split], true[:split], ref, AdaptConfig(epochs=EPOCHS, device=device))
        seconds = time.perf_counter() - start
        out = outs[name] = AppearanceReader(net, (), {}, {}, {}).predict(crops)[split:]
        check = true[split:]
        r = [np.corrcoef(check[:, c], out[:, k])[0, 1] for k, c in enumerate(cols) if check[:, c].std() > 0.02]
        print(f"{name}: {seconds:.1f} s, mean r to the rendered values over {len(r)} moving channels {np.mean(r):.3f}")
    a, b, c = outs["cpu"], outs["cuda"], outs["cuda again"]
    r_ab = np.mean([np.corrcoef(a[:, k], b[:, k])[0, 1] for k in range(a.shape[1])])
    print(f"cpu vs cuda: largest difference {np.abs(a - b).max():.4f}, mean r of the outputs {r_ab:.4f}")
    print(f"cuda vs cuda again: largest difference {np.abs(b - c).max():.4f}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "compare"):
        sys.exit(__doc__)
    (make if sys.argv[1] == "make" else compare)(sys.argv[2])
