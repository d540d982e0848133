"""Phoneme durations for the text to be spoken, learned from the teacher's exact durations.

Why: a frame-aligned model speaks with whatever timing its phoneme track has. eSpeak's own timing is
robotic (even segments, no phrase-final lengthening the teacher has); the corpus holds the teacher's
durations for every phoneme, so a small predictor (FastSpeech 2's variance predictor: convolutions over
phoneme embeddings) learns them in minutes. It is stored inside the model file (`duration.*` tensors,
`duration_config` metadata) and used by `PhonemeTokenizer` when present.

Legend: b - batch, p - phonemes, d - width.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DurationConfig:
    num_symbols: int  # phoneme vocabulary size (index 0 = padding)
    fps: float  # the frame rate durations are counted in (the model's mel)
    dim: int = 192
    layers: int = 3
    kernel: int = 5
    dropout: float = 0.1

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DurationConfig:
        return cls(**json.loads(text))


class ConvLayer(nn.Module):
    def __init__(self, dim: int, kernel: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2)
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # x: b p d, mask: b p
        h = self.conv((x * mask[..., None]).transpose(1, 2)).transpose(1, 2)
        return x + self.dropout(self.norm(F.relu(h)))


class DurationPredictor(nn.Module):
    """Phoneme ids [b, p] -> log(1 + frames) [b, p]."""

    def __init__(self, cfg: DurationConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.num_symbols, cfg.dim, padding_idx=0)
        self.layers = nn.ModuleList(ConvLayer(cfg.dim, cfg.kernel, cfg.dropout) for _ in range(cfg.layers))
        self.out = nn.Linear(cfg.dim, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids > 0).float()
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, mask)
        return self.out(x).squeeze(-1) * mask

    @torch.inference_mode()
    def seconds(self, ids: list[int]) -> list[float]:
        """Predicted duration in seconds of each phoneme of one utterance."""
        p = next(self.parameters())
        log_frames = self(torch.tensor([ids], dtype=torch.long, device=p.device))[0]
        frames = torch.expm1(log_frames.float()).clamp(min=0.0)
        return (frames / self.cfg.fps).tolist()


def runs(frame_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame-level phoneme ids [n] -> (phoneme ids [p], frames per phoneme [p]) by run-length encoding."""
    x = np.asarray(frame_ids)
    if x.size == 0:
        return x, x
    starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
    return x[starts], np.diff(np.r_[starts, x.size])


def train_predictor(
    sequences: list[tuple[np.ndarray, np.ndarray]],
    cfg: DurationConfig,
    *,
    minutes: float = 3.0,
    max_steps: int = 4000,
    batch: int = 32,
    lr: float = 2e-3,
    seed: int = 0,
    held_out: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[DurationPredictor, dict]:
    """MSE on log(1 + frames) over (ids, frames) pairs; returns the model and held-out errors in frames."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # init without touching the process RNG state for others
        torch.manual_seed(seed)
        model = DurationPredictor(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    t0, step = time.time(), 0
    model.train()
    while step < max_steps and time.time() - t0 < minutes * 60:
        pick = torch.randint(len(sequences), (batch,), generator=gen).tolist()
        ids, target = _pad([sequences[i] for i in pick])
        loss = (((model(ids) - target) ** 2) * (ids > 0)).sum() / (ids > 0).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for g in opt.param_groups:  # cosine decay to 10% over max_steps
            g["lr"] = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(step / max_steps, 1.0))))
        step += 1
        if step % 200 == 0:
            log.info("duration step %d: loss %.4f", step, float(loss))
    model.eval()
    report = {"steps": step, "minutes": round((time.time() - t0) / 60, 2)}
    if held_out:
        report.update(evaluate(model, held_out))
    return model, report


def evaluate(model: DurationPredictor, sequences: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Mean absolute error per phoneme (frames) and relative error of the utterance length."""
    errors, totals = [], []
    with torch.inference_mode():
        for ids, frames in sequences:
            pred = torch.expm1(model(torch.as_tensor(ids[None], dtype=torch.long))[0]).clamp(min=0).numpy()
            errors.append(np.abs(pred - frames))
            totals.append(abs(pred.sum() - frames.sum()) / max(frames.sum(), 1))
    return {"phoneme_mae_frames": float(np.concatenate(errors).mean()), "length_error": float(np.mean(totals))}


def _pad(items: list[tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(len(ids) for ids, _ in items)
    ids = torch.zeros(len(items), n, dtype=torch.long)
    target = torch.zeros(len(items), n)
    for i, (x, f) in enumerate(items):
        ids[i, : len(x)] = torch.as_tensor(x, dtype=torch.long)
        target[i, : len(f)] = torch.log1p(torch.as_tensor(f, dtype=torch.float32))
    return ids, target


def corpus_sequences(data_dir: str | Path, split: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(phoneme ids, frames) of every utterance of a corpus split, from its frame-level labels."""
    from ..corpus.dataset import CorpusDataset

    ds = CorpusDataset(data_dir, split=split)
    out = []
    for i in range(len(ds)):
        ids, frames = runs(ds[i]["phonemes"].numpy())
        out.append((ids.astype(np.int64), frames.astype(np.float32)))
    return out
