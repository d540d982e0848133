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

That is the `speaker_set="heldout"` protocol. `speaker_set="seen"` is the same test on training
speakers whose voices Whisper tiny.en can read (`seen_speakers`), so that the WER target can be
measured: 3 of the 4 held-out voices of `data/corpus_v2` are eSpeak's Welsh-English accent with odd
timbre variants, and Whisper's WER on their own ground truth is 0.69. For the seen set every
reference and pool utterance comes from the corpus's `heldout_sentence` split: sentences never in
training, said by training speakers. That split is small (1-10 utterances per speaker), so the
seen protocol spends fewer utterances: it sets no corpus target aside with Harvard targets, and
the wrong-speaker reference of an item is the reference of another seen speaker's item (drawn per
speaker and round, `ceil(max_items / speakers)` references per speaker), not a fresh utterance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .sentences import HARVARD, harvard_order

TARGETS = ("harvard", "corpus")
SPEAKER_SETS = ("heldout", "seen")  # the CLI's --speakers also takes "both"
SPLIT_OF_SET = {"heldout": "heldout_speaker", "seen": "heldout_sentence"}
# Seen speakers: training speakers with one of these eSpeak accents (US, plain `en`, British RP), a
# plain variant (not klatt*) and a rate of at most SEEN_MAX_RATE words per minute. Whisper tiny.en
# reads them best: in data/corpus_v2 their ground-truth WER on 10 Harvard sentences is 0.20-0.51
# (the four chosen: 0.20-0.47), against 0.45-0.93 for the Scottish, Caribbean, NYC, Lancastrian and
# Welsh accents and 0.50-0.81 for the fast (192-198 wpm) en / en-us voices; docs/EVALUATION.md.
SEEN_VOICES = ("en-us", "en", "en-gb-x-rp")
SEEN_MAX_RATE = 180
SEEN_SPEAKERS = 4
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
    speaker_set: str = "heldout"  # "heldout" (speakers never trained on) | "seen" (training speakers, new sentences)
    split: str = "heldout_speaker"  # the corpus split that references and pools come from


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


def _duration(manifest: dict, u: dict) -> float:
    return float(u.get("duration", u["num_frames"] / manifest["mel_fps"]))


def seen_speakers(
    manifest: dict, count: int = SEEN_SPEAKERS, min_ref_seconds: float = 2.0, max_ref_seconds: float = 8.0
) -> list[str]:
    """The seen speaker set: training speakers whose eSpeak voice is in `SEEN_VOICES`, whose variant
    is not a klatt one and whose rate is <= `SEEN_MAX_RATE` wpm, ranked by how many `heldout_sentence` utterances they have that can serve as a
    reference (`min_ref_seconds`..`max_ref_seconds`), then by id; the first `count`, sorted by id.
    Deterministic for a manifest; in data/corpus_v2 it picks spk011 (en-us travis), spk019
    (en-gb-x-rp michel), spk026 (en victor) and spk029 (en-us benjamin)."""
    refs: dict[str, int] = {}
    for u in manifest["utterances"]:
        if u["split"] == "heldout_sentence" and min_ref_seconds <= _duration(manifest, u) <= max_ref_seconds:
            refs[u["speaker"]] = refs.get(u["speaker"], 0) + 1
    fits = [
        s for s, v in manifest["speakers"].items()
        if v.get("split") == "train" and v.get("voice") in SEEN_VOICES
        and not str(v.get("variant", "")).lower().startswith("klatt")
        and float(v.get("rate", 0)) <= SEEN_MAX_RATE and refs.get(s, 0) >= 2
    ]  # fmt: skip
    chosen = sorted(fits, key=lambda s: (-refs[s], s))[:count]
    if len(chosen) < 2:
        raise ValueError(
            f"the corpus has {len(chosen)} training speaker(s) with a {'/'.join(SEEN_VOICES)} voice, rate <= "
            f"{SEEN_MAX_RATE} wpm and 2+ heldout_sentence references; the seen-speaker evaluation needs 2+"
        )
    return sorted(chosen)


def build_protocol(
    manifest: dict,
    max_items: int,
    seed: int = 0,
    pool_size: int = 12,
    min_ref_seconds: float = 2.0,
    max_ref_seconds: float = 8.0,
    targets: str = "harvard",
    speaker_set: str = "heldout",
    speakers: list[str] | None = None,
) -> Protocol:
    """Items and centroid pools for one speaker set (`SPEAKER_SETS`). `speakers` overrides the seen
    set's rule (`seen_speakers`); the held-out set is always every held-out speaker."""
    if targets not in TARGETS:
        raise ValueError(f"targets must be one of {TARGETS}, got {targets!r}")
    if speaker_set not in SPEAKER_SETS:
        raise ValueError(f"speaker_set must be one of {SPEAKER_SETS}, got {speaker_set!r}")
    if max_items < 1:
        raise ValueError(f"max_items must be >= 1, got {max_items}")
    if pool_size < 2:
        raise ValueError(f"pool_size must be >= 2 (a centroid and a spread), got {pool_size}")
    if speaker_set == "seen":
        return _build_seen(manifest, max_items, seed, pool_size, min_ref_seconds, max_ref_seconds, targets, speakers)
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


def _build_seen(
    manifest: dict,
    max_items: int,
    seed: int,
    pool_size: int,
    min_ref_seconds: float,
    max_ref_seconds: float,
    targets: str,
    speakers: list[str] | None,
) -> Protocol:
    split = SPLIT_OF_SET["seen"]
    if speakers is None:
        speakers = seen_speakers(manifest, min_ref_seconds=min_ref_seconds, max_ref_seconds=max_ref_seconds)
    speakers = sorted(speakers)
    bad = [s for s in speakers if manifest["speakers"].get(s, {}).get("split") != "train"]
    if bad or len(speakers) < 2:
        raise ValueError(f"seen speakers must be 2+ training speakers of the corpus, got {speakers}")
    n = len(speakers)
    rng = np.random.default_rng([seed, 0xE7A1, 1])
    by_spk: dict[str, list[dict]] = {}
    for s in speakers:
        utts = [u for u in manifest["utterances"] if u["split"] == split and u["speaker"] == s]
        by_spk[s] = [utts[int(i)] for i in rng.permutation(len(utts))]
    used: set[str] = set()

    def take(s: str, want_ref: bool) -> dict:
        for u in by_spk[s]:
            if u["id"] not in used and (not want_ref or min_ref_seconds <= _duration(manifest, u) <= max_ref_seconds):
                used.add(u["id"])
                return u
        raise ValueError(f"not enough {split} utterances of seen speaker {s} for {max_items} items; lower --max-items")

    rounds = -(-max_items // n)
    corpus_targets = {s: [take(s, False) for _ in range(rounds)] for s in speakers} if targets == "corpus" else {}
    refs = {s: [take(s, True) for _ in range(rounds)] for s in speakers}
    sentences = harvard_order(seed)
    items: list[EvalItem] = []
    for i in range(max_items):
        s, r = speakers[i % n], i // n
        other = speakers[(i % n + 1 + r % (n - 1)) % n]  # cycles through every other speaker
        if targets == "harvard":
            target = harvard_target(manifest, s, sentences[i % len(sentences)])
        else:
            target = corpus_targets[s][r]
        items.append(EvalItem(s, target, refs[s][r], refs[other][r]))
    pools = {s: [u for u in by_spk[s] if u["id"] not in used][:pool_size] for s in speakers}
    short = {s: len(p) for s, p in pools.items() if len(p) < 2}
    if short:
        raise ValueError(f"too few {split} utterances left for seen-speaker centroids {short}; lower --max-items")
    return Protocol(items, pools, targets, "seen", split)
