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


# ---- varied text for the natural-voice (Kokoro) corpus ------------------------------------------------

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")  # fmt: skip
SHORT_LINES = (
    "Hello.", "Hi there!", "Thank you.", "Yes.", "No, thanks.", "Really?", "Good morning!", "See you soon.",
    "Wait for me!", "Okay.", "Of course.", "Why not?", "Excuse me.", "Welcome back!", "Goodbye.", "Not yet.",
    "I see.", "Come in.", "Well done!", "Is it true?", "Let's go!", "Absolutely.", "Sorry about that.",
)  # fmt: skip


def names() -> tuple[str, ...]:
    """First and last names of faker's en_US person provider (people, for sentences with names)."""
    from faker.providers.person.en_US import Provider

    return tuple(sorted(set(Provider.first_names) | set(Provider.last_names)))


def _template_sentence(rng: np.random.Generator, words: Sequence[str], people: Sequence[str]) -> str:
    """A sentence with a name, a number, a date, a time or money, written as people write them
    ("$3.50", "12/05", "3:30 pm"); the text normaliser spells them out before synthesis."""
    pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
    who, word, other = pick(people), pick(words), pick(words)
    month, day, year = pick(MONTHS), int(rng.integers(1, 29)), int(rng.integers(1950, 2031))
    templates = (
        f"{who} paid ${int(rng.integers(1, 500))}.{int(rng.integers(0, 100)):02d} for the {word}.",
        f"Did {who} really arrive on {month} {day}, {year}?",
        f"The {word} costs {int(rng.integers(2, 99))} dollars, not {int(rng.integers(100, 9999)):,}!",
        f"Meet me at {int(rng.integers(1, 13))}:{pick((0, 15, 30, 45)):02d} near the {word}.",
        f"{who} finished {pick(('1st', '2nd', '3rd', '4th', '5th', '10th', '21st'))} out of {int(rng.integers(20, 300))}.",
        f"About {int(rng.integers(2, 99))}% of the {word} was {other}.",
        f"On {int(rng.integers(1, 13))}/{int(rng.integers(1, 29)):02d}, {who} said the {word} was ready.",
        f"Call {who} before {int(rng.integers(1, 12))} pm, please.",
        f"Why did {who} and {pick(people)} wait {int(rng.integers(2, 60))} minutes?",
        f"In {year}, {who} wrote {int(rng.integers(2, 40))} letters about {word}.",
    )
    return templates[int(rng.integers(len(templates)))]


def make_varied_sentence(rng: np.random.Generator, words: Sequence[str], people: Sequence[str]) -> str:
    """One line of the natural-voice corpus: 15% short lines (1-5 words), 25% sentences with names,
    numbers, dates, times or money, 60% random-word sentences of 3 to 20 words (statements, questions,
    exclamations)."""
    u = rng.random()
    if u < 0.15:
        if rng.random() < 0.5:
            return SHORT_LINES[int(rng.integers(len(SHORT_LINES)))]
        return make_sentence(rng, words, min_words=1, max_words=5)
    if u < 0.40:
        return _template_sentence(rng, words, people)
    return make_sentence(rng, words, min_words=3, max_words=20)
