"""Adaptation's fine-tuning speed: the shipped reader trained as `adaptation.adapt_reader` trains it, on a device.

Why: adapting Capture Style's tracker to a new face is most of a first queue's time on a CPU (docs/SPEED.md),
and its fine-tuning half runs on the host's device (`AdaptConfig.device`). The crops are random pixels: a step
costs the same whatever they show, so this needs neither the renderer nor MediaPipe. Rendering and tracking
the frames (on the CPU, ~90 s on 2 cores for 3,000 of them) is not timed here.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch

from .. import motion
from ..face.adaptation import AdaptConfig, fine_tune
from ..face.appearance import clip_reference, load_reader

_DEFAULT = AdaptConfig()


def bench_adapt(
    device: str = "cpu", frames: int = _DEFAULT.frames - _DEFAULT.check_frames, epochs: int = _DEFAULT.epochs,
    batch: int = _DEFAULT.batch, threads: int = 0, seed: int = 0,
) -> dict:  # fmt: skip
    """Seconds to fine-tune the reader on `frames` crops for `epochs` (the defaults: `AdaptConfig`'s training)."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    if threads:
        torch.set_num_threads(threads)
    base = load_reader()
    rng = np.random.default_rng(seed)
    size = base.cfg.size
    crops = rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8)
    true = rng.random((frames, motion.MOTION_DIM), dtype=np.float32)
    ref = clip_reference(crops, base.cfg.reference_frames)

    def train(n_epochs: int) -> float:
        start = time.perf_counter()
        fine_tune(base, crops, true, ref, replace(_DEFAULT, epochs=n_epochs, batch=batch, seed=seed, device=device))
        return time.perf_counter() - start  # the net comes back to the CPU: the device's work is done

    warm_up = train(1)  # CUDA context, kernels chosen
    seconds = train(epochs)
    return {
        "device": device, "threads": torch.get_num_threads(), "frames": frames, "epochs": epochs, "batch": batch,
        "warm_up_epoch_s": round(warm_up, 2), "seconds": round(seconds, 2), "per_epoch_s": round(seconds / epochs, 3),
    }  # fmt: skip
