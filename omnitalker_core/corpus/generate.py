"""Build the synthetic multi-speaker talking corpus: eSpeak speech, frame-aligned phonemes and
61-D motion on the mel clock, in safetensors shards plus a JSON manifest.

Layout of DIR (the trainer depends on it exactly):
    manifest.json            {"version": 1, "sample_rate": 24000, "mel_fps": 93.75, "phoneme_vocab": [...],
                              "text_source": str, "speakers": {id: {...,"split": "train"|"heldout"}},
                              "utterances": [{"id", "speaker", "split", "text", "shard", "num_frames", ...}]}
    shard_00000.safetensors  per utterance "{id}/mel" f16 [N,100], "{id}/motion" f16 [N,61],
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

from ..audio import HOP_LENGTH as HOP
from ..audio import MEL_FPS, SAMPLE_RATE
from ..text.espeak import phonemize, synthesize
from ..text.phonemes import PhonemeVocab
from . import sentences as sent
from .speakers import Speaker, make_speakers

log = logging.getLogger(__name__)

VERSION = 1
MANIFEST = "manifest.json"
STATS = "STATS.txt"


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

    def __post_init__(self) -> None:
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
    speakers = make_speakers(config.speakers, config.seed)
    train = [s for s in speakers if s.split == "train"]
    held = [s for s in speakers if s.split == "heldout"]
    spw = _seconds_per_word(words, config.seed)

    def estimate(text: str, spk: Speaker) -> float:
        n = len(text.split())
        return n * spw * 175.0 / spk.rate + n * spk.word_gap * 0.01

    rng = np.random.default_rng([config.seed, 0x9A1])
    text_rng = np.random.default_rng([config.seed, 0x5E7])
    seen: set[str] = set()

    def new_sentence() -> str:
        while True:
            s = sent.make_sentence(text_rng, words)
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


def render_utterance(text: str, speaker: Speaker, vocab: PhonemeVocab, seed: int, index: int) -> dict[str, np.ndarray]:
    """Speech, mel, frame-aligned phonemes and motion of one utterance (numpy, storage dtypes)."""
    import torch

    from ..audio import log_mel
    from ..text.phonemes import frame_align
    from .prosody import analyse
    from .styles import face_motion

    syn = synthesize(
        text, speaker.voice, speaker.variant, speaker.rate, speaker.pitch, speaker.pitch_range, speaker.word_gap,
        seed=int(np.random.default_rng([seed, 0xE5, index]).integers(2**31 - 1)),
    )  # fmt: skip
    audio = syn.audio
    rms = float(np.sqrt(np.mean(audio**2))) if audio.size else 0.0
    gain = speaker.loudness / max(rms, 1e-6)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    gain = min(gain, 0.98 / max(peak, 1e-6))
    pcm = np.clip(np.round(audio * gain * 32767.0), -32768, 32767).astype(np.int16)  # t
    wave = torch.from_numpy(pcm.astype(np.float32) / 32767.0)
    mel = log_mel(wave)  # 100 n
    n = mel.shape[-1]
    assert n == len(pcm) // HOP + 1
    phon = frame_align(syn.phonemes, n, vocab, MEL_FPS)  # n
    prosody = analyse(wave.numpy(), syn.phonemes, n, MEL_FPS)
    rng = np.random.default_rng([seed, 0xFACE, index])
    motion = face_motion(speaker.style, syn.phonemes, prosody, MEL_FPS, rng)  # n 61
    return {
        "mel": mel.T.contiguous().numpy().astype(np.float16),  # n 100
        "motion": motion.astype(np.float16),
        "phonemes": phon.numpy().astype(np.int16),
        "audio": pcm,
        "_symbols": [p.ipa for p in syn.phonemes],
    }


def _build_shard(job: tuple) -> tuple[str, list[tuple[str, int, float]], dict[str, int]]:
    """Worker: render every utterance of one shard and write it (tmp file + rename)."""
    import torch
    from safetensors.numpy import save_file

    torch.set_num_threads(1)
    out_dir, shard, items, speakers_json, vocab_list, seed = job
    vocab = PhonemeVocab.from_list(vocab_list)
    speakers = {k: Speaker.from_manifest(k, v) for k, v in speakers_json.items()}
    tensors: dict[str, np.ndarray] = {}
    rows: list[tuple[str, int, float]] = []
    unknown: Counter = Counter()
    for u in items:
        r = render_utterance(u["text"], speakers[u["speaker"]], vocab, seed, u["index"])
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
    vocab = build_vocab([s.voice for s in speakers], words)
    log.info(
        "planned %d utterances for %d speakers (~%.2f h), %d phoneme symbols; %.1f s",
        len(utts), len(speakers), config.hours, len(vocab), time.time() - t0,
    )  # fmt: skip
    speakers_json = {s.id: s.to_manifest() for s in speakers}
    shards: dict[str, list[dict]] = {}
    for u in utts:
        shards.setdefault(u["shard"], []).append(u)
    jobs = [(str(out), name, items, speakers_json, vocab.to_list(), config.seed) for name, items in shards.items()]

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
    with ctx.Pool(config.workers, maxtasksperchild=1) as pool:
        for res in pool.imap_unordered(_build_shard, jobs):
            collect(res)
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
        "mel_fps": MEL_FPS,
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
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    os.replace(tmp, manifest_path)  # last, atomically: the trainer polls for this file
    log.info("corpus ready: %s", stats)
    return stats
