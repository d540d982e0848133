"""English sentences for the synthetic corpus, generated offline and deterministically.

Source: the en_US word list of the `faker` package's lorem provider (~970 common English words,
MIT licence), sampled with our own seeded generator (not Faker's, whose output may change between
versions), with commas and ./?/! endings so that eSpeak's phrase pauses and question/exclamation
intonation occur. Random-word sentences cover English phonotactics evenly; measured here, a tiny
model trained on 5,000 of them speaks unseen natural sentences (shared/MEASURED.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

ENDINGS = (".", ".", ".", ".", ".", ".", "?", "?", "!")


def word_list() -> tuple[str, ...]:
    """The faker en_US lorem word list (lower-cased except proper nouns like 'American')."""
    try:
        from faker.providers.lorem.en_US import Provider
    except ImportError as e:
        raise RuntimeError(
            "the corpus text source needs `faker` (pip install faker; listed in requirements-test.txt)"
        ) from e
    words = tuple(w for w in Provider.word_list if w.isalpha())
    if len(words) < 100:
        raise RuntimeError(f"faker en_US word list unexpectedly small ({len(words)} words)")
    return words


def text_source(words: Sequence[str]) -> str:
    """Human-readable provenance recorded in the manifest (includes a hash of the word list)."""
    import faker

    digest = hashlib.sha256("\n".join(words).encode()).hexdigest()[:12]
    return (
        f"random-word sentences from the faker {faker.VERSION} en_US lorem word list "
        f"({len(words)} words, sha256 {digest}), sampled by omnitalker_core.corpus.sentences"
    )


def make_sentence(rng: np.random.Generator, words: Sequence[str], min_words: int = 4, max_words: int = 16) -> str:
    """One sentence: `min_words..max_words` uniformly random words, capitalised, maybe a comma, an ending."""
    n = int(rng.integers(min_words, max_words + 1))
    picked = [words[int(i)] for i in rng.integers(0, len(words), size=n)]
    if n >= 7 and rng.random() < 0.4:  # a clause boundary gives eSpeak a phrase pause
        cut = int(rng.integers(3, n - 2))
        picked[cut - 1] += ","
    picked[0] = picked[0][:1].upper() + picked[0][1:]
    return " ".join(picked) + ENDINGS[int(rng.integers(len(ENDINGS)))]


def coverage_sentences(words: Sequence[str], per_sentence: int = 12) -> list[str]:
    """Every word of the list once, in sentences, for building the phoneme vocabulary."""
    chunks = [words[i : i + per_sentence] for i in range(0, len(words), per_sentence)]
    return [" ".join(c) + ("?" if i % 5 == 4 else ".") for i, c in enumerate(chunks)]
