"""eSpeak NG through its C library (ctypes): speech audio plus timed IPA phonemes and words.

Why the C library and not the `espeak-ng` command: only the library's synth callback reports
*when* each phoneme starts (`espeakEVENT_PHONEME`, `sample` = first output sample, `id.string`
= IPA name); `espeak-ng --pho` prints durations only for MBROLA voices. Those timings give the
frame-aligned phoneme sequence that makes a tiny model speak within an hour of CPU training
(shared/MEASURED.md), and the same call at inference gives the target text's phonemes and
durations. The library and its data come from the `espeakng-loader` wheel (no system package).

eSpeak keeps one global C state (voice, parameters, callback), so every call holds a process-wide
lock; parallel corpus workers use processes, each of which initialises its own copy.

Reproducibility: eSpeak draws random numbers (seeded from the clock unless `seed` is given; we
seed it before every call via `espeak_ng_SetRandSeed`) and carries wave-generator state (the phase
of the pitch cycle) from one call to the next, which shifts phoneme boundaries by a few samples.
Neither `espeak_Terminate` nor re-initialising resets that state, so an output is bit-exact only
for the same sequence of calls in a fresh process; the corpus generator renders every shard in a
fresh process for that reason.

Phoneme names come from the library (its newer versions put stress into the name: `ˈoʊ`), so the
vocabulary must be built with the library that runs at inference (`omnitalker_core.text.phonemes`).
Gaps (eSpeak's pause events and the lead-in before the first phoneme) become `SILENCE` ("_"),
so every instant of the audio is covered by exactly one symbol.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

log = logging.getLogger(__name__)

ESPEAK_RATE = 22050  # the library's fixed output rate
OUTPUT_RATE = 24000  # the model's rate (Vocos / F5 mel)
SILENCE = "_"  # symbol for pauses and the lead-in/out around speech

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_INIT_DONT_EXIT = 0x8000
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_SENTENCE = 2
_EVENT_END = 5
_EVENT_MSG_TERMINATED = 6
_EVENT_PHONEME = 7
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
_PARAM_RANGE = 4
_PARAM_WORDGAP = 7

RATE_RANGE = (80, 450)  # words per minute eSpeak accepts
PITCH_RANGE = (0, 99)  # eSpeak's 0..99 base-pitch and pitch-range scales


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """`espeak_EVENT` from speak_lib.h."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character position in the input
        ("length", ctypes.c_int),  # word length in characters (word events)
        ("audio_position", ctypes.c_int),  # ms
        ("sample", ctypes.c_int),  # output sample index (22,050 Hz)
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class Phoneme(NamedTuple):
    """One phoneme: IPA name (or SILENCE) and its span in seconds of the output audio."""

    ipa: str
    start: float
    end: float


class Word(NamedTuple):
    """One word: its text (as written in the input) and its span in seconds."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Synthesis:
    """Result of `synthesize`. `audio` is mono float32 at `sample_rate` (24 kHz), empty when not kept;
    `phonemes` cover [0, duration] without gaps or overlaps."""

    audio: np.ndarray
    sample_rate: int
    duration: float  # seconds
    phonemes: list[Phoneme]
    words: list[Word]
    voice: str  # the eSpeak voice name used, e.g. "en-us+f3"


# ---- library state ---------------------------------------------------------------------------

_lock = threading.RLock()
_state: dict = {"pid": None, "lib": None, "cb": None, "voice": None}
_sink: dict = {"audio": [], "events": [], "keep_audio": True}


def _on_synth(wav, num_samples: int, events) -> int:
    """Synth callback: collects audio chunks and the events that come with them (0 = continue)."""
    if wav and num_samples > 0 and _sink["keep_audio"]:
        _sink["audio"].append(np.ctypeslib.as_array(wav, (num_samples,)).copy())
    i = 0
    while events[i].type != _EVENT_LIST_TERMINATED:
        e = events[i]
        if e.type == _EVENT_PHONEME:
            name = bytes(e.id.string).split(b"\0", 1)[0].decode("utf-8", "replace")
            _sink["events"].append((_EVENT_PHONEME, e.sample, name, e.text_position, e.length))
        elif e.type in (_EVENT_WORD, _EVENT_END, _EVENT_MSG_TERMINATED, _EVENT_SENTENCE):
            _sink["events"].append((e.type, e.sample, "", e.text_position, e.length))
        i += 1
    return 0


def _library() -> ctypes.CDLL:
    """Load and initialise eSpeak once per process (re-initialised after a fork)."""
    if _state["lib"] is not None and _state["pid"] == os.getpid():
        return _state["lib"]
    try:
        import espeakng_loader
    except ImportError as e:
        raise RuntimeError("eSpeak NG is missing: `pip install espeakng-loader` (listed in requirements.txt)") from e
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_Callback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
        ctypes.c_void_p, ctypes.c_void_p,
    ]  # fmt: skip
    lib.espeak_Synth.restype = ctypes.c_int
    if hasattr(lib, "espeak_ng_SetRandSeed"):  # espeak-ng >= 1.52
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
    data = espeakng_loader.get_data_path().encode()
    flags = _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA | _INIT_DONT_EXIT
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, flags)
    if rate != ESPEAK_RATE:
        raise RuntimeError(f"eSpeak NG failed to initialise (returned {rate}, expected {ESPEAK_RATE} Hz)")
    cb = _Callback(_on_synth)  # keep a reference: the C side holds only the pointer
    lib.espeak_SetSynthCallback(cb)
    _state.update(pid=os.getpid(), lib=lib, cb=cb, voice=None)
    log.debug("eSpeak NG initialised from %s", espeakng_loader.get_library_path())
    return lib


def voice_name(voice: str, variant: str | None = None) -> str:
    """eSpeak's name for a language voice plus an optional variant: ("en-us", "f3") -> "en-us+f3"."""
    return f"{voice}+{variant}" if variant else voice


def list_variants() -> list[str]:
    """Names of the voice variants shipped with the library (m1..m7, f1..f5, klatt, ...)."""
    import espeakng_loader

    root = os.path.join(espeakng_loader.get_data_path(), "voices", "!v")
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def _check_int(name: str, value: int, lo: int, hi: int) -> int:
    if not lo <= int(value) <= hi:
        raise ValueError(f"eSpeak {name} must be in [{lo}, {hi}], got {value}")
    return int(value)


# ---- synthesis -------------------------------------------------------------------------------


def _run(
    text: str, voice: str, rate: int, pitch: int, pitch_range: int, word_gap: int, keep_audio: bool, seed: int | None
):
    """Synthesise under the lock; returns (int16 audio at 22,050 Hz, events, total samples)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text to speak is empty: {text!r}")
    rate = _check_int("rate (words/min)", rate, *RATE_RANGE)
    pitch = _check_int("pitch", pitch, *PITCH_RANGE)
    pitch_range = _check_int("pitch_range", pitch_range, *PITCH_RANGE)
    word_gap = _check_int("word_gap (10 ms units)", word_gap, 0, 100)
    data = text.encode("utf-8")
    with _lock:
        lib = _library()
        if _state["voice"] != voice:
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"unknown eSpeak voice {voice!r} (language voice like 'en-us', optional '+variant')")
            _state["voice"] = voice
        for param, value in ((_PARAM_RATE, rate), (_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range),
                             (_PARAM_WORDGAP, word_gap), (_PARAM_VOLUME, 100)):  # fmt: skip
            lib.espeak_SetParameter(param, value, 0)
        if seed is not None and hasattr(lib, "espeak_ng_SetRandSeed"):
            lib.espeak_ng_SetRandSeed(int(seed) & 0x7FFFFFFF)
        _sink.update(audio=[], events=[], keep_audio=keep_audio)
        err = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        audio, events = _sink["audio"], _sink["events"]
        _sink.update(audio=[], events=[])
    if err != 0:
        raise RuntimeError(f"eSpeak NG synthesis failed with error {err} for text {text[:60]!r}")
    pcm = np.concatenate(audio) if audio else np.zeros(0, np.int16)
    total = max([e[1] for e in events] + [len(pcm)])
    return pcm, events, total


def _spans(events: list, total: int, text: str) -> tuple[list[Phoneme], list[Word]]:
    """Phoneme events (start samples) -> contiguous spans; empty names and gaps -> SILENCE."""
    starts = [(s, name or SILENCE) for kind, s, name, _, _ in events if kind == _EVENT_PHONEME]
    phonemes: list[Phoneme] = []
    if starts and starts[0][0] > 0:
        starts.insert(0, (0, SILENCE))
    for i, (s, name) in enumerate(starts):
        e = starts[i + 1][0] if i + 1 < len(starts) else total
        if e <= s:
            continue  # zero-length (eSpeak emits e.g. a pause marker at the very end)
        if phonemes and name == SILENCE and phonemes[-1].ipa == SILENCE:
            phonemes[-1] = Phoneme(SILENCE, phonemes[-1].start, e / ESPEAK_RATE)  # merge pauses
            continue
        phonemes.append(Phoneme(name, s / ESPEAK_RATE, e / ESPEAK_RATE))
    if phonemes and phonemes[-1].end < total / ESPEAK_RATE:
        phonemes.append(Phoneme(SILENCE, phonemes[-1].end, total / ESPEAK_RATE))

    words: list[Word] = []
    word_events = [(s, pos, n) for kind, s, _, pos, n in events if kind == _EVENT_WORD]
    speech = [p for p in phonemes if p.ipa != SILENCE]
    for i, (s, pos, n) in enumerate(word_events):
        start = s / ESPEAK_RATE
        nxt = word_events[i + 1][0] / ESPEAK_RATE if i + 1 < len(word_events) else total / ESPEAK_RATE
        # the word ends with the last non-silent phoneme that starts before the next word does
        ends = [p.end for p in speech if start - 1e-9 <= p.start < nxt]
        words.append(Word(text[pos - 1 : pos - 1 + n] if pos > 0 else "", start, max(ends) if ends else nxt))
    return phonemes, words


def _resample(pcm: np.ndarray) -> np.ndarray:
    """int16 at 22,050 Hz -> float32 at 24 kHz (polyphase, 24000/22050 = 160/147)."""
    from scipy.signal import resample_poly

    x = pcm.astype(np.float32) / 32768.0
    if x.size == 0:
        return x
    return resample_poly(x, 160, 147).astype(np.float32)


def synthesize(
    text: str,
    voice: str = "en-us",
    variant: str | None = None,
    rate: int = 175,
    pitch: int = 50,
    pitch_range: int = 50,
    word_gap: int = 0,
    keep_audio: bool = True,
    seed: int | None = 0,
) -> Synthesis:
    """Speak `text` with eSpeak NG; return 24 kHz audio, phoneme spans and word spans.

    voice: language voice ("en-us", "en", "en-gb-scotland", ...); variant: a voice variant
    ("m3", "f2", "klatt"; see `list_variants`); rate: words per minute (80..450); pitch: base pitch
    0..99; pitch_range: intonation range 0..99 (0 = monotone); word_gap: extra pause between words
    in units of 10 ms; seed: eSpeak's random seed (None = its clock-based one; see the module
    docstring on reproducibility). Raises ValueError for empty text or text with nothing to speak.
    """
    name = voice_name(voice, variant)
    pcm, events, total = _run(text, name, rate, pitch, pitch_range, word_gap, keep_audio, seed)
    phonemes, words = _spans(events, total, text)
    if not any(p.ipa != SILENCE for p in phonemes):
        raise ValueError(f"nothing speakable in text {text[:80]!r} (eSpeak produced no phonemes)")
    audio = _resample(pcm) if keep_audio else np.zeros(0, np.float32)
    return Synthesis(audio, OUTPUT_RATE, total / ESPEAK_RATE, phonemes, words, name)


def phonemize(
    text: str,
    voice: str = "en-us",
    variant: str | None = None,
    rate: int = 175,
    pitch: int = 50,
    pitch_range: int = 50,
    seed: int | None = 0,
) -> list[tuple[str, float]]:
    """Phonemes of `text` with their durations in seconds (same call as `synthesize`, audio dropped)."""
    syn = synthesize(text, voice, variant, rate, pitch, pitch_range, keep_audio=False, seed=seed)
    return [(p.ipa, p.end - p.start) for p in syn.phonemes]
