"""Phoneme vocabulary and frame-level alignment: one eSpeak phoneme id per mel frame.

Why: on 2 CPU cores a tiny flow-matching model learns to speak within an hour when its text input
is a frame-aligned phoneme sequence from eSpeak's phoneme events, and not at all in that time with
characters stretched evenly over the frames (shared/MEASURED.md). The model's text input is then a
LongTensor of length N (the number of mel frames), built here from phoneme spans.

The vocabulary is a plain list of symbols (it goes into checkpoint metadata JSON): index 0 is
padding / filler, index 1 is silence ("_"), the rest are eSpeak IPA names as the installed library
spells them (stress included: "ˈoʊ"). A symbol not in the vocabulary never raises; it maps along
a documented fallback chain (`PhonemeVocab.id`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..audio import MEL_FPS
from .espeak import SILENCE, phonemize

log = logging.getLogger(__name__)

PAD = "<pad>"  # index 0: padding and the filler after the end of speech
STRESS_MARKS = "ˈˌ"
LENGTH_MARKS = "ːˑ"
NEUTRAL_VOWEL = "ə"


def _strip(symbol: str, chars: str) -> str:
    return "".join(c for c in symbol if c not in chars)


@dataclass(frozen=True)
class PhonemeVocab:
    """Ordered phoneme symbols; `symbols[0] == PAD`, `symbols[1] == SILENCE`."""

    symbols: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _fallback_cache: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        syms = tuple(self.symbols)
        if len(syms) < 2 or syms[0] != PAD or syms[1] != SILENCE:
            raise ValueError(f"phoneme vocab must start with [{PAD!r}, {SILENCE!r}], got {list(syms[:2])}")
        if len(set(syms)) != len(syms):
            dup = sorted({s for s in syms if syms.count(s) > 1})
            raise ValueError(f"phoneme vocab has duplicate symbols: {dup}")
        if not all(isinstance(s, str) and s for s in syms):
            raise ValueError("phoneme vocab symbols must be non-empty strings")
        object.__setattr__(self, "symbols", syms)
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(syms)})
        object.__setattr__(self, "_fallback_cache", {})

    @classmethod
    def from_symbols(cls, symbols: Iterable[str]) -> PhonemeVocab:
        """Vocabulary of the given symbols (any order, repeats allowed), sorted for determinism."""
        rest = sorted({s for s in symbols if s and s not in (PAD, SILENCE)})
        return cls((PAD, SILENCE, *rest))

    @classmethod
    def from_list(cls, symbols: Sequence[str]) -> PhonemeVocab:
        """Inverse of `to_list` (checkpoint metadata, corpus manifest); the order is kept."""
        if not isinstance(symbols, (list, tuple)):
            raise ValueError(f"phoneme vocab must be a list of strings, got {type(symbols).__name__}")
        return cls(tuple(symbols))

    def to_list(self) -> list[str]:
        return list(self.symbols)

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._index

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def silence_id(self) -> int:
        return 1

    def id(self, symbol: str) -> int:
        """Index of `symbol`; an unknown symbol falls back, in order, to the first known of:
        1. the symbol without stress marks, or with primary / secondary stress added ("ˈɪ" <-> "ɪ");
        2. the same without length marks ("iː" -> "i");
        3. its first sound ("aɪ" -> "a", "ˈaɪ" -> "ˈa" / "a") — diphthongs and affricates;
        4. the neutral vowel "ə" for a symbol containing a vowel letter, else silence.
        The result is cached; the first miss of each symbol is logged at debug level."""
        i = self._index.get(symbol)
        if i is not None:
            return i
        cached = self._fallback_cache.get(symbol)
        if cached is not None:
            return cached
        out = self._fallback(symbol)
        self._fallback_cache[symbol] = out
        log.debug("phoneme %r not in vocab; using %r", symbol, self.symbols[out])
        return out

    def _fallback(self, symbol: str) -> int:
        base = _strip(symbol, STRESS_MARKS)
        stress = "".join(c for c in symbol if c in STRESS_MARKS)
        candidates = [base, "ˈ" + base, "ˌ" + base]
        short = _strip(base, LENGTH_MARKS)
        candidates += [stress + short, short, "ˈ" + short, "ˌ" + short]
        if short:
            candidates += [stress + short[0], short[0], "ˈ" + short[0], "ˌ" + short[0]]
        for c in candidates:
            if c in self._index:
                return self._index[c]
        if any(ch in "aeiouyæɑɐɒɔəɛɜɪʊʌɚɝøœɯɤɨʉ" for ch in base) and NEUTRAL_VOWEL in self._index:
            return self._index[NEUTRAL_VOWEL]
        return self.silence_id

    def encode(self, symbols: Iterable[str]) -> list[int]:
        return [self.id(s) for s in symbols]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.symbols[int(i)] for i in ids]


def frame_align(
    phonemes: Sequence[tuple[str, float, float]],
    num_frames: int,
    vocab: PhonemeVocab,
    fps: float = MEL_FPS,
) -> torch.Tensor:
    """Phoneme spans (ipa, start_s, end_s) -> LongTensor [num_frames] of vocab ids.

    Mel frame i is centred at i / fps seconds (center=True STFT, hop 256 at 24 kHz); it gets the
    phoneme whose span contains that instant. Frames before the first span get silence, frames
    after the last span get silence as well (eSpeak's trailing pause is silence, not filler).
    """
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    ids = np.full(num_frames, vocab.silence_id, dtype=np.int64)
    if not phonemes or num_frames == 0:
        return torch.from_numpy(ids)
    starts = np.array([p[1] for p in phonemes], dtype=np.float64)
    ends = np.array([p[2] for p in phonemes], dtype=np.float64)
    if np.any(np.diff(starts) < -1e-9):
        raise ValueError("phoneme spans must be sorted by start time")
    table = np.array(vocab.encode(p[0] for p in phonemes), dtype=np.int64)
    t = np.arange(num_frames, dtype=np.float64) / fps
    k = np.searchsorted(starts, t, side="right") - 1  # last span starting at or before t
    inside = (k >= 0) & (t < ends[np.clip(k, 0, None)])  # spans are half-open [start, end)
    ids[inside] = table[k[inside]]
    return torch.from_numpy(ids)


def spans_from_durations(durations: Sequence[tuple[str, float]], scale: float = 1.0) -> list[tuple[str, float, float]]:
    """(ipa, duration_s) -> contiguous (ipa, start_s, end_s), every duration multiplied by `scale`."""
    out, t = [], 0.0
    for ipa, d in durations:
        d = max(0.0, float(d)) * scale
        out.append((ipa, t, t + d))
        t += d
    return out


def target_alignment(
    text: str,
    vocab: PhonemeVocab,
    voice: str = "en-us",
    rate_scale: float = 1.0,
    variant: str | None = None,
    rate: int = 175,
    fps: float = MEL_FPS,
) -> torch.Tensor:
    """Frame-aligned phoneme ids for text to be generated: LongTensor [N], N = round(duration * fps).

    eSpeak gives the phonemes and their durations at `rate` words/min; every duration is then
    divided by `rate_scale` (a speaking-rate factor measured on the reference, > 1 = faster), so the
    generated speech has the reference's tempo. Raises ValueError for empty or unspeakable text.
    """
    if not rate_scale > 0:
        raise ValueError(f"rate_scale must be positive, got {rate_scale}")
    return align_durations(phonemize(text, voice=voice, variant=variant, rate=rate), vocab, rate_scale, fps)


def stretch_durations(
    durations: Sequence[tuple[str, float]], num_frames: int, vocab: PhonemeVocab, fps: float = MEL_FPS
) -> tuple[torch.Tensor, float]:
    """(ipa, seconds) stretched evenly to fill `num_frames` frames of real speech, which has no timing of its
    own (a reference clip, a prepared video) -> (frame ids [num_frames], rate: spoken / real seconds; > 1 when
    the speech is faster than the timing source)."""
    rate = sum(d for _, d in durations) / (num_frames / fps)
    return frame_align(spans_from_durations(durations, 1.0 / rate), num_frames, vocab, fps), rate


def align_durations(
    durations: Sequence[tuple[str, float]], vocab: PhonemeVocab, rate_scale: float = 1.0, fps: float = MEL_FPS
) -> torch.Tensor:
    """(ipa, seconds) -> frame ids [N], every duration divided by `rate_scale`, N = round(total * fps)."""
    if not rate_scale > 0:
        raise ValueError(f"rate_scale must be positive, got {rate_scale}")
    spans = spans_from_durations(durations, 1.0 / rate_scale)
    num_frames = max(1, round(spans[-1][2] * fps))
    return frame_align(spans, num_frames, vocab, fps)
