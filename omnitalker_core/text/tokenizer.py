"""Text -> model token ids and total length N, for the two text alignments a model can be trained with.

- `CharTokenizer` (paper / F5-TTS): characters (pinyin for Chinese, as F5-TTS `convert_char_to_pinyin`)
  of reference transcript + target text, looked up in an F5 `vocab.txt`; the model pads them with
  filler tokens to N. N follows F5-TTS: reference frames + reference frames * bytes(target) /
  bytes(reference transcript) / speed.
- `PhonemeTokenizer` (demo model): one eSpeak phoneme id per mel frame. The reference transcript's
  eSpeak phonemes are stretched over the reference audio; the target's eSpeak durations are scaled
  by the reference's measured speaking rate and the user's speed.

Model ids are shifted so that -1 means filler/padding (F5-TTS convention, `TextEmbedding` adds 1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from .phonemes import MEL_FPS, PhonemeVocab, align_durations, stretch_durations

DEFAULT_VOCAB = Path(__file__).resolve().parent.parent / "assets" / "f5_vocab.txt"
MAX_FRAMES = 8192  # TextEmbedding's position table: ~87 s at 93.75 frames/s
_CHINESE = re.compile(r"[\u3100-\u9fff]")


@dataclass
class TextInput:
    ids: torch.Tensor  # nt (chars) or N (frames) LongTensor of model ids; -1 = filler
    duration: int  # total frames N = reference + target
    ref_frames: int


SPEED_RANGE = (0.5, 2.0)  # speaking-rate factor relative to the reference; the node's widget uses the same
CHARS_PER_SECOND = 15.0  # typical English speech, for the length estimates in messages


def check_text(text: str, name: str, max_chars: int | None = None) -> str:
    """The text with whitespace collapsed; ValueError naming `name` when it is empty, has nothing speakable,
    or is longer than `max_chars`."""
    if text is None or not str(text).strip():
        raise ValueError(f"{name} is empty: type the words to speak")
    text = " ".join(str(text).split())
    if not re.search(r"\w", text):
        raise ValueError(f"{name} {text[:60]!r} has nothing speakable (no letters or digits)")
    if max_chars is not None and len(text) > max_chars:
        raise ValueError(
            f"{name} has {len(text):,} characters (about {len(text) / CHARS_PER_SECOND / 60:.0f} minutes of speech); "
            f"one run takes at most {max_chars:,} (about {max_chars / CHARS_PER_SECOND / 60:.0f} minutes): "
            "split the text over several runs and join the videos"
        )
    return text


# Scripts by Unicode block; a model speaks the languages its tokenizer was built for (`Tokenizer.languages`).
_SCRIPTS = {
    "zh": re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]"),
    "ja": re.compile(r"[\u3040-\u30ff]"),
    "ko": re.compile(r"[\uac00-\ud7af]"),
    "Cyrillic": re.compile(r"[\u0400-\u04ff]"),
    "Greek": re.compile(r"[\u0370-\u03ff]"),
    "Arabic": re.compile(r"[\u0600-\u06ff]"),
    "Hebrew": re.compile(r"[\u0590-\u05ff]"),
    "Devanagari": re.compile(r"[\u0900-\u097f]"),
    "Thai": re.compile(r"[\u0e00-\u0e7f]"),
}
_NON_ENGLISH_LATIN = re.compile(r"[À-ÖØ-öø-ÿĀ-ž]")  # accented Latin letters (no IGNORECASE: it folds "i" into "ı")
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "ja": "Japanese", "ko": "Korean"}


def check_language(text: str, languages: tuple[str, ...], name: str = "text") -> str | None:
    """ValueError when `text` is written in a script the model cannot speak (it would read it as English
    letters or skip it); returns a warning when it has accented letters of other Latin-script languages
    (German, French, ...), which an English-only model reads with English rules; else None."""
    spoken = ", ".join(LANGUAGE_NAMES.get(lang, lang) for lang in languages)
    for script, pattern in _SCRIPTS.items():
        if script not in languages and pattern.search(text):
            found = LANGUAGE_NAMES.get(script, script)
            raise ValueError(
                f"{name} contains {found} characters ({pattern.search(text).group(0)!r}), but this model speaks "
                f"{spoken} only: write the text in {spoken}, or load a model trained on {found}"
            )
    if "en" in languages and len(languages) <= 2:
        accented = sorted(set(_NON_ENGLISH_LATIN.findall(text)))
        if accented:
            return (
                f"{name} has letters of other languages ({''.join(accented[:8])}); this model speaks {spoken} and "
                "reads them with English rules"
            )
    return None


def check_speed(speed: float) -> None:
    lo, hi = SPEED_RANGE
    if not lo <= speed <= hi:
        raise ValueError(f"speed must be in {lo}..{hi}, got {speed}")


def estimate_duration(ref_frames: int, ref_text_len: int, target_text_len: int, speed: float = 1.0) -> int:
    """F5-TTS rule: total = ref + int(ref * len(target) / len(ref) / speed) frames, bounded to what fits the model."""
    if ref_text_len <= 0:
        raise ValueError("reference transcript is empty: the duration rule needs its length")
    check_speed(speed)
    return _bounded(ref_frames + int(ref_frames / ref_text_len * target_text_len / speed), "text")


def _bounded(total: int, what: str, fps: float = MEL_FPS) -> int:
    if total > MAX_FRAMES:
        seconds = total / fps
        raise ValueError(
            f"{what} needs {total} frames ({seconds:.0f} s incl. reference), more than the model's "
            f"{MAX_FRAMES} ({MAX_FRAMES / fps:.0f} s): split the text into shorter pieces (the pipeline does this by sentence)"
        )
    return total


@lru_cache(maxsize=1)
def _jieba():
    """rjieba (what F5-TTS segments with) when installed; jieba otherwise, which segments ASCII
    differently ("stop-me", "3.5kg", "a.b@c.com") and so spaces a few such tokens differently."""
    try:
        import rjieba

        return rjieba
    except ImportError:
        import jieba

        jieba.setLogLevel(60)
        return jieba


def chars_with_pinyin(text: str) -> list[str]:
    """F5-TTS `convert_char_to_pinyin` (jieba for segmentation, pypinyin TONE3 with tone sandhi)."""
    from pypinyin import Style, lazy_pinyin

    text = text.translate(str.maketrans({";": ",", "“": '"', "”": '"', "‘": "'", "’": "'"}))
    out: list[str] = []  # no shortcut for text without Chinese: F5 spaces ASCII words after punctuation too
    for seg in _jieba().cut(text):
        n_bytes = len(seg.encode("utf-8"))
        if n_bytes == len(seg):  # pure alphabets and symbols
            if out and n_bytes > 1 and out[-1] not in " :'\"":
                out.append(" ")
            out.extend(seg)
        elif n_bytes == 3 * len(seg):  # pure east asian characters
            pys = lazy_pinyin(seg, style=Style.TONE3, tone_sandhi=True)
            for c, py in zip(seg, pys):
                if _CHINESE.match(c):
                    out.append(" ")
                out.append(py)
        else:
            for c in seg:
                if ord(c) < 256:
                    out.append(c)
                elif _CHINESE.match(c):
                    out.append(" ")
                    out.extend(lazy_pinyin(c, style=Style.TONE3, tone_sandhi=True))
                else:
                    out.append(c)
    return out


class CharTokenizer:
    kind = "chars"
    languages = ("en", "zh")  # F5-TTS Emilia: English and Chinese (pinyin)

    def __init__(self, vocab: list[str]):
        if not vocab or vocab[0] != " ":
            raise ValueError("F5-TTS vocab must have the space character at index 0 (used for unknown characters)")
        self.vocab = list(vocab)
        self.index = {c: i for i, c in enumerate(self.vocab)}

    @classmethod
    def from_file(cls, path: str | Path = DEFAULT_VOCAB) -> CharTokenizer:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"vocab file not found: {path} (F5-TTS ships it as vocab.txt beside the model)")
        lines = path.read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return cls(lines)

    def to_metadata(self) -> dict:
        return {"kind": self.kind, "vocab": self.vocab}

    @property
    def num_embeds(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(c, 0) for c in chars_with_pinyin(text)]

    def build(self, ref_text: str, text: str, ref_frames: int, speed: float = 1.0, fps: float = MEL_FPS) -> TextInput:
        ref_text = check_text(ref_text, "reference transcript")
        text = check_text(text, "text")
        check_speed(speed)
        if not ref_text.endswith((". ", "。")):  # F5-TTS infer: the reference ends with a sentence break
            ref_text = ref_text + (" " if ref_text.endswith(".") else ". ")
        ids = torch.tensor(self.encode(ref_text + text), dtype=torch.long)
        total = estimate_duration(ref_frames, len(ref_text.encode("utf-8")), len(text.encode("utf-8")), speed)
        total = max(total, ids.numel() + 1, ref_frames + 1)
        return TextInput(ids=ids, duration=_bounded(total, "text", fps), ref_frames=ref_frames)


class PhonemeTokenizer:
    kind = "phonemes"
    languages = ("en",)  # eSpeak English phonemes, text normalised by English rules

    def __init__(self, vocab: list[str], voice: str = "en-us", durations=None):
        self.vocab = PhonemeVocab.from_list(vocab)
        self.voice = voice
        self.durations = durations  # a model.duration.DurationPredictor from the model file, else eSpeak's timing

    def to_metadata(self) -> dict:
        return {"kind": self.kind, "vocab": self.vocab.to_list(), "voice": self.voice}

    @property
    def num_embeds(self) -> int:
        return len(self.vocab) - 1  # PAD becomes the filler id

    def frame_ids(self, vocab_ids: torch.Tensor) -> torch.Tensor:
        return vocab_ids.long() - 1

    def timed_phonemes(self, text: str) -> list[tuple[str, float]]:
        """(phoneme, seconds) of normalised text: eSpeak's phonemes, timed by the model's duration predictor
        when its file has one, else by eSpeak."""
        from .espeak import phonemize
        from .normalize import normalize_text

        timed = phonemize(normalize_text(text), voice=self.voice)
        if self.durations is None:
            return timed
        names = [name for name, _ in timed]
        return list(zip(names, self.durations.seconds(self.vocab.encode(names))))

    def reference_ids(self, ref_text: str, ref_frames: int, fps: float = MEL_FPS) -> tuple[torch.Tensor, float]:
        """The transcript's phonemes stretched over the reference; returns (ids, rate factor)."""
        durations = self.timed_phonemes(check_text(ref_text, "reference transcript"))
        return stretch_durations(durations, ref_frames, self.vocab, fps)

    def build(self, ref_text: str, text: str, ref_frames: int, speed: float = 1.0, fps: float = MEL_FPS) -> TextInput:
        """Text is normalised ("$3.50" -> "three dollars fifty") as the corpus was, then phonemised by eSpeak;
        its durations are scaled by the reference's measured rate and `speed`."""
        text = check_text(text, "text")
        check_speed(speed)
        ref_ids, rate = self.reference_ids(ref_text, ref_frames, fps)
        rate = min(max(rate, 0.5), 2.0)  # a transcript that does not match its audio must not explode N
        gen_ids = align_durations(self.timed_phonemes(text), self.vocab, rate * speed, fps)
        ids = torch.cat([ref_ids, gen_ids])
        return TextInput(ids=self.frame_ids(ids), duration=_bounded(ids.numel(), "text", fps), ref_frames=ref_frames)


Tokenizer = CharTokenizer | PhonemeTokenizer


def tokenizer_from_metadata(meta: dict) -> Tokenizer:
    kind = meta.get("kind")
    if kind == "chars":
        return CharTokenizer(meta["vocab"])
    if kind == "phonemes":
        return PhonemeTokenizer(meta["vocab"], meta.get("voice", "en-us"))
    raise ValueError(f"unknown tokenizer kind {kind!r} in checkpoint metadata")
