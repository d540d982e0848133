"""Offline ASR with word timestamps (faster-whisper), for videos without a transcript or with one too long to
keep whole. The same model and decoding as `omnitalker_core.asr` (bundled Whisper tiny.en, beam 5, temperature 0
for reproducible text, Whisper's no-speech filter), plus word timing; `--asr-model` names another local
CTranslate2 Whisper directory (e.g. a larger English model). English only: the phonemes come from eSpeak en-us.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import asr
from .segment import Word

_models: dict[str, object] = {}


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


def _model(model_dir: str | Path | None):
    path = str(model_path(model_dir))
    if path not in _models:
        import logging

        from faster_whisper import WhisperModel

        logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # not one INFO line per video
        # one thread: each worker process transcribes one video; the text does not depend on the worker count
        _models[path] = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=1)
    return _models[path]


def transcribe_words(wave: np.ndarray, sample_rate: int, model_dir: str | Path | None = None) -> list[Word]:
    """Mono speech at any rate -> recognised words with their times (seconds from the start of `wave`)."""
    import torch

    from .. import audio as audio_lib

    x = audio_lib.resample(torch.as_tensor(wave, dtype=torch.float32), sample_rate, asr.WHISPER_RATE).numpy()
    segments, _ = _model(model_dir).transcribe(
        x,
        language="en",
        beam_size=5,
        temperature=0.0,
        vad_filter=False,
        condition_on_previous_text=False,
        word_timestamps=True,
    )
    out = []
    for seg in segments:
        if seg.no_speech_prob >= asr.NO_SPEECH_PROB:
            continue
        for w in seg.words or []:
            if w.word.strip():
                out.append(Word(float(w.start), float(w.end), w.word.strip()))
    return out
