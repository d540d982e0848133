"""Voice similarity with resemblyzer's d-vector encoder (GE2E, ships its weights in the wheel).

`embed` gives a unit-length 256-D utterance embedding; `cosine` compares two of them. The speaker
identification test uses `nearest.build_centroids(..., metric="cosine")` on these embeddings.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np
import torch

from .. import audio as audio_lib

log = logging.getLogger(__name__)

ENCODER_RATE = 16000
MIN_SECONDS = 0.3


@lru_cache(maxsize=1)
def _encoder():
    try:
        from resemblyzer import VoiceEncoder
    except ImportError as e:
        raise ImportError(
            "speaker similarity needs resemblyzer: pip install resemblyzer==0.1.4 (requirements-test.txt)"
        ) from e
    return VoiceEncoder(device="cpu", verbose=False)


def embed(wave: torch.Tensor | np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono or [C, T] speech -> unit-norm d-vector [256]. Silence is trimmed (webrtcvad) first;
    when trimming leaves too little, the untrimmed audio is embedded instead."""
    from resemblyzer import preprocess_wav

    x = audio_lib.resample(audio_lib.to_mono(torch.as_tensor(wave, dtype=torch.float32)), sample_rate, ENCODER_RATE)
    if x.numel() < MIN_SECONDS * ENCODER_RATE:
        raise ValueError(
            f"audio is {x.numel() / ENCODER_RATE:.2f} s; speaker similarity needs at least {MIN_SECONDS} s"
        )
    if not torch.isfinite(x).all():
        raise ValueError("audio contains NaN or infinite samples")
    raw = x.numpy().astype(np.float32)
    wav = preprocess_wav(raw, source_sr=ENCODER_RATE)
    if wav.size < MIN_SECONDS * ENCODER_RATE:
        log.debug("voice activity trimming left %.2f s; embedding the raw audio", wav.size / ENCODER_RATE)
        peak = float(np.abs(raw).max())
        wav = raw / peak * 0.5 if peak > 0 else raw
    return np.asarray(_encoder().embed_utterance(wav), dtype=np.float64)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"embeddings differ in shape: {a.shape} vs {b.shape}")
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    if den == 0.0:
        raise ValueError("cannot take the cosine of a zero vector")
    return float(a @ b / den)
