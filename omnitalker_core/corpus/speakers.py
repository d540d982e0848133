"""Synthetic speakers: an eSpeak voice (accent x variant x pitch / intonation range / rate) plus a
facial and head-motion style, all drawn deterministically from the corpus seed.

Each speaker gets its own voice variant while the pool lasts (so voices differ in timbre, not only
in pitch), and an English accent, base pitch, intonation range and speaking rate of its own.
Variants that are not human-like (whisper, robots, croak) are left out of the pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .styles import SpeakerStyle, sample_style

# English voices of the espeakng-loader data (lang/gmw/en*), as eSpeak names them.
ACCENTS: tuple[str, ...] = (
    "en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
)  # fmt: skip
# Human-sounding variants (checked by ear and by voicing statistics on the 0.2.4 wheel).
VARIANTS: tuple[str, ...] = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt3", "klatt4", "klatt5", "klatt6", "Alex", "Alicia", "Andy", "Annie", "Gene", "Lee",
    "Michael", "Reed", "adam", "anika", "announcer", "aunty", "belinda", "benjamin", "boris",
    "caleb", "david", "ed", "edward", "grandma", "grandpa", "john", "linda", "max", "michel",
    "norbert", "paul", "quincy", "rob", "robert", "shelby", "steph", "travis", "victor", "zac",
)  # fmt: skip
HELDOUT_EVERY = 8  # every 8th speaker is held out of training


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker of the corpus."""

    id: str
    voice: str  # eSpeak language voice (accent)
    variant: str  # eSpeak voice variant (timbre)
    pitch: int  # eSpeak base pitch 0..99
    pitch_range: int  # eSpeak intonation range 0..99
    rate: int  # words per minute
    word_gap: int  # extra pause between words, 10 ms units
    loudness: float  # target RMS of the utterance audio
    style: SpeakerStyle
    split: str  # "train" | "heldout"
    kokoro: dict[str, float] | None = None  # Kokoro teacher: style-table weights by voice name (eSpeak when None)
    speed: float = 1.0  # Kokoro speaking rate

    def to_manifest(self) -> dict:
        d = {
            "voice": self.voice, "variant": self.variant, "pitch": self.pitch, "pitch_range": self.pitch_range,
            "rate": self.rate, "word_gap": self.word_gap, "loudness": round(self.loudness, 4),
            "style": self.style.to_dict(), "split": self.split,
        }  # fmt: skip
        if self.kokoro is not None:
            d.update(kokoro=self.kokoro, speed=self.speed)
        return d

    @classmethod
    def from_manifest(cls, speaker_id: str, d: dict) -> Speaker:
        return cls(
            speaker_id, d["voice"], d["variant"], int(d["pitch"]), int(d["pitch_range"]), int(d["rate"]),
            int(d["word_gap"]), float(d["loudness"]), SpeakerStyle.from_dict(d["style"]), d["split"],
            d.get("kokoro"), float(d.get("speed", 1.0)),
        )  # fmt: skip


def make_speakers(count: int, seed: int) -> list[Speaker]:
    """`count` distinct speakers (>= 2); every HELDOUT_EVERY-th one (at least one) is held out."""
    if count < 2:
        raise ValueError(f"--speakers must be at least 2 (one for training, one held out), got {count}")
    rng = np.random.default_rng([seed, 0x5BEA])
    variants = [VARIANTS[i] for i in rng.permutation(len(VARIANTS))]
    out: list[Speaker] = []
    seen: set[tuple] = set()
    for i in range(count):
        while True:
            variant = variants[i % len(variants)]
            voice = ACCENTS[int(rng.integers(len(ACCENTS)))] if i >= len(ACCENTS) else ACCENTS[i]
            pitch = int(rng.integers(20, 81))
            key = (voice, variant, pitch // 10)
            if key not in seen:
                seen.add(key)
                break
        heldout = (i % HELDOUT_EVERY == HELDOUT_EVERY - 1) or (count < HELDOUT_EVERY and i == count - 1)
        out.append(
            Speaker(
                id=f"spk{i:03d}",
                voice=voice,
                variant=variant,
                pitch=pitch,
                pitch_range=int(rng.integers(15, 91)),
                rate=int(rng.integers(140, 211)),
                word_gap=int(rng.choice([0, 0, 0, 1, 2])),
                loudness=float(rng.uniform(0.06, 0.12)),
                style=sample_style(rng),
                split="heldout" if heldout else "train",
            )
        )
    return out


def make_kokoro_speakers(count: int, seed: int, voices: Sequence[str], heldout_voices: int = 4,
                         heldout_blends: int = 8) -> list[Speaker]:  # fmt: skip
    """Kokoro speakers: every original English voice plus blends of their style tables, `count` in all.

    `heldout_voices` originals (one per group af/am/bf/bm while they last) are held out together with
    `heldout_blends` blends made only of them: a held-out voice is unseen only if no training blend has it
    as a parent (shared/MEASURED.md). Training blends mix 2 or 3 training voices with random weights."""
    voices = sorted(voices)
    if count < len(voices) + heldout_blends + 1:
        raise ValueError(f"--speakers must be at least {len(voices) + heldout_blends + 1} for the Kokoro teacher")
    rng = np.random.default_rng([seed, 0x0C0C0])
    groups = sorted({v[:3] for v in voices})
    held: list[str] = []
    for g in (groups * heldout_voices)[:heldout_voices]:
        pool = [v for v in voices if v[:3] == g and v not in held] or [v for v in voices if v not in held]
        held.append(pool[int(rng.integers(len(pool)))])
    train = [v for v in voices if v not in held]

    def blends(parents: list[str], n: int) -> list[dict[str, float]]:
        out, seen = [], set()
        while len(out) < n:
            k = 2 if rng.random() < 0.7 or len(parents) < 3 else 3
            picked = sorted(parents[int(i)] for i in rng.choice(len(parents), size=k, replace=False))
            weights = rng.dirichlet(np.full(k, 4.0))
            key = (tuple(picked), tuple(np.round(weights, 1)))
            if key not in seen:
                seen.add(key)
                out.append({v: round(float(w), 3) for v, w in zip(picked, weights)})
        return out

    mixes = [({v: 1.0}, "train") for v in train] + [({v: 1.0}, "heldout") for v in held]
    mixes += [(b, "heldout") for b in blends(held, heldout_blends)]
    mixes += [(b, "train") for b in blends(train, count - len(mixes))]
    out = []
    for i, (mix, split) in enumerate(mixes):
        lead = max(mix, key=mix.get)
        out.append(
            Speaker(
                id=f"spk{i:03d}", voice="en" if lead.startswith("b") else "en-us", variant="", pitch=0,
                pitch_range=0, rate=0, word_gap=0, loudness=float(rng.uniform(0.06, 0.12)), style=sample_style(rng),
                split=split, kokoro=mix, speed=round(float(rng.uniform(0.85, 1.15)), 3),
            )
        )  # fmt: skip
    return out
