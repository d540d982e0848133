"""Word error rate of an offline ASR against the text that should have been spoken.

Both sides go through the same normaliser (lowercase, punctuation removed, whitespace collapsed),
so the score counts words, not formatting. The corpus-level WER is total edits / total reference
words (jiwer), which weights long sentences by their length.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import torch

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})
_NON_WORD = re.compile(r"[^\w\s']|_")


_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_NUMBER = re.compile(r"\d+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")


def number_words(n: int) -> str:
    """Cardinal in words for 0 <= n < 1,000,000 ("10" as an ASR writes it -> "ten"); larger stay digits."""
    if not 0 <= n < 1_000_000:
        return str(n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    return number_words(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + number_words(n % 1000))


def normalize_text(text: str) -> str:
    """Lowercase, unify apostrophes, drop apostrophes and punctuation (hyphens become spaces), spell
    out numbers, collapse whitespace: "Don't  stop—now, 10 times!" -> "dont stop now ten times"."""
    if not isinstance(text, str):
        raise ValueError(f"text to normalise must be a string, got {type(text).__name__}")
    t = unicodedata.normalize("NFKC", text).lower().translate(_APOSTROPHES)
    t = _THOUSANDS.sub("", t)  # 1,205 -> 1205
    t = _NON_WORD.sub(" ", t).replace("'", "")
    t = _NUMBER.sub(lambda m: f" {number_words(int(m.group()))} ", t)
    return " ".join(t.split())


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
