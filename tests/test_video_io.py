"""PyAV video I/O: H.264 + AAC mp4 written and read back."""

from __future__ import annotations

import av
import numpy as np
import pytest

from omnitalker_core.audio import read_audio
from omnitalker_core.video import read_video, write_mp4


def _frames(n: int, h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack(
        [np.stack([(x * 4 + i * 8) % 256, (y * 4) % 256, np.full_like(x, 128)], -1) for i in range(n)]
    ).astype(np.uint8)


def test_write_read_h264_aac(tmp_path):
    frames = _frames(12, 64, 96)
    sr = 24000
    audio = (0.4 * np.sin(2 * np.pi * 440 * np.arange(sr // 2) / sr)).astype(np.float32)
    path = write_mp4(tmp_path / "a.mp4", frames, 25, audio=audio, sample_rate=sr)
    with av.open(str(path)) as c:
        kinds = {s.type: s.codec_context.name for s in c.streams}
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
    assert kinds == {"video": "h264", "audio": "aac"}
    back, fps, a, rate = read_video(path)
    assert back.shape == frames.shape and fps == 25 and rate == sr
    assert np.abs(back.astype(int) - frames).mean() < 6, "lossy but close"
    assert a.shape[0] == 1 and abs(a.shape[1] - len(audio)) < 2048
    # the tone survives: correlation with the source over the common part (AAC delays a little)
    spec = np.abs(np.fft.rfft(a[0, 2048:10000]))
    assert abs(np.argmax(spec) * sr / (10000 - 2048) - 440) < 10
    a2, r2 = read_audio(path)
    assert r2 == sr and a2.shape == a.shape


def test_no_overwrite_odd_size_and_silent(tmp_path):
    frames = _frames(5, 33, 47)
    p = write_mp4(tmp_path / "b.mp4", frames, 30)
    with pytest.raises(FileExistsError):
        write_mp4(p, frames, 30)
    write_mp4(p, frames[:3], 30, overwrite=True)
    back, fps, audio, sr = read_video(p)
    assert back.shape == (3, 34, 48, 3) and audio is None and sr == 0
    with pytest.raises(ValueError, match="uint8"):
        write_mp4(tmp_path / "c.mp4", frames.astype(np.float32), 30)
