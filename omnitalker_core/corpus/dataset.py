"""Reader for the corpus written by `omnitalker_core.corpus.generate`: a map-style dataset with lazy
shard access, a length-bucketed batch sampler with a frame budget, and a padding collate.

Why a frame budget instead of a fixed batch size: utterances range from ~1 to ~8 s, and attention
cost and memory grow with padded frames; F5-TTS batches by frames for the same reason.
Legend: b - batch, n - mel frames, d - mel bins (100), m - motion channels (61).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .. import motion as motion_code

MEL_FLOOR = math.log(1e-5)  # log-mel of silence: the pad value for mel
SPLITS = ("train", "heldout_speaker", "heldout_sentence")


# The corpus format. 2: motion in the code's signs (`motion`): version 1's synthetic speakers nodded with the chin
# up and moved their lids against their eyes (eyeLook* mirrored), as the rig draws and the tracker reads codes.
VERSION = 2


def load_manifest(root: str | Path) -> dict:
    """manifest.json of a corpus directory, checked for version and keys."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no corpus manifest at {path} (generate one: python -m omnitalker_core corpus --out {root})"
        )
    manifest = json.loads(path.read_text())
    if manifest.get("version") != VERSION:
        raise ValueError(
            f"{path}: corpus version {manifest.get('version')!r}, this pack reads version {VERSION}; make it again "
            "(python -m omnitalker_core corpus, or prepare for videos): older corpora write motion in other signs"
        )
    for key in ("sample_rate", "mel_fps", "phoneme_vocab", "speakers", "utterances"):
        if key not in manifest:
            raise ValueError(f"{path}: manifest lacks {key!r}")
    return manifest


class CorpusDataset(Dataset):
    """Utterances of one or more splits. Item: {"mel" f32 [n, 100], "motion" f32 [n, 61],
    "phonemes" i64 [n], "speaker" str, "text" str, "id" str} (+ "audio" f32 [t] if `with_audio`). With
    `motion_from_rest`, each utterance's blendshapes are measured from its rest, as the tracker reads a clip.

    Shards are opened lazily (safetensors `safe_open`, memory-mapped) and cached per process, so a
    DataLoader with workers opens each shard once per worker and never loads whole shards."""

    def __init__(
        self,
        root: str | Path,
        split: str | Sequence[str] = "train",
        speakers: Sequence[str] | None = None,
        with_audio: bool = False,
        motion_from_rest: bool = False,
    ) -> None:
        self.root = Path(root)
        self.motion_from_rest = motion_from_rest  # blendshapes from each utterance's rest (`motion.from_rest`)
        self.manifest = load_manifest(self.root)
        splits = (split,) if isinstance(split, str) else tuple(split)
        bad = [s for s in splits if s not in SPLITS]
        if bad:
            raise ValueError(f"unknown split(s) {bad}; choose from {list(SPLITS)}")
        self.items = [
            u for u in self.manifest["utterances"]
            if u["split"] in splits and (speakers is None or u["speaker"] in speakers)
        ]  # fmt: skip
        self.with_audio = with_audio
        self.phoneme_vocab: list[str] = list(self.manifest["phoneme_vocab"])
        self._handles: dict[str, object] = {}

    def __len__(self) -> int:
        return len(self.items)

    @property
    def lengths(self) -> list[int]:
        """Mel frames per item (for `FrameBudgetSampler`)."""
        return [int(u["num_frames"]) for u in self.items]

    def _shard(self, name: str):
        h = self._handles.get(name)
        if h is None:
            from safetensors import safe_open

            path = self.root / name
            if not path.is_file():
                raise FileNotFoundError(f"corpus shard missing: {path}")
            h = safe_open(str(path), framework="pt")
            self._handles[name] = h
        return h

    def motion_of(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes as this dataset hands them out (from each utterance's rest with `motion_from_rest`)."""
        return motion_code.from_rest(codes) if self.motion_from_rest else codes

    def __getitem__(self, index: int) -> dict:
        u = self.items[index]
        f = self._shard(u["shard"])
        uid = u["id"]
        item = {
            "id": uid,
            "mel": f.get_tensor(f"{uid}/mel").float(),  # n d
            "motion": self.motion_of(f.get_tensor(f"{uid}/motion").float()),  # n m
            "phonemes": f.get_tensor(f"{uid}/phonemes").long(),  # n
            "speaker": u["speaker"],
            "text": u["text"],
        }
        if self.with_audio:
            item["audio"] = f.get_tensor(f"{uid}/audio").float() / 32767.0  # t
        return item

    def __getstate__(self) -> dict:  # open handles do not pickle; workers reopen lazily
        state = self.__dict__.copy()
        state["_handles"] = {}
        return state


class FrameBudgetSampler(Sampler[list[int]]):
    """Batches of indices whose padded size (batch size x longest item) stays <= `max_frames`.

    Items are sorted by length inside random buckets, so a batch holds similar lengths and little
    padding; batch order is shuffled per epoch (`set_epoch`). An item longer than `max_frames`
    alone raises, since it could never be batched. Deterministic for (seed, epoch)."""

    def __init__(
        self,
        lengths: Sequence[int],
        max_frames: int,
        shuffle: bool = True,
        seed: int = 0,
        bucket_size: int = 1000,
    ) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if max_frames <= 0:
            raise ValueError(f"max_frames must be positive, got {max_frames}")
        if len(self.lengths) and self.lengths.max() > max_frames:
            raise ValueError(f"an item has {int(self.lengths.max())} frames, more than max_frames={max_frames}")
        self.max_frames = int(max_frames)
        self.shuffle = shuffle
        self.seed = seed
        self.bucket_size = bucket_size
        self.epoch = 0
        self._batches = self._make_batches()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._batches = self._make_batches()

    def _make_batches(self) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.lengths)) if self.shuffle else np.arange(len(self.lengths))
        batches: list[list[int]] = []
        for b0 in range(0, len(order), self.bucket_size):
            bucket = order[b0 : b0 + self.bucket_size]
            bucket = bucket[np.argsort(self.lengths[bucket], kind="stable")]
            cur: list[int] = []
            longest = 0
            for i in bucket:
                n = int(self.lengths[i])
                if cur and max(longest, n) * (len(cur) + 1) > self.max_frames:
                    batches.append(cur)
                    cur, longest = [], 0
                cur.append(int(i))
                longest = max(longest, n)
            if cur:
                batches.append(cur)
        if self.shuffle:
            batches = [batches[int(i)] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches)

    def __len__(self) -> int:
        return len(self._batches)


def collate(items: list[dict]) -> dict:
    """Pad a list of items to the longest: mel with the log-mel floor, motion with 0, phonemes with 0
    (padding id). Returns mel [b, n, 100], motion [b, n, 61], phonemes [b, n], lengths [b] (long),
    plus lists "speaker", "text", "id" (and "audio" [b, t] with "audio_lengths" when present)."""
    if not items:
        raise ValueError("collate got an empty batch")
    lengths = torch.tensor([it["mel"].shape[0] for it in items], dtype=torch.long)
    n = int(lengths.max())
    b = len(items)
    mel = torch.full((b, n, items[0]["mel"].shape[1]), MEL_FLOOR, dtype=torch.float32)
    motion = torch.zeros((b, n, items[0]["motion"].shape[1]), dtype=torch.float32)
    phonemes = torch.zeros((b, n), dtype=torch.long)
    for i, it in enumerate(items):
        k = it["mel"].shape[0]
        mel[i, :k] = it["mel"]
        motion[i, :k] = it["motion"]
        phonemes[i, :k] = it["phonemes"]
    out = {
        "mel": mel, "motion": motion, "phonemes": phonemes, "lengths": lengths,
        "speaker": [it["speaker"] for it in items], "text": [it["text"] for it in items],
        "id": [it["id"] for it in items],
    }  # fmt: skip
    if all("audio" in it for it in items):
        alen = torch.tensor([it["audio"].shape[0] for it in items], dtype=torch.long)
        audio = torch.zeros((b, int(alen.max())), dtype=torch.float32)
        for i, it in enumerate(items):
            audio[i, : alen[i]] = it["audio"]
        out["audio"], out["audio_lengths"] = audio, alen
    return out
