"""One audio decoder for every file: integer and float sample formats come back at the same level."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from omnitalker_core import audio


def _write(path, codec: str, fmt: str, wave: np.ndarray, rate: int, layout: str = "mono") -> None:
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(wave, format=fmt, layout=layout)
        frame.rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _tone(rate: int, seconds: float = 0.5, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


@pytest.mark.parametrize(
    "codec, fmt, scale, dtype",
    [("pcm_s16le", "s16", 32768, np.int16), ("pcm_s32le", "s32", 2**31, np.int32), ("pcm_f32le", "flt", 1, np.float32)],
)
def test_sample_formats_decode_to_the_same_float_level(tmp_path, codec, fmt, scale, dtype):
    rate = 16000
    tone = _tone(rate)
    path = tmp_path / f"{fmt}.wav"
    _write(path, codec, fmt, (tone * scale).astype(dtype)[None], rate)
    data, got_rate = audio.read_audio(path)
    assert got_rate == rate and data.dtype == np.float32 and data.shape == (1, tone.size)
    np.testing.assert_allclose(data[0], tone, atol=1e-4)


def test_stereo_packed_keeps_its_channels_apart(tmp_path):
    rate = 16000
    left, right = _tone(rate, amplitude=0.5), _tone(rate, amplitude=0.1)
    packed = np.stack([left, right], 1).reshape(1, -1)  # s16 packed: l r l r ...
    _write(tmp_path / "st.wav", "pcm_s16le", "s16", (packed * 32768).astype(np.int16), rate, layout="stereo")
    data, _ = audio.read_audio(tmp_path / "st.wav")
    assert data.shape == (2, left.size)
    np.testing.assert_allclose(data, np.stack([left, right]), atol=1e-4)


def test_save_wav_round_trip_and_missing_audio(tmp_path):
    wave = torch.from_numpy(_tone(audio.SAMPLE_RATE))
    audio.save_wav(tmp_path / "a.wav", wave)
    back, rate = audio.load_audio(tmp_path / "a.wav")
    assert rate == audio.SAMPLE_RATE and back.shape == (1, wave.numel())
    assert torch.allclose(back[0], wave, atol=1e-4)
    silent = tmp_path / "v.mp4"
    with av.open(str(silent), mode="w") as out:  # a video file without an audio track
        s = out.add_stream("mpeg4", rate=25)
        s.width = s.height = 32
        for packet in s.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")):
            out.mux(packet)
        for packet in s.encode(None):
            out.mux(packet)
    assert audio.read_audio(silent) == (None, 0)
    with pytest.raises(ValueError, match="no audio track"):
        audio.load_audio(silent)
