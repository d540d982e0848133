"""Synthetic speakers: an eSpeak voice (accent x variant x pitch / intonation range / rate) plus a
facial and head-motion style, all drawn deterministically from the corpus seed.

Each speaker gets its own voice variant while the pool lasts (so voices differ in timbre, not only
in pitch), and an English accent, base pitch, intonation range and speaking rate of its own.
Variants that are not human-like (whisper, robots, croak) are left out of the pool.
"""

from __future__ import annotations

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

    def to_manifest(self) -> dict:
        return {
            "voice": self.voice, "variant": self.variant, "pitch": self.pitch, "pitch_range": self.pitch_range,
            "rate": self.rate, "word_gap": self.word_gap, "loudness": round(self.loudness, 4),
            "style": self.style.to_dict(), "split": self.split,
        }  # fmt: skip

    @classmethod
    def from_manifest(cls, speaker_id: str, d: dict) -> Speaker:
        return cls(
            speaker_id, d["voice"], d["variant"], int(d["pitch"]), int(d["pitch_range"]), int(d["rate"]),
            int(d["word_gap"]), float(d["loudness"]), SpeakerStyle.from_dict(d["style"]), d["split"],
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
