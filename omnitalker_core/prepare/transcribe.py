"""Offline ASR with word timestamps (faster-whisper), for videos without a transcript or with one too long to
keep whole: `asr.speech_segments`, the decoding Capture Style uses (bundled Whisper tiny.en, beam 5, temperature
0 for reproducible text, Whisper's no-speech filter), with word timing; `--asr-model` names another local
CTranslate2 Whisper directory (e.g. a larger English model). English only: the phonemes come from eSpeak en-us.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import asr
from .segment import Word


def model_path(model_dir: str | Path | None) -> Path:
    """The model directory to use; ValueError / `asr.TranscriptionUnavailable` with what to do when missing."""
    if model_dir:
        path = Path(model_dir).expanduser()
        if not (path / "model.bin").is_file():
            raise ValueError(
                f"--asr-model {path}: no CTranslate2 Whisper model there (model.bin missing); convert one with "
                "ct2-transformers-converter or omit --asr-model for the bundled Whisper tiny.en"
            )
        return path
    return asr.model_dir()


def check_available(model_dir: str | Path | None) -> None:
    """Raise before any work starts when transcripts are needed and ASR cannot run."""
    model_path(model_dir)
    try:
        import faster_whisper  # noqa: F401
    except ImportError as e:
        raise asr.TranscriptionUnavailable(
            f"videos without a transcript need faster-whisper ({e}): {asr.INSTALL_HINT}; or put a .txt transcript "
            "beside each video"
        ) from e


def transcribe_words(wave: np.ndarray, sample_rate: int, model_dir: str | Path | None = None) -> list[Word]:
    """Mono speech at any rate -> recognised words with their times (seconds from the start of `wave`)."""
    import logging

    logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # not one INFO line per video
    # one thread: each worker process transcribes one video; the text does not depend on the worker count
    segments = asr.speech_segments(wave, sample_rate, model=model_path(model_dir), threads=1, word_timestamps=True)
    return [
        Word(float(w.start), float(w.end), w.word.strip())
        for seg in segments
        for w in seg.words or []
        if w.word.strip()
    ]
