"""Cut a video's speech into utterances of 1-10 s at pauses, and give each one its text.

Why energy and not the ASR's timing for the cuts: Whisper's word timestamps run word into word (no gaps,
±0.1-0.2 s), so they cannot say where a pause is; the signal's energy can. ASR words only supply the text
of each piece (by word midpoint), and, when the user gave a transcript, the positions to cut that transcript.

Voice activity (per 20 ms window, 10 ms hop, RMS in dBFS of the 24 kHz mono track):
    loud  = 95th percentile of the windows' level, noise = 10th percentile
    speech if level > min(loud - 15 dB, max(noise + 6 dB, loud - 35 dB, -60 dBFS))
i.e. at least 6 dB over the noise floor and within 35 dB of the loud parts, never below -60 dBFS, and at least
15 dB under the loud parts (so a clip that is speech throughout still has pauses). Speech bursts under 80 ms are
clicks; silences under 0.25 s are inside speech (stop closures, breath between words): `SegmentConfig`.

Cutting: silences of 0.8 s or more always end an utterance; a stretch longer than 10 s is split recursively
at its longest pause (keeping both sides >= 1 s where possible); what stays under 1 s is dropped ("too short"),
a stretch over 10 s without any pause is dropped ("no pause to cut at"). Each utterance keeps up to 0.15 s of
the silence around it (at most half of the pause to the next speech).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from difflib import SequenceMatcher

import numpy as np


@dataclass(frozen=True)
class SegmentConfig:
    """Thresholds of the voice activity detection and the cutting (all seconds or dB)."""

    min_seconds: float = 1.0  # shortest utterance kept
    max_seconds: float = 10.0  # longest utterance (the paper trims references to 1-10 s)
    window: float = 0.02  # energy window
    hop: float = 0.01  # energy hop
    min_pause: float = 0.25  # a quieter stretch shorter than this is inside speech
    split_pause: float = 0.8  # a pause this long always ends an utterance
    min_burst: float = 0.08  # a louder stretch shorter than this is a click, not speech
    margin: float = 0.15  # silence kept around an utterance (at most half the pause)
    floor_db: float = -60.0  # never speech below this level
    noise_margin_db: float = 6.0  # speech is at least this much above the noise floor
    dynamic_range_db: float = 35.0  # speech is at most this much below the loud parts
    min_contrast_db: float = 15.0  # the threshold stays at least this much below the loud parts

    def __post_init__(self) -> None:
        if not 0 < self.min_seconds < self.max_seconds:
            raise ValueError(f"need 0 < min_seconds < max_seconds, got {self.min_seconds}, {self.max_seconds}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Span:
    start: float  # seconds
    end: float
    reason: str = ""  # why it is dropped ("" = kept)

    @property
    def seconds(self) -> float:
        return self.end - self.start


def energy_db(wave: np.ndarray, sample_rate: int, cfg: SegmentConfig) -> np.ndarray:
    """Level per hop [w] in dBFS (RMS of a `window` around each hop)."""
    win, hop = max(1, round(cfg.window * sample_rate)), max(1, round(cfg.hop * sample_rate))
    x = np.asarray(wave, np.float64)
    if x.size < win:
        return np.full(1 if x.size else 0, 10 * np.log10(np.mean(x**2) + 1e-12) if x.size else -120.0)
    c = np.concatenate([[0.0], np.cumsum(x * x)])
    starts = np.arange(0, x.size - win + 1, hop)
    power = (c[starts + win] - c[starts]) / win
    return 10 * np.log10(power + 1e-12)


def threshold_db(db: np.ndarray, cfg: SegmentConfig) -> float:
    loud, noise = np.percentile(db, 95), np.percentile(db, 10)
    return float(
        min(loud - cfg.min_contrast_db, max(noise + cfg.noise_margin_db, loud - cfg.dynamic_range_db, cfg.floor_db))
    )


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs where mask is True."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.nonzero(d == 1)[0].tolist(), np.nonzero(d == -1)[0].tolist()))


def speech_regions(wave: np.ndarray, sample_rate: int, cfg: SegmentConfig) -> list[Span]:
    """Stretches of speech (seconds), pauses shorter than `min_pause` bridged, clicks removed."""
    db = energy_db(wave, sample_rate, cfg)
    if db.size == 0:
        return []
    speech = db > threshold_db(db, cfg)
    if float(db.max()) <= cfg.floor_db:
        return []  # silent track
    hop, win = cfg.hop, cfg.window
    gap = round(cfg.min_pause / hop)
    runs = _runs(speech)
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] < gap:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    total = len(wave) / sample_rate
    out = []
    for a, b in merged:
        start, end = a * hop, min(total, b * hop + win)
        if end - start >= cfg.min_burst:
            out.append(Span(start, end))
    return out


def _split(group: list[Span], cfg: SegmentConfig) -> list[list[Span]]:
    """Split a run of speech regions at its longest pauses until every part lasts <= max_seconds."""
    if group[-1].end - group[0].start <= cfg.max_seconds or len(group) == 1:
        return [group]
    best, best_key = 1, None
    for i in range(1, len(group)):
        left, right = group[i - 1].end - group[0].start, group[-1].end - group[i].start
        ok = left >= cfg.min_seconds and right >= cfg.min_seconds
        key = (ok, round(group[i].start - group[i - 1].end, 2), -abs(left - right))
        if best_key is None or key > best_key:
            best, best_key = i, key
    return _split(group[:best], cfg) + _split(group[best:], cfg)


def cut(regions: list[Span], total: float, cfg: SegmentConfig, whole: bool = False) -> list[Span]:
    """Speech regions -> utterance spans (with margins), dropped ones carrying their reason.

    whole: keep everything from the first to the last speech as one utterance when it fits in max_seconds
    (a clip with its own transcript)."""
    if not regions:
        return []
    groups: list[list[Span]] = []
    if whole and regions[-1].end - regions[0].start <= cfg.max_seconds:
        groups = [list(regions)]
    else:
        for r in regions:
            if groups and r.start - groups[-1][-1].end < cfg.split_pause:
                groups[-1].append(r)
            else:
                groups.append([r])
        groups = [part for g in groups for part in _split(g, cfg)]
    spans: list[Span] = []
    for g in groups:
        start, end = g[0].start, g[-1].end
        if end - start > cfg.max_seconds:
            reason = "no_pause"
        elif end - start < cfg.min_seconds:
            reason = "too_short"
        else:
            reason = ""
        spans.append(Span(start, end, reason))
    out = []
    for i, s in enumerate(spans):  # margins: some silence, never into the neighbour's half of the pause
        lo = (spans[i - 1].end + s.start) / 2 if i else 0.0
        hi = (s.end + spans[i + 1].start) / 2 if i + 1 < len(spans) else total
        out.append(Span(max(lo, s.start - cfg.margin), min(hi, s.end + cfg.margin), s.reason))
    return out


# ---- text per utterance ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str


def words_in(words: list[Word], span: Span) -> list[int]:
    """Indices of the words whose midpoint lies in the span."""
    return [i for i, w in enumerate(words) if span.start <= (w.start + w.end) / 2 < span.end]


def asr_texts(words: list[Word], spans: list[Span]) -> list[str]:
    return [" ".join(words[i].text for i in words_in(words, s)).strip() for s in spans]


def _norm(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def transcript_texts(transcript: str, words: list[Word], spans: list[Span]) -> tuple[list[str], float]:
    """Cut a whole-video transcript where the ASR words of each span begin and end.

    The transcript is aligned to the ASR words (difflib on lower-cased words without punctuation), so each
    piece gets the user's own words, punctuation and spelling; returns the pieces' texts and the agreement
    (matched words / the longer of the two word lists), which says whether the transcript fits the audio."""
    tokens = transcript.split()
    a, b = [_norm(w.text) for w in words], [_norm(t) for t in tokens]
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    agreement = sum(m.size for m in matcher.get_matching_blocks()) / max(len(a), len(b), 1)
    ops = [op for op in matcher.get_opcodes() if op[0] != "insert"]

    def to_token(i: int) -> int:  # a boundary before ASR word i -> the boundary before a transcript token
        if i >= len(a):
            return len(b)
        for tag, i1, i2, j1, j2 in ops:
            if i1 <= i < i2:
                if tag == "equal":
                    return j1 + (i - i1)
                if tag == "replace":
                    return j1 + round((i - i1) * (j2 - j1) / (i2 - i1))
                return j1  # delete: the ASR heard words the transcript does not have
        return len(b)

    texts = []
    for s in spans:
        idx = words_in(words, s)
        texts.append(" ".join(tokens[to_token(idx[0]) : to_token(idx[-1] + 1)]) if idx else "")
    return texts, agreement
