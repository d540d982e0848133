"""Key channels the adapted tracker reads to the target, per held-out portrait, for one `AdaptConfig`.

Why: choosing adaptation settings needs the table's score without the whole table. Each held-out portrait
(or those named by only=a,b) is adapted with the given settings and read on the cached table renders exactly as
`python -m omnitalker_core.face.calibration --table --adapt` reads them; one that cannot be adapted is reported.

    .venv/bin/python scripts/adapt_settings.py out.json frames=3000 check_frames=1000 seed=1
    .venv/bin/python scripts/adapt_settings.py out.json only=camera
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from omnitalker_core.face import calibration as C
from omnitalker_core.face.adaptation import AdaptConfig, adapt_reader
from omnitalker_core.face.tracker import lids_from_gaze, read_appearance


def passes(true: np.ndarray, read: np.ndarray) -> int:
    agree = C.channel_agreement(true, read)
    return sum(C.meets_target(agree[n]) for n in C.KEY_CHANNELS)


def main(out: Path, settings: list[str]) -> None:
    defaults = AdaptConfig()
    kw = dict(a.split("=", 1) for a in settings)
    only = kw.pop("only").split(",") if "only" in kw else None
    kw = {k: type(getattr(defaults, k))(v) for k, v in kw.items()}
    cfg = AdaptConfig(**kw)
    # the table's renders (built on first use)
    runs = C.cached_collect(Path("data/calibration"), 500, 0, C.HELD_OUT_FRAMES)
    cal = C.Calibration.load()
    result = {}
    for name, (portrait, held_out) in C.calibration_portraits().items():
        if not held_out or (only is not None and name not in only):
            continue
        start = time.time()
        try:
            adapted = adapt_reader(portrait, cfg)
        except ValueError as e:  # e.g. a face found in too few of its renders
            result[name] = {"pass": 0, "not_adapted": str(e)}
            print(name, "not adapted:", e, flush=True)
            continue
        keys = [k for k in runs if k.startswith(name + "/")]
        true = np.concatenate([runs[k]["true"] for k in keys])
        reads = {
            k: lids_from_gaze(read_appearance(runs[k]["crops"], cal.apply(runs[k]["raw"]), adapted.readers))
            for k in keys
        }
        agree = C.channel_agreement(true, np.concatenate(list(reads.values())))
        ok = [n for n in C.KEY_CHANNELS if C.meets_target(agree[n])]
        miss = {n: (round(agree[n]["slope"], 2), round(agree[n]["r"], 2)) for n in C.KEY_CHANNELS if n not in ok}
        # each miss at each of the table's sizes (one size read worse on every sample would be a size effect)
        by_size = {k: C.channel_agreement(runs[k]["true"], reads[k]) for k in keys}
        per_size = {n: {k: (round(a[n]["slope"], 2), round(a[n]["r"], 2)) for k, a in by_size.items()} for n in miss}
        # the same count on disjoint quarters of each run (500 frames a size each, the table's sample before
        # 2026-12-04): how much of a count is the sample's
        quarters = [
            passes(
                np.concatenate([np.array_split(runs[k]["true"], 4)[q] for k in keys]),
                np.concatenate([np.array_split(reads[k], 4)[q] for k in keys]),
            )
            for q in range(4)
        ]
        result[name] = {
            "pass": len(ok), "miss": miss, "per_size": per_size, "quarters": quarters,
            "seconds": round(time.time() - start),
        }  # fmt: skip
        print(name, len(ok), miss, per_size, "quarters", quarters, f"{time.time() - start:.0f} s", flush=True)
    print("total", sum(r["pass"] for r in result.values()))
    out.write_text(json.dumps({"settings": kw, "portraits": result}, indent=1))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), sys.argv[2:])
