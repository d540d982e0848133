"""Audio front-end shared by every part: the Vocos / F5-TTS log-mel (24 kHz, n_fft 1024, hop 256,
100 mels, natural log of magnitude clamped at 1e-5), mono mixdown, resampling, and file I/O.

File I/O goes through PyAV (FFmpeg inside the wheel) because torchaudio's load/save need system
FFmpeg libraries (see shared/MEASURED.md); torchaudio is used only for transforms.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torchaudio

from . import media_errors

SAMPLE_RATE = 24000
N_FFT = 1024
HOP_LENGTH = 256
WIN_LENGTH = 1024
N_MELS = 100
MEL_FPS = SAMPLE_RATE / HOP_LENGTH  # 93.75


@lru_cache(maxsize=4)
def _mel_transform(device: str) -> torchaudio.transforms.MelSpectrogram:
    # Same arguments as vocos.feature_extractors.MelSpectrogramFeatures and f5_tts get_vocos_mel_spectrogram.
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=SAMPLE_RATE, n_fft=N_FFT, win_length=WIN_LENGTH, hop_length=HOP_LENGTH,
        n_mels=N_MELS, power=1, center=True, normalized=False, norm=None,
    ).to(device)  # fmt: skip


def log_mel(wave: torch.Tensor) -> torch.Tensor:
    """wave [..., T] at 24 kHz -> log-mel [..., 100, T // 256 + 1]."""
    mel = _mel_transform(str(wave.device))(wave.float())
    return mel.clamp(min=1e-5).log()


def to_mono(wave: torch.Tensor) -> torch.Tensor:
    """[C, T] or [T] -> [T] by averaging channels."""
    if wave.ndim == 1:
        return wave
    if wave.ndim != 2:
        raise ValueError(f"audio must be [channels, samples], got shape {tuple(wave.shape)}")
    return wave.mean(dim=0)


def resample(wave: torch.Tensor, src_rate: int, dst_rate: int = SAMPLE_RATE) -> torch.Tensor:
    if src_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {src_rate}")
    if src_rate == dst_rate:
        return wave
    return torchaudio.functional.resample(wave, src_rate, dst_rate)


def prepare(wave: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Any-rate, any-channel audio -> mono float32 at 24 kHz."""
    return resample(to_mono(torch.as_tensor(wave, dtype=torch.float32)), sample_rate)


def read_audio(path: str | Path, kind: str = "audio") -> tuple[np.ndarray | None, int]:
    """The first audio track of any media file FFmpeg reads (video or audio-only) -> (float32 [c, t] in
    -1..1, sample rate), or (None, 0) when the file has no audio track. A file FFmpeg cannot decode raises
    `media_errors.MediaError` (a ValueError); `kind` ("audio" or "video") is what its message calls the file.

    PyAV's resampler converts every sample format (s16, s32, flt, u8, planar or packed) to planar float,
    so integer audio is scaled the way FFmpeg scales it, not by hand."""
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"media file not found: {path}")
    with media_errors.reading(path, kind), av.open(str(path)) as container:  # FFmpeg errors -> MediaError
        if not container.streams.audio:
            return None, 0
        stream = container.streams.audio[0]
        to_float = av.AudioResampler(format="fltp")
        chunks = [f.to_ndarray() for frame in container.decode(stream) for f in to_float.resample(frame)]
        chunks += [f.to_ndarray() for f in to_float.resample(None)]  # flush
        rate = stream.rate or stream.codec_context.sample_rate
    if not chunks:
        return None, 0
    return np.ascontiguousarray(np.concatenate(chunks, axis=1), dtype=np.float32), int(rate)


def load_audio(path: str | Path) -> tuple[torch.Tensor, int]:
    """Decode the first audio stream of any file FFmpeg reads -> ([C, T] float32, sample rate)."""
    data, rate = read_audio(path)
    if data is None:
        raise media_errors.no_audio_track(path)
    return torch.from_numpy(data), rate


def save_wav(path: str | Path, wave: torch.Tensor, sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono/stereo float audio as 16-bit PCM WAV (stdlib `wave`, no codec needed)."""
    import wave as wavelib

    x = torch.as_tensor(wave).detach().float().cpu()
    if x.ndim == 1:
        x = x.unsqueeze(0)
    pcm = (x.clamp(-1, 1).T.numpy() * 32767).round().astype("<i2")
    with wavelib.open(str(path), "wb") as f:
        f.setnchannels(x.shape[0])
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(pcm.tobytes())
