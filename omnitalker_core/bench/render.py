"""Renderer and tracker speed: frames per second per resolution, on a real photograph.

Uses `skimage.data.astronaut()` when scikit-image is installed (a test dependency), otherwise a
synthetic face is not possible (the renderer needs a detectable face), so a portrait path must be
given."""

from __future__ import annotations

import logging
import time

import numpy as np

from .. import motion

log = logging.getLogger(__name__)


def _portrait(path: str | None) -> np.ndarray:
    if path is not None:
        from PIL import Image

        return np.asarray(Image.open(path).convert("RGB"))
    try:
        import skimage.data
    except ImportError as e:
        raise ValueError(
            "bench render: pass a portrait image (scikit-image, which ships the default photo, is not installed)"
        ) from e
    return skimage.data.astronaut()


def demo_codes(frames: int, seed: int = 0) -> np.ndarray:
    """Talking-like codes [frames, 61]: jaw, smile, blinks, head sway, gaze (25 fps)."""
    t = np.arange(frames) / motion.VIDEO_FPS
    rng = np.random.default_rng(seed)
    c = np.zeros((frames, motion.MOTION_DIM), np.float32)
    c[:, motion.CHANNEL["jawOpen"]] = 0.35 * (1 + np.sin(2 * np.pi * 3.1 * t)) * (0.6 + 0.4 * rng.random(frames))
    c[:, motion.CHANNEL["mouthSmileLeft"]] = c[:, motion.CHANNEL["mouthSmileRight"]] = (
        0.3 * (1 + np.sin(2 * np.pi * 0.4 * t)) / 2
    )
    blink = (np.abs((t % 2.3) - 1.0) < 0.08).astype(np.float32)
    c[:, motion.CHANNEL["eyeBlinkLeft"]] = c[:, motion.CHANNEL["eyeBlinkRight"]] = blink
    c[:, motion.CHANNEL["headYaw"]] = 0.15 * np.sin(2 * np.pi * 0.3 * t)
    c[:, motion.CHANNEL["headPitch"]] = 0.08 * np.sin(2 * np.pi * 0.5 * t + 1)
    c[:, motion.CHANNEL["headRoll"]] = 0.05 * np.sin(2 * np.pi * 0.2 * t)
    c[:, motion.GAZE] = 0.1 * np.sin(2 * np.pi * 0.25 * t)[:, None]
    return c


def bench_render(
    resolutions: tuple[int, ...] = (256, 512),
    device: str = "cpu",
    frames: int = 50,
    portrait: str | None = None,
    track: bool = True,
) -> dict:
    """Geometric-renderer FPS (and tracker FPS on the rendered clip) per square resolution.

    Returns {"device": ..., "frames": n, "render": {"256": {"fps": .., "setup_s": ..}, ...},
    "track": {"512": {"fps": ..}}}."""
    from ..face.opencv import cv2
    from ..face.render_geometric import GeometricRenderer

    img = _portrait(portrait)
    codes = demo_codes(frames)
    out: dict = {"device": str(device), "frames": frames, "render": {}, "track": {}}
    for res in resolutions:
        sq = cv2.resize(img, (res, res), interpolation=cv2.INTER_AREA)
        t0 = time.perf_counter()
        r = GeometricRenderer(sq, device=device)
        setup = time.perf_counter() - t0
        r.render(codes[:4])  # warm-up
        t0 = time.perf_counter()
        video = r.render(codes)
        dt = time.perf_counter() - t0
        out["render"][str(res)] = {"fps": frames / dt, "setup_s": setup}
        log.info("render %dx%d on %s: %.1f FPS", res, res, device, frames / dt)
        if track:
            from ..face.tracker import track_frames

            t0 = time.perf_counter()
            track_frames(video, motion.VIDEO_FPS)
            dt = time.perf_counter() - t0
            out["track"][str(res)] = {"fps": frames / dt}
            log.info("track %dx%d: %.1f FPS", res, res, frames / dt)
    return out
