"""Build the synthetic multi-speaker talking corpus: teacher speech (eSpeak NG, or Kokoro-82M's natural
voices), frame-aligned phonemes and 61-D motion on the mel clock, in safetensors shards plus a JSON manifest.

Layout of DIR (the trainer depends on it exactly):
    manifest.json            {"version": 2, "sample_rate": 24000, "mel_fps": 93.75, "mel_spec": "vocos_24k_100",
                              "teacher": "espeak"|"kokoro", "phoneme_vocab": [...],
                              "text_source": str, "speakers": {id: {...,"split": "train"|"heldout"}},
                              "utterances": [{"id", "speaker", "split", "text", "shard", "num_frames", ...}]}
    shard_00000.safetensors  per utterance "{id}/mel" f16 [N,n_mels], "{id}/motion" f16 [N,61],
                             "{id}/phonemes" i16 [N], "{id}/audio" i16 [T] (24 kHz PCM)
    STATS.txt                human-readable totals and timing
The manifest is written last and atomically: its presence means every shard is complete.

Splits: "train"; "heldout_speaker" (every utterance of a held-out speaker); "heldout_sentence"
(training speakers saying sentences that no training utterance contains).
Everything is deterministic for a seed: plan, audio, motion and ids (worker count does not matter).
Legend: n - mel frames, t - audio samples.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE, MelSpec, mel_spec, pcm16
from ..files import write_json
from ..text.espeak import phonemize, synthesize
from ..text.normalize import normalize_text
from ..text.phonemes import PhonemeVocab
from . import sentences as sent
from .dataset import VERSION
from .speakers import ACCENTS, Speaker, make_kokoro_speakers, make_speakers

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
STATS = "STATS.txt"
TEACHERS = ("espeak", "kokoro")
# The feature each teacher's corpus is stored in: Kokoro speech goes with the HiFi-GAN vocoder.
TEACHER_MEL_SPEC = {"espeak": "vocos_24k_100", "kokoro": "hifigan_22k_80"}


@dataclass(frozen=True)
class CorpusConfig:
    """What to generate."""

    out: Path  # output directory
    speakers: int = 32  # distinct synthetic speakers (every 8th held out)
    hours: float = 5.0  # training audio (held-out splits come on top); planned from an estimate, STATS has the truth
    seed: int = 0  # everything derives from it
    workers: int = 2  # processes; the result does not depend on it
    shard_size: int = 200  # utterances per shard
    heldout_sentences: int = 150  # sentences kept out of training (spoken by training speakers)
    heldout_speaker_utts: int = 50  # utterances per held-out speaker
    teacher: str = "espeak"  # "espeak" (eSpeak NG) or "kokoro" (Kokoro-82M voices and blends)

    @property
    def mel_spec(self) -> MelSpec:
        return mel_spec(TEACHER_MEL_SPEC[self.teacher])

    def __post_init__(self) -> None:
        if self.teacher not in TEACHERS:
            raise ValueError(f"teacher must be one of {TEACHERS}, got {self.teacher!r}")
        if self.speakers < 2:
            raise ValueError(f"speakers must be >= 2, got {self.speakers}")
        if not self.hours > 0:
            raise ValueError(f"hours must be positive, got {self.hours}")
        if self.workers < 1 or self.shard_size < 1:
            raise ValueError(f"workers and shard_size must be >= 1, got {self.workers}, {self.shard_size}")
        if self.heldout_sentences < 1 or self.heldout_speaker_utts < 1:
            raise ValueError("heldout_sentences and heldout_speaker_utts must be >= 1")


# ---- planning (parent process, cheap) -------------------------------------------------------------


def build_vocab(accents: list[str], words: list[str]) -> PhonemeVocab:
    """Phoneme inventory of the installed eSpeak over every word of the text source, per accent."""
    symbols: set[str] = set()
    for accent in sorted(set(accents)):
        for s in sent.coverage_sentences(words):
            symbols.update(p for p, _ in phonemize(s, voice=accent))
    return PhonemeVocab.from_symbols(symbols)


def _seconds_per_word(words: list[str], seed: int) -> float:
    """Calibration: eSpeak seconds per word at 175 wpm on sentences like the corpus's."""
    rng = np.random.default_rng([seed, 0xCA1])
    total_s, total_w = 0.0, 0
    for _ in range(40):
        s = sent.make_sentence(rng, words)
        total_s += sum(d for _, d in phonemize(s, rate=175))
        total_w += len(s.split())
    return total_s / total_w


def plan(config: CorpusConfig) -> tuple[list[Speaker], list[dict], list[str]]:
    """Speakers and the utterance list (id, speaker, split, text, shard, index), in shard order."""
    words = list(sent.word_list())
    if config.teacher == "kokoro":
        from .kokoro import load_voices

        speakers = make_kokoro_speakers(config.speakers, config.seed, list(load_voices()))
        people = sent.names()
        make_text = lambda rng: sent.make_varied_sentence(rng, words, people)  # noqa: E731
    else:
        speakers = make_speakers(config.speakers, config.seed)
        make_text = lambda rng: sent.make_sentence(rng, words)  # noqa: E731
    train = [s for s in speakers if s.split == "train"]
    held = [s for s in speakers if s.split == "heldout"]
    spw = _seconds_per_word(words, config.seed)

    def estimate(text: str, spk: Speaker) -> float:
        n = len(text.split())
        if spk.kokoro is not None:
            return n * spw / spk.speed + 0.6  # Kokoro pads ~0.3 s of silence at both ends
        return n * spw * 175.0 / spk.rate + n * spk.word_gap * 0.01

    rng = np.random.default_rng([config.seed, 0x9A1])
    text_rng = np.random.default_rng([config.seed, 0x5E7])
    seen: set[str] = set()

    def new_sentence() -> str:
        while True:
            s = make_text(text_rng)
            if s not in seen:
                seen.add(s)
                return s

    utts: list[dict] = []
    budget = config.hours * 3600.0
    held_texts = [new_sentence() for _ in range(config.heldout_sentences)]
    for text in held_texts:  # training voices, unseen sentences
        spk = train[int(rng.integers(len(train)))]
        utts.append({"speaker": spk.id, "split": "heldout_sentence", "text": text})
    for spk in held:  # unseen voices, on held-out sentences (never in training text either)
        for _ in range(config.heldout_speaker_utts):
            text = held_texts[int(rng.integers(len(held_texts)))]
            utts.append({"speaker": spk.id, "split": "heldout_speaker", "text": text})
    order = rng.permutation(len(train))
    k = 0
    while budget > 0:  # balanced round robin over training speakers
        spk = train[int(order[k % len(train)])]
        text = new_sentence()
        utts.append({"speaker": spk.id, "split": "train", "text": text})
        budget -= estimate(text, spk)
        k += 1
    perm = rng.permutation(len(utts))  # mix speakers and splits across shards
    utts = [utts[int(i)] for i in perm]
    for idx, u in enumerate(utts):
        u["index"] = idx
        u["id"] = f"u{idx:06d}"
        u["shard"] = f"shard_{idx // config.shard_size:05d}.safetensors"
    return speakers, utts, words


# ---- one utterance (worker process) ---------------------------------------------------------------


_kokoro: dict = {}


def _speak(text: str, speaker: Speaker, seed: int, index: int):
    """(24 kHz float audio, phoneme spans) from the speaker's teacher; the text is normalised first."""
    text = normalize_text(text)
    if speaker.kokoro is None:
        syn = synthesize(
            text, speaker.voice, speaker.variant, speaker.rate, speaker.pitch, speaker.pitch_range, speaker.word_gap,
            seed=int(np.random.default_rng([seed, 0xE5, index]).integers(2**31 - 1)),
        )  # fmt: skip
        return syn.audio, syn.phonemes
    from .kokoro import KokoroTeacher, blend

    if "teacher" not in _kokoro:  # one ONNX session per worker process
        _kokoro["teacher"] = KokoroTeacher(threads=1)
    teacher = _kokoro["teacher"]
    speech = teacher.speak(text, blend(teacher.voices, speaker.kokoro), speaker.voice, speaker.speed)
    return speech.audio, speech.phonemes


def leveled_pcm(audio: np.ndarray, loudness: float) -> np.ndarray:
    """A teacher's speech at the speaker's RMS loudness (never past 0.98 of full scale) as int16 PCM."""
    rms = float(np.sqrt(np.mean(audio**2))) if audio.size else 0.0
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    return pcm16(audio * min(loudness / max(rms, 1e-6), 0.98 / max(peak, 1e-6)))


def render_utterance(
    text: str, speaker: Speaker, vocab: PhonemeVocab, seed: int, index: int, spec: MelSpec | None = None
) -> dict[str, np.ndarray]:
    """Speech, mel (features of `spec`, default Vocos), frame-aligned phonemes and motion of one utterance
    (numpy, storage dtypes)."""
    import torch

    from ..audio import resample
    from ..text.phonemes import frame_align
    from .prosody import analyse
    from .styles import face_motion

    spec = spec or mel_spec(TEACHER_MEL_SPEC["espeak"])
    audio, phonemes = _speak(text, speaker, seed, index)
    pcm = leveled_pcm(audio, speaker.loudness)  # t
    wave = torch.from_numpy(pcm.astype(np.float32) / 32767.0)
    mel = spec.features(wave, SAMPLE_RATE)  # n_mels n
    n = mel.shape[-1]
    wave_spec = resample(wave, SAMPLE_RATE, spec.sample_rate)  # the audio on the mel's clock
    assert n == spec.frames(wave_spec.numel())
    phon = frame_align(phonemes, n, vocab, spec.fps)  # n
    prosody = analyse(wave_spec.numpy(), phonemes, n, spec.fps, spec.sample_rate)
    rng = np.random.default_rng([seed, 0xFACE, index])
    motion = face_motion(speaker.style, phonemes, prosody, spec.fps, rng)  # n 61
    return {
        "mel": mel.T.contiguous().numpy().astype(np.float16),  # n n_mels
        "motion": motion.astype(np.float16),
        "phonemes": phon.numpy().astype(np.int16),
        "audio": pcm,
        "_symbols": [p.ipa for p in phonemes],
    }


def _build_shard(job: tuple) -> tuple[str, list[tuple[str, int, float]], dict[str, int]]:
    """Worker: render every utterance of one shard and write it (tmp file + rename)."""
    import torch
    from safetensors.numpy import save_file

    torch.set_num_threads(1)
    out_dir, shard, items, speakers_json, vocab_list, seed, spec_name = job
    vocab = PhonemeVocab.from_list(vocab_list)
    spec = mel_spec(spec_name)
    speakers = {k: Speaker.from_manifest(k, v) for k, v in speakers_json.items()}
    tensors: dict[str, np.ndarray] = {}
    rows: list[tuple[str, int, float]] = []
    unknown: Counter = Counter()
    for u in items:
        r = render_utterance(u["text"], speakers[u["speaker"]], vocab, seed, u["index"], spec)
        unknown.update(s for s in r.pop("_symbols") if s not in vocab)
        for key, arr in r.items():
            tensors[f"{u['id']}/{key}"] = np.ascontiguousarray(arr)
        rows.append((u["id"], int(r["mel"].shape[0]), len(r["audio"]) / SAMPLE_RATE))
    path = Path(out_dir) / shard
    tmp = path.with_suffix(".safetensors.tmp")
    save_file(tensors, str(tmp), metadata={"format": "omnitalker-corpus", "version": str(VERSION)})
    os.replace(tmp, path)
    return shard, rows, dict(unknown)


# ---- driver ---------------------------------------------------------------------------------------


def generate(config: CorpusConfig) -> dict:
    """Generate the corpus into config.out; returns the stats that also go to STATS.txt."""
    t0 = time.time()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    if manifest_path.exists():
        manifest_path.unlink()  # a stale manifest would announce shards that are about to change
    for stale in out.glob("shard_*.safetensors*"):
        stale.unlink()

    speakers, utts, words = plan(config)
    # Kokoro speakers read en-us / en phonemes; the vocabulary still spans every eSpeak accent, the same
    # inventory as an eSpeak corpus, so a model trained on one can start from a model trained on the other.
    accents = list(ACCENTS) if config.teacher == "kokoro" else [s.voice for s in speakers]
    vocab = build_vocab(accents, words)
    log.info(
        "planned %d utterances for %d speakers (~%.2f h), %d phoneme symbols; %.1f s",
        len(utts), len(speakers), config.hours, len(vocab), time.time() - t0,
    )  # fmt: skip
    speakers_json = {s.id: s.to_manifest() for s in speakers}
    shards: dict[str, list[dict]] = {}
    for u in utts:
        shards.setdefault(u["shard"], []).append(u)
    spec = config.mel_spec
    jobs = [
        (str(out), name, items, speakers_json, vocab.to_list(), config.seed, spec.name)
        for name, items in shards.items()
    ]

    results: dict[str, tuple[int, float]] = {}
    unknown: Counter = Counter()
    done_s = 0.0

    def collect(res: tuple) -> None:
        nonlocal done_s
        name, rows, unk = res
        for uid, n, dur in rows:
            results[uid] = (n, dur)
            done_s += dur
        unknown.update(unk)
        el = time.time() - t0
        log.info(
            "%s done: %d/%d utterances, %.2f h audio, %.1f min elapsed",
            name,
            len(results),
            len(utts),
            done_s / 3600,
            el / 60,
        )

    # One fresh interpreter per shard: eSpeak carries state from call to call (see text.espeak), so a
    # shard is reproducible only when rendered from a fresh library; the result then does not
    # depend on the number of workers. Costs ~2 s of start-up per shard.
    ctx = mp.get_context("spawn")
    from tqdm import tqdm

    with ctx.Pool(config.workers, maxtasksperchild=1) as pool, tqdm(total=len(utts), unit="utt", desc="corpus") as bar:
        for res in pool.imap_unordered(_build_shard, jobs):
            collect(res)
            bar.update(len(res[1]))
    if unknown:
        log.warning("phoneme symbols outside the vocabulary (mapped by fallback): %s", dict(unknown.most_common(20)))

    for u in utts:
        u["num_frames"], u["duration"] = results[u["id"]][0], round(results[u["id"]][1], 4)
    elapsed = time.time() - t0
    by_split = Counter(u["split"] for u in utts)
    hours_by_split = {k: round(sum(u["duration"] for u in utts if u["split"] == k) / 3600, 3) for k in by_split}
    stats = {
        "hours": round(sum(u["duration"] for u in utts) / 3600, 3),
        "hours_by_split": hours_by_split,
        "utterances": len(utts),
        "utterances_by_split": dict(by_split),
        "speakers": len(speakers),
        "heldout_speakers": sum(s.split == "heldout" for s in speakers),
        "shards": len(shards),
        "frames": int(sum(u["num_frames"] for u in utts)),
        "phoneme_vocab_size": len(vocab),
        "unknown_phoneme_events": int(sum(unknown.values())),
        "minutes": round(elapsed / 60, 2),
        "workers": config.workers,
        "seed": config.seed,
    }
    from importlib.metadata import version

    import espeakng_loader  # noqa: F401  (version for provenance)

    manifest = {
        "version": VERSION,
        "sample_rate": SAMPLE_RATE,
        "mel_fps": spec.fps,
        "mel_spec": spec.name,
        "teacher": config.teacher,
        "phoneme_vocab": vocab.to_list(),
        "text_source": sent.text_source(words),
        "generator": {
            "seed": config.seed,
            "espeakng_loader": version("espeakng-loader"),
            "hours_requested": config.hours,
            "shard_size": config.shard_size,
        },  # fmt: skip
        "stats": stats,
        "speakers": speakers_json,
        "utterances": [
            {k: u[k] for k in ("id", "speaker", "split", "text", "shard", "num_frames", "duration")} for u in utts
        ],
    }
    (out / STATS).write_text(
        "\n".join(f"{k}: {json.dumps(v)}" for k, v in stats.items())
        + f"\ncommand seed={config.seed} speakers={config.speakers} hours={config.hours}\n"
    )
    write_json(manifest_path, manifest)  # last, atomically: the trainer polls for this file
    log.info("corpus ready: %s", stats)
    return stats
