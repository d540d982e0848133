"""Which corpus utterances the evaluation uses, chosen deterministically from a seed.

For every item, on held-out speakers only (voices the model never trained on):
- target: what the model must say, and the ground truth row for it. With `targets="harvard"`
  (the default) its text is a Harvard sentence (`eval.sentences`), real English that Whisper can
  read, and its ground-truth audio and motion are rendered on demand by the corpus's own generator
  for speaker S (`samples.render_target`; the target dict has `"source": "harvard"` and the
  `render_index` that seeds eSpeak and the motion). With `targets="corpus"` it is a held-out
  corpus utterance of S (random-word text, which Whisper tiny.en mishears even from the corpus
  audio: WER ~0.7);
- reference: another corpus utterance of S (the in-context prompt), `min_ref_seconds`..`max_ref_seconds` long;
- other reference: a corpus utterance of a different held-out speaker S' (the "wrong reference"
  baseline, said with the same target text and still scored against S).
Items go round-robin over the speakers. The remaining utterances of every held-out speaker, none
of them a target or a reference, form the centroid pools for the nearest-speaker tests. In both
modes a corpus target utterance is set aside per item, so the pools (and references) do not
depend on `targets`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omnitalker_core.eval.sentences import HARVARD, harvard_order

TARGETS = ("harvard", "corpus")
RENDER_INDEX_BASE = 1_000_000  # above every corpus utterance index, so no eSpeak/motion seed is shared


@dataclass(frozen=True)
class EvalItem:
    speaker: str
    target: dict  # manifest utterance entries: id, speaker, text, duration, ...
    reference: dict
    other_reference: dict


@dataclass(frozen=True)
class Protocol:
    items: list[EvalItem]
    pools: dict[str, list[dict]]  # speaker -> utterances for centroids
    targets: str = "corpus"  # where the target texts come from: "harvard" | "corpus"


def harvard_target(manifest: dict, speaker: str, sentence: int) -> dict:
    """The target entry for Harvard sentence `sentence` said by `speaker` (rendered by `samples.render_target`)."""
    order = sorted(manifest["speakers"])
    return {
        "id": f"harvard{sentence + 1:02d}_{speaker}",
        "speaker": speaker,
        "text": HARVARD[sentence],
        "source": "harvard",
        "harvard_index": sentence,
        "render_index": RENDER_INDEX_BASE + 1000 * sentence + order.index(speaker),
    }


def heldout_speakers(manifest: dict) -> list[str]:
    spk = sorted({u["speaker"] for u in manifest["utterances"] if u["split"] == "heldout_speaker"})
    if len(spk) < 2:
        raise ValueError(
            f"the corpus has {len(spk)} held-out speaker(s); the evaluation needs at least 2 (regenerate it with more speakers)"
        )
    return spk


def build_protocol(
    manifest: dict,
    max_items: int,
    seed: int = 0,
    pool_size: int = 12,
    min_ref_seconds: float = 2.0,
    max_ref_seconds: float = 8.0,
    targets: str = "harvard",
) -> Protocol:
    if targets not in TARGETS:
        raise ValueError(f"targets must be one of {TARGETS}, got {targets!r}")
    if max_items < 1:
        raise ValueError(f"max_items must be >= 1, got {max_items}")
    if pool_size < 2:
        raise ValueError(f"pool_size must be >= 2 (a centroid and a spread), got {pool_size}")
    speakers = heldout_speakers(manifest)
    rng = np.random.default_rng([seed, 0xE7A1])
    by_spk: dict[str, list[dict]] = {}
    for s in speakers:
        utts = [u for u in manifest["utterances"] if u["split"] == "heldout_speaker" and u["speaker"] == s]
        by_spk[s] = [utts[int(i)] for i in rng.permutation(len(utts))]

    def is_ref(u: dict) -> bool:
        return min_ref_seconds <= float(u.get("duration", u["num_frames"] / manifest["mel_fps"])) <= max_ref_seconds

    used: set[str] = set()

    def take(s: str, want_ref: bool) -> dict | None:
        for u in by_spk[s]:
            if u["id"] not in used and (not want_ref or is_ref(u)):
                used.add(u["id"])
                return u
        return None

    items: list[EvalItem] = []
    sentences = harvard_order(seed)
    for i in range(max_items):
        n = len(speakers)
        s = speakers[i % n]
        other = speakers[(i % n + 1 + (i // n) % (n - 1)) % n]  # cycles through every other speaker
        target, ref, other_ref = take(s, False), take(s, True), take(other, True)
        if target is None or ref is None or other_ref is None:
            raise ValueError(
                f"not enough held-out utterances for {max_items} items (speaker {s} ran out after {i}); "
                "lower --max-items or --pool-size"
            )
        if targets == "harvard":  # the corpus target stays set aside, so the pools do not depend on `targets`
            target = harvard_target(manifest, s, sentences[i % len(sentences)])
        items.append(EvalItem(s, target, ref, other_ref))
    pools = {s: [u for u in by_spk[s] if u["id"] not in used][:pool_size] for s in speakers}
    short = {s: len(p) for s, p in pools.items() if len(p) < 2}
    if short:
        raise ValueError(f"too few utterances left for speaker centroids {short}; lower --max-items")
    return Protocol(items, pools, targets)
