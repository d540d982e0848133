"""Prosody per mel frame (energy, pitch, stress) that drives the synthetic facial motion.

Why: in real talking heads the jaw follows loudness, and nods and brow raises land on stressed,
high-pitched syllables. Tying the synthetic motion to these cues makes motion predictable from
the speech plus a speaker's style, which is what the dual-branch model has to learn.

Frames follow the mel clock: frame i is centred at sample i * 256 of the 24 kHz audio.
Legend: n - mel frames, w - window samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..audio import HOP_LENGTH, MEL_FPS, SAMPLE_RATE
from ..text.espeak import SILENCE

WIN = 1024


@dataclass(frozen=True)
class Prosody:
    """Per-frame cues, all [n] float32. `energy` is 0..1 within the utterance (speech peak = 1);
    `pitch_z` is the f0 z-score over voiced frames, 0 where unvoiced; `stress` is 1 on frames of
    primary-stressed vowels, 0.5 on secondary, else 0; `speech` is 1 on non-silence phonemes."""

    energy: np.ndarray
    f0: np.ndarray  # Hz, 0 = unvoiced
    pitch_z: np.ndarray
    stress: np.ndarray
    speech: np.ndarray


def _frames(audio: np.ndarray, num_frames: int, hop: int = HOP_LENGTH) -> np.ndarray:
    """Centre-padded frames [n, w] matching torch.stft(center=True) with reflect padding."""
    pad = WIN // 2
    x = np.pad(audio.astype(np.float32), (pad, pad + WIN), mode="reflect" if audio.size > pad else "constant")
    idx = np.arange(num_frames)[:, None] * hop + np.arange(WIN)[None, :]
    return x[idx]


def frame_energy(audio: np.ndarray, num_frames: int, hop: int = HOP_LENGTH) -> np.ndarray:
    """Log RMS per frame mapped to 0..1 (60 dB below the utterance's loudest frame = 0)."""
    fr = _frames(audio, num_frames, hop) * np.hanning(WIN).astype(np.float32)
    db = 10 * np.log10(np.mean(fr**2, axis=1) + 1e-10)
    return np.clip((db - (db.max() - 60.0)) / 60.0, 0.0, 1.0).astype(np.float32)


def frame_f0(
    audio: np.ndarray, num_frames: int, fmin: float = 60.0, fmax: float = 400.0, sample_rate: int = SAMPLE_RATE,
    hop: int = HOP_LENGTH,
) -> np.ndarray:  # fmt: skip
    """f0 in Hz per frame by normalised autocorrelation (FFT), 0 where unvoiced or quiet.

    Crude but cheap (one FFT per frame) and enough for 'is this syllable high-pitched'."""
    fr = _frames(audio, num_frames, hop)
    fr = fr - fr.mean(axis=1, keepdims=True)
    fr = fr * np.hanning(WIN).astype(np.float32)
    spec = np.fft.rfft(fr, n=2 * WIN, axis=1)
    acf = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :WIN]  # n w
    window_acf = np.fft.irfft(np.abs(np.fft.rfft(np.hanning(WIN), n=2 * WIN)) ** 2)[:WIN]
    acf = acf / np.maximum(window_acf[None, :], 1e-6)  # unbias the taper
    acf = acf / np.maximum(acf[:, :1], 1e-10)
    lo, hi = int(sample_rate / fmax), int(sample_rate / fmin)
    lag = lo + np.argmax(acf[:, lo:hi], axis=1)
    peak = acf[np.arange(num_frames), lag]
    rms = np.sqrt(np.mean(fr**2, axis=1))
    voiced = (peak > 0.45) & (rms > 0.02 * max(rms.max(), 1e-8))
    return np.where(voiced, sample_rate / lag, 0.0).astype(np.float32)


def stress_and_speech(
    phonemes: Sequence[tuple[str, float, float]], num_frames: int, fps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Frame masks from phoneme spans: stress (1 primary, 0.5 secondary) and speech (not silence)."""
    t = np.arange(num_frames) / fps
    stress = np.zeros(num_frames, np.float32)
    speech = np.zeros(num_frames, np.float32)
    for ipa, s, e in phonemes:
        m = (t >= s) & (t < e)
        if ipa != SILENCE:
            speech[m] = 1.0
        if ipa.startswith("ˈ"):
            stress[m] = 1.0
        elif ipa.startswith("ˌ"):
            stress[m] = 0.5
    return stress, speech


def analyse(
    audio: np.ndarray,
    phonemes: Sequence[tuple[str, float, float]],
    num_frames: int,
    fps: float = MEL_FPS,
    sample_rate: int = SAMPLE_RATE,
) -> Prosody:
    """All prosodic cues of one utterance (float audio at `sample_rate`, frames at `fps`, phoneme spans in s)."""
    hop = round(sample_rate / fps)
    energy = frame_energy(audio, num_frames, hop)
    f0 = frame_f0(audio, num_frames, sample_rate=sample_rate, hop=hop)
    stress, speech = stress_and_speech(phonemes, num_frames, fps)
    f0 = np.where(speech > 0, f0, 0.0).astype(np.float32)
    voiced = f0 > 0
    pitch_z = np.zeros(num_frames, np.float32)
    if voiced.sum() >= 3:
        logf = np.log(f0[voiced])
        pitch_z[voiced] = (logf - logf.mean()) / max(float(logf.std()), 0.03)
    return Prosody(energy, f0, np.clip(pitch_z, -3, 3).astype(np.float32), stress, speech)
