"""Word error rate of an offline ASR against the text that should have been spoken.

Both sides go through the same normaliser (Whisper's English text normaliser, from the
`whisper-normalizer` package), so the score counts words, not formatting. The corpus-level WER is total edits / total reference
words (jiwer), which weights long sentences by their length.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import torch

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})


@lru_cache(maxsize=1)
def _english_normalizer():
    try:
        from whisper_normalizer.english import EnglishTextNormalizer
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "evaluation needs whisper-normalizer: pip install whisper-normalizer (in requirements-test.txt)"
        ) from e
    return EnglishTextNormalizer()


def normalize_text(text: str) -> str:
    """Whisper's English normaliser (the one ASR papers score with): case, punctuation, contractions,
    spelling variants and numbers made uniform ("Don't stop, ten times!" -> "do not stop 10 times")."""
    if not isinstance(text, str):
        raise ValueError(f"text to normalise must be a string, got {type(text).__name__}")
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)  # ’ -> ' (the normaliser knows only ')
    return " ".join(_english_normalizer()(text).split())


def _jiwer():
    try:
        import jiwer
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("evaluation needs jiwer: pip install jiwer (listed in requirements-test.txt)") from e
    return jiwer


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, number of reference words) after normalisation."""
    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    if not ref:
        raise ValueError(f"reference text {reference!r} has no words to score against")
    if not hyp:
        return len(ref.split()), len(ref.split())
    out = _jiwer().process_words(ref, hyp)
    return out.substitutions + out.deletions + out.insertions, len(ref.split())


def word_error_rate(references: Sequence[str] | str, hypotheses: Sequence[str] | str) -> float:
    """Corpus WER: sum of edits over sum of reference words. Accepts one string or matched lists."""
    if isinstance(references, str) != isinstance(hypotheses, str):
        raise ValueError("pass two strings or two lists of strings")
    if isinstance(references, str):
        references, hypotheses = [references], [hypotheses]
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not references:
        raise ValueError("no sentences to score")
    edits = words = 0
    for r, h in zip(references, hypotheses):
        e, n = word_errors(r, h)
        edits, words = edits + e, words + n
    return edits / words


def transcribe_for_wer(wave: torch.Tensor, sample_rate: int) -> str:
    """Whisper tiny.en transcript for scoring; silence or babble with no words gives "" (all deletions)."""
    from ..asr import transcribe

    try:
        return transcribe(wave, sample_rate, threads=max(1, torch.get_num_threads()))
    except ValueError:  # nothing recognised, or too short: every reference word is deleted
        return ""
