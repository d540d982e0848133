"""Run the evaluation: the model and its baselines over the protocol's items, every metric, one table.

Rows (`ROWS`):
- `model`: generated after a reference utterance of the same held-out speaker;
- `ground_truth`: the corpus generator's audio and motion of the target text for the target speaker
  (the ceiling of every metric): rendered for a Harvard sentence (`targets="harvard"`, the default),
  or the corpus utterance itself (`targets="corpus"`);
- `ground_truth_vocoded`: the ground-truth mel through the model's vocoder (audio metrics only);
- `other_reference`: generated after a *different* held-out speaker's reference and scored against
  the intended speaker (the floor: what the metrics give when the style was not copied).

The rows are made for each speaker set (`protocol.SPEAKER_SETS`): "heldout" (speakers the model
never trained on, references and pools from `heldout_speaker`) and "seen" (training speakers that
Whisper tiny.en can read, references and pools from `heldout_sentence`). Each set has its own items,
centroid pools and table; the nearest-speaker tests choose among that set's speakers only.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .. import audio as audio_lib
from .. import motion as motion_code
from . import frechet, motion_style, samples, sentences, speaker, sync, wer
from .nearest import Centroids, build_centroids
from .protocol import SPEAKER_SETS, SPLIT_OF_SET, Protocol, build_protocol

log = logging.getLogger(__name__)

ROWS = ("model", "ground_truth", "ground_truth_vocoded", "other_reference")
SPEAKERS_CHOICES = ("heldout", "seen", "both")
REFERENCE_MOTION_CHOICES = ("corpus", "tracked", "tracked-adapted", "tracked-landmarks")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class EvalConfig:
    max_items: int = 12
    steps: int = 16
    cfg_audio: float = 2.0
    cfg_motion: float = 2.5
    seed: int = 0
    pool_size: int = 12  # corpus utterances per held-out speaker for its centroids
    targets: str = "harvard"  # target texts: "harvard" (real sentences, rendered ground truth) | "corpus"
    speakers: str = "both"  # speaker sets: "heldout" | "seen" | "both" (max_items items per set)
    seen_speakers: tuple[str, ...] | None = None  # overrides the seen set's rule (protocol.seen_speakers)
    # the references' motion: "corpus" (as generated: measures the generator alone) or "tracked" (drawn onto a
    # portrait and read back by the tracker, as a user's reference video gives it: generator and tracker together;
    # "tracked-adapted": with the read-out first adapted to that portrait, as Capture Style's adapt_to_face does;
    # "tracked-landmarks": the tracker without its pixel read-out)
    reference_motion: str = "corpus"

    def __post_init__(self) -> None:
        if self.speakers not in SPEAKERS_CHOICES:
            raise ValueError(f"speakers must be one of {SPEAKERS_CHOICES}, got {self.speakers!r}")
        if self.reference_motion not in REFERENCE_MOTION_CHOICES:
            raise ValueError(
                f"reference_motion must be one of {REFERENCE_MOTION_CHOICES}, got {self.reference_motion!r}"
            )

    @property
    def speaker_sets(self) -> tuple[str, ...]:
        return SPEAKER_SETS if self.speakers == "both" else (self.speakers,)


@dataclass
class Scored:
    """Per item and row: what the metrics saw."""

    item: int
    row: str
    speaker: str
    target_id: str
    reference_id: str | None
    text: str
    hypothesis: str
    word_errors: int
    words: int
    cosine_to_reference: float
    voice_nearest: str
    motion_nearest: str | None
    lag_ms: float | None
    sync_correlation: float | None
    rtf: float | None
    speaker_set: str = "heldout"


class Pools:
    """Per speaker of a set: voice embeddings, motion statistics and 25 fps frames of the pool utterances."""

    def __init__(self, protocol: Protocol, get: Callable[[str], dict], progress: Progress) -> None:
        voices: dict[str, list[np.ndarray]] = defaultdict(list)
        stats: dict[str, list[np.ndarray]] = defaultdict(list)
        self.frames: dict[str, np.ndarray] = {}
        for s, utts in protocol.pools.items():
            progress(f"centroids: speaker {s} ({len(utts)} utterances)")
            frames = []
            for u in utts:
                it = get(u["id"])
                voices[s].append(speaker.embed(it["audio"], audio_lib.SAMPLE_RATE))
                codes = samples.motion_at_video_rate(it["motion"])
                stats[s].append(motion_style.motion_statistics(codes))
                frames.append(codes)
            self.frames[s] = np.concatenate(frames)
        self.voice: Centroids = build_centroids(voices, metric="cosine")
        self.motion: Centroids = build_centroids(stats, metric="euclidean", within_scale=True)


def _score(
    i: int,
    row: str,
    item,
    sample: samples.Sample,
    ref_embedding: np.ndarray,
    pools: Pools,
    reference_id: str | None,
    speaker_set: str = "heldout",
) -> Scored:
    text = item.target["text"]
    hyp = wer.transcribe_for_wer(sample.audio, audio_lib.SAMPLE_RATE)
    errors, words = wer.word_errors(text, hyp)
    emb = speaker.embed(sample.audio, audio_lib.SAMPLE_RATE)
    motion_nearest = lag = corr = None
    if sample.motion is not None:
        motion_nearest = pools.motion.nearest(motion_style.motion_statistics(sample.motion))[0]
        try:
            res = sync.av_sync(sample.motion, motion_code.VIDEO_FPS, sample.audio, audio_lib.SAMPLE_RATE)
            lag, corr = res.lag_ms, res.correlation
        except ValueError as e:  # a motionless or silent output has no lag; it counts as failed sync
            log.warning("item %d %s: no sync lag (%s)", i, row, e)
    return Scored(
        item=i, row=row, speaker=item.speaker, target_id=item.target["id"], reference_id=reference_id, text=text,
        hypothesis=hyp, word_errors=errors, words=words, cosine_to_reference=speaker.cosine(emb, ref_embedding),
        voice_nearest=pools.voice.nearest(emb)[0], motion_nearest=motion_nearest, lag_ms=lag, sync_correlation=corr,
        rtf=sample.rtf, speaker_set=speaker_set,
    )  # fmt: skip


def _fids(row_frames: dict[str, list[np.ndarray]], pools: Pools) -> tuple[float | None, float | None]:
    """E-FID / P-FID of a row: per speaker, its frames against the speaker's pool; mean over speakers."""
    e, p = [], []
    for s, parts in row_frames.items():
        frames = np.concatenate(parts)
        e.append(frechet.expression_fid(frames, pools.frames[s]))
        p.append(frechet.pose_fid(frames, pools.frames[s]))
    return (float(np.mean(e)), float(np.mean(p))) if e else (None, None)


def aggregate(scored: list[Scored], frames: dict[str, dict[str, list[np.ndarray]]], pools: Pools) -> dict[str, dict]:
    table: dict[str, dict] = {}
    for row in ROWS:
        rs = [s for s in scored if s.row == row]
        if not rs:
            continue
        lags = [s.lag_ms for s in rs if s.lag_ms is not None]
        with_motion = [s for s in rs if s.motion_nearest is not None]
        e_fid, p_fid = _fids(frames.get(row, {}), pools)
        rtfs = [s.rtf for s in rs if s.rtf is not None]
        table[row] = {
            "items": len(rs),
            "wer": sum(s.word_errors for s in rs) / sum(s.words for s in rs),
            "wer_by_speaker": {
                spk: sum(s.word_errors for s in rs if s.speaker == spk) / sum(s.words for s in rs if s.speaker == spk)
                for spk in sorted({s.speaker for s in rs})
            },
            "sim_to_reference": float(np.mean([s.cosine_to_reference for s in rs])),
            "voice_nearest": float(np.mean([s.voice_nearest == s.speaker for s in rs])),
            "motion_nearest": float(np.mean([s.motion_nearest == s.speaker for s in with_motion]))
            if with_motion
            else None,
            "e_fid": e_fid,
            "p_fid": p_fid,
            # an output without mouth motion or sound has no lag: it counts as the worst lag searched
            "sync_abs_lag_ms": float(
                np.median([abs(s.lag_ms) if s.lag_ms is not None else sync.MAX_LAG_MS for s in with_motion])
            )
            if with_motion
            else None,
            "sync_mean_lag_ms": float(np.mean(lags)) if lags else None,
            "sync_correlation": float(np.mean([s.sync_correlation for s in rs if s.sync_correlation is not None]))
            if lags
            else None,
            "sync_failed": len(with_motion) - len(lags),
            "rtf": float(np.mean(rtfs)) if rtfs else None,
        }
    return table


def run_eval(bundle, data_dir: str | Path, config: EvalConfig, progress: Progress | None = None) -> dict:
    """Evaluate `bundle` on the corpus at `data_dir`; returns {"config", "speaker_sets": {set: {"speakers",
    "split", "rows"}}, "rows" and "speakers" (of the first set: "heldout" when it is evaluated), "items"}."""
    from ..corpus.dataset import CorpusDataset
    from ..vocoder import vocoder_for

    say = progress or (lambda msg: log.info("%s", msg))
    sets = config.speaker_sets
    # a model trained on blendshapes from each utterance's rest is shown and scored against motion in that space
    from_rest = bool(bundle.info.get("train_config", {}).get("motion_from_rest", False))
    ds = CorpusDataset(
        data_dir, split=tuple(SPLIT_OF_SET[s] for s in sets), with_audio=True, motion_from_rest=from_rest
    )
    protocols = {
        s: build_protocol(
            ds.manifest,
            config.max_items,
            seed=config.seed,
            pool_size=config.pool_size,
            targets=config.targets,
            speaker_set=s,
            speakers=list(config.seen_speakers) if s == "seen" and config.seen_speakers else None,
        )  # fmt: skip
        for s in sets
    }
    index = {u["id"]: i for i, u in enumerate(ds.items)}

    def get(uid: str) -> dict:
        return ds[index[uid]]

    def get_target(target: dict) -> dict:
        if target.get("source") == "harvard":
            item = samples.render_target(ds.manifest, target)
            return item | {"motion": ds.motion_of(item["motion"])}
        return get(target["id"])

    vocoder = vocoder_for(bundle)
    portrait = samples.tracking_portrait() if config.reference_motion != "corpus" else None
    readers = None
    if config.reference_motion == "tracked-adapted":
        say("adapting the tracker's read-out to the references' portrait (about 12 min on 2 cores)")
        readers = samples.adapted_readers(portrait, callback=lambda i, n: say(f"adapting: step {i}/{n}"))
    tracked: dict[str, torch.Tensor] = {}

    def reference_motion(item: dict) -> torch.Tensor | None:
        if portrait is None:
            return None
        if item["id"] not in tracked:
            tracked[item["id"]] = samples.tracked_motion(
                item, portrait, appearance=config.reference_motion != "tracked-landmarks", readers=readers
            )
        return tracked[item["id"]]

    scored: list[Scored] = []
    out_sets: dict[str, dict] = {}
    gen_kw = dict(steps=config.steps, cfg_audio=config.cfg_audio, cfg_motion=config.cfg_motion)
    for set_name, protocol in protocols.items():
        say(f"speaker set {set_name!r}: {', '.join(sorted(protocol.pools))} ({protocol.split})")
        pools = Pools(protocol, get, say)
        set_scored: list[Scored] = []
        frames: dict[str, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
        for i, item in enumerate(protocol.items):
            target, ref, other = get_target(item.target), get(item.reference["id"]), get(item.other_reference["id"])
            ref_emb = speaker.embed(ref["audio"], audio_lib.SAMPLE_RATE)  # the intended voice, for every row
            text, seed = item.target["text"], config.seed + i
            same, wrong = (  # the target text after the speaker's own reference, and after another speaker's
                samples.generated(bundle, vocoder, r, text, seed=seed, reference_motion=reference_motion(r), **gen_kw)
                for r in (ref, other)
            )
            rows = {
                "ground_truth": (samples.ground_truth(target), None),
                "ground_truth_vocoded": (samples.ground_truth_vocoded(target, vocoder), None),
                "model": (same, ref["id"]),
                "other_reference": (wrong, other["id"]),
            }
            for row, (sample, ref_id) in rows.items():
                s = _score(i, row, item, sample, ref_emb, pools, ref_id, set_name)
                set_scored.append(s)
                if sample.motion is not None:
                    frames[row][item.speaker].append(sample.motion)
            m = next(s for s in set_scored if s.item == i and s.row == "model")
            g = next(s for s in set_scored if s.item == i and s.row == "ground_truth")
            say(f"{set_name} item {i + 1}/{len(protocol.items)} {item.speaker}: WER {m.word_errors}/{m.words} "
                f"(ground truth {g.word_errors}/{g.words}) sim {m.cosine_to_reference:.2f} voice->{m.voice_nearest} "
                f"motion->{m.motion_nearest} lag {m.lag_ms} ms RTF {m.rtf:.2f} | heard {m.hypothesis!r}")  # fmt: skip
        out_sets[set_name] = {
            "speakers": sorted(protocol.pools),
            "split": protocol.split,
            "rows": aggregate(set_scored, frames, pools),
        }
        scored += set_scored
    first = out_sets[sets[0]]
    return {
        "config": asdict(config),
        "data": str(data_dir),
        "speaker_sets": out_sets,
        "speakers": first["speakers"],  # of the first set, for readers of the one-set result
        "targets": config.targets,
        "motion_from_rest": from_rest,
        "target_text_source": sentences.SOURCE if config.targets == "harvard" else ds.manifest.get("text_source"),
        "rows": first["rows"],  # of the first set ("heldout" when it is evaluated)
        "items": [asdict(s) for s in scored],
        "torch_threads": torch.get_num_threads(),
    }
