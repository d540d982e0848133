"""Audio-visual sync: the lag at which mouth opening (jawOpen) best correlates with the speech
envelope, searched within ±`max_lag_ms`.

Both signals go to a common 100 Hz clock: the envelope is the RMS of 20 ms windows every 10 ms,
smoothed over 50 ms (the jaw cannot follow faster); jawOpen is linearly interpolated from its own
frame rate. Pearson correlation is taken over the overlap at every lag. A positive lag means the
mouth moves *after* the sound (video late); a negative lag means it moves before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import motion as motion_code

RATE = 100.0  # Hz, the common clock (10 ms resolution)
MAX_LAG_MS = 200.0


@dataclass(frozen=True)
class SyncResult:
    lag_ms: float  # > 0: mouth after sound
    correlation: float  # Pearson r at that lag
    correlation_at_zero: float


def speech_envelope(
    wave: torch.Tensor | np.ndarray, sample_rate: int, rate: float = RATE, smooth_ms: float = 50.0
) -> np.ndarray:
    """RMS envelope of mono speech on a `rate` Hz clock (frame i centred at i / rate)."""
    x = np.asarray(torch.as_tensor(wave, dtype=torch.float32).reshape(-1), dtype=np.float64)
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
    hop = sample_rate / rate
    n = int(len(x) / hop)
    if n < 3:
        raise ValueError(f"audio is too short for an envelope ({len(x) / sample_rate:.3f} s)")
    half = int(round(hop))  # 20 ms window = 2 hops, centred
    sq = np.concatenate([[0.0], np.cumsum(x * x)])
    centres = (np.arange(n) * hop).astype(np.int64)
    lo, hi = np.clip(centres - half, 0, len(x)), np.clip(centres + half, 0, len(x))
    env = np.sqrt((sq[hi] - sq[lo]) / np.maximum(hi - lo, 1))
    k = max(1, int(round(smooth_ms / 1000 * rate)))
    if k > 1:
        env = np.convolve(np.pad(env, (k // 2, k - 1 - k // 2), mode="edge"), np.ones(k) / k, mode="valid")
    return env


def to_clock(signal: np.ndarray, fps: float, num: int, rate: float = RATE) -> np.ndarray:
    """Linear interpolation of a 1-D signal sampled at `fps` onto `num` frames of a `rate` Hz clock."""
    signal = np.asarray(signal, dtype=np.float64).reshape(-1)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    t_src = np.arange(len(signal)) / fps
    return np.interp(np.arange(num) / rate, t_src, signal)


def best_lag(video: np.ndarray, audio: np.ndarray, rate: float = RATE, max_lag_ms: float = MAX_LAG_MS) -> SyncResult:
    """Lag (ms) maximising corr(video[t + lag], audio[t]) for two signals on the same clock."""
    v, a = np.asarray(video, dtype=np.float64), np.asarray(audio, dtype=np.float64)
    n = min(len(v), len(a))
    max_lag = int(round(max_lag_ms / 1000 * rate))
    if n - max_lag < 10:
        raise ValueError(f"signals of {n} frames are too short for a ±{max_lag_ms:.0f} ms lag search")
    v, a = v[:n], a[:n]
    if np.std(v) < 1e-9 or np.std(a) < 1e-9:
        raise ValueError("a signal is constant: no mouth motion or no sound, so there is no lag to find")
    lags = np.arange(-max_lag, max_lag + 1)
    corr = np.array([_pearson(v[max(0, lag) : n + min(0, lag)], a[max(0, -lag) : n - max(0, lag)]) for lag in lags])
    i = int(np.nanargmax(corr))
    return SyncResult(
        lag_ms=float(lags[i] / rate * 1000.0), correlation=float(corr[i]), correlation_at_zero=float(corr[max_lag])
    )


def av_sync(
    codes: np.ndarray, fps: float, wave: torch.Tensor | np.ndarray, sample_rate: int, max_lag_ms: float = MAX_LAG_MS
) -> SyncResult:
    """Sync of [frames, 61] motion at `fps` against the speech `wave`: jawOpen vs the envelope."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[1] != motion_code.MOTION_DIM:
        raise ValueError(f"motion codes must be [frames, {motion_code.MOTION_DIM}], got {codes.shape}")
    env = speech_envelope(wave, sample_rate)
    jaw = to_clock(codes[:, motion_code.CHANNEL["jawOpen"]], fps, len(env))
    return best_lag(jaw, env, max_lag_ms=max_lag_ms)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(), y - y.mean()
    den = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den) if den > 0 else float("nan")
