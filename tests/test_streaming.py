"""Frames stream into the encoder: `render_mp4` holds one batch, never the video, and the sound may arrive late
(a vocoder still running in a worker thread) without changing the file."""

from __future__ import annotations

import tracemalloc

import av
import numpy as np
import pytest
import torch

from omnitalker_core import motion as motion_code
from omnitalker_core import pipeline
from omnitalker_core.video import Mp4Writer


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[0:256, 128:384])


def _codes(frames: int) -> np.ndarray:
    codes = np.zeros((frames, motion_code.MOTION_DIM), np.float32)
    codes[:, motion_code.CHANNEL["jawOpen"]] = 0.4 * (1 + np.sin(np.arange(frames) / 3.0)) / 2
    return codes


def _decode(path) -> tuple[int, np.ndarray]:
    with av.open(str(path)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    with av.open(str(path)) as c:
        audio = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
    return frames, audio


def test_render_mp4_holds_a_batch_not_the_video(portrait, tmp_path):
    codes = _codes(300)  # 300 frames of 256x256: 59 MB as uint8, 236 MB as a float IMAGE
    wave = np.zeros(round(300 / 25 * 24000), np.float32)
    base = pipeline.rest_codes(portrait)
    tracemalloc.start()
    try:
        frames = pipeline.render_mp4(tmp_path / "long.mp4", portrait, codes, wave, base_codes=base, resolution=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frames == 300 and _decode(tmp_path / "long.mp4")[0] == 300
    all_frames = 300 * 256 * 256 * 3
    assert peak < all_frames / 3, f"peak {peak / 1e6:.1f} MB: the frames are being kept"


def test_late_sound_makes_the_same_file_as_sound_given_first(portrait, tmp_path):
    codes = _codes(50)
    t = np.arange(round(50 / 25 * 24000)) / 24000
    wave = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    base = pipeline.rest_codes(portrait)
    pipeline.render_mp4(tmp_path / "first.mp4", portrait, codes, wave, base_codes=base, resolution=0)
    pipeline.render_mp4(
        tmp_path / "late.mp4", portrait, codes, lambda: torch.from_numpy(wave), base_codes=base, resolution=0
    )
    (n1, a1), (n2, a2) = _decode(tmp_path / "first.mp4"), _decode(tmp_path / "late.mp4")
    assert n1 == n2 == 50
    np.testing.assert_allclose(a1, a2, atol=1e-6)  # the same AAC stream
    assert np.abs(a2).max() > 0.2


def test_late_sound_with_other_channels_than_announced_is_refused(tmp_path):
    path = tmp_path / "bad.mp4"
    with pytest.raises(ValueError, match="2 channels, 1 were announced"):
        with Mp4Writer(path, 25, lambda: np.zeros((2, 4800), np.float32), 24000) as out:
            out.add(np.zeros((2, 16, 16, 3), np.uint8))
    assert not path.exists() and not list(tmp_path.iterdir())  # no part file left behind


def test_vocoder_in_a_worker_thread_gives_the_sequential_result(portrait, tmp_path):
    from omnitalker_core.vocoder import GriffinLimVocoder

    vocoder = GriffinLimVocoder(n_iter=4)
    g = torch.Generator().manual_seed(0)
    mel = torch.randn(188, 100, generator=g) - 4  # 2 s of model mel (vocos feature, 93.75 frames/s)
    codes = _codes(pipeline.video_frames_for(188))
    base = pipeline.rest_codes(portrait)
    wave, written = pipeline.vocode_and_render_mp4(
        tmp_path / "both.mp4", vocoder, mel, portrait, codes, base_codes=base, resolution=0
    )
    torch.testing.assert_close(wave, pipeline.vocode(vocoder, mel))
    frames, audio = _decode(tmp_path / "both.mp4")
    assert frames == written == len(codes) and audio.shape[-1] >= wave.numel() * 0.99
