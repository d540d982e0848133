"""Flow-matching training loop for the dual-branch generator.

AdamW with linear warm-up, gradient clipping, EMA of the weights (torch.optim.swa_utils), bf16
autocast on CUDA, frame-budget batches, periodic resumable state + exported model files, a short
held-out loss eval, JSON-lines logging. Runs single-process or under `torchrun` (DDP; gloo on CPU).
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel

from ..audio import DEFAULT_MEL_SPEC, mel_spec
from ..checkpoints import OmniTalkerBundle, read_metadata, save_bundle
from ..corpus.dataset import CorpusDataset, FrameBudgetSampler, collate
from ..hifigan import WHEEL, HifiGanConfig
from ..model.config import FlowConfig, named_config
from ..model.flow import FlowMatching
from ..text.tokenizer import CharTokenizer, PhonemeTokenizer
from .state import load_state, save_state

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    model: str = "demo"  # named model config
    text_alignment: str = ""  # override the config's text alignment ("filler" | "frames"); "" keeps it
    lr: float = 7.5e-4  # AdamW peak learning rate
    warmup_steps: int = 200  # linear warm-up
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    batch_frames: int = 4000  # padded mel frames per batch (per process)
    max_frames: int = 1200  # utterances longer than this are skipped (memory)
    ema_decay: float = 0.999
    max_steps: int = 100_000
    max_minutes: float = 0.0  # stop (and save) after this wall time; 0 = no limit
    save_every: int = 100  # steps between resumable states / exported models
    eval_every: int = 100  # steps between held-out loss evaluations
    seed: int = 0
    loss_weights: tuple[float, float, float, float] = (1.0, 1.0, 0.5, 0.5)  # mel, expression, pose, gaze
    bf16: bool = True  # autocast on CUDA
    reset_ema: bool = False  # on resume, restart the EMA from the current weights (e.g. after changing ema_decay)
    max_bad_steps: int = 20  # consecutive non-finite gradient norms before training stops as diverged
    init_from: str = ""  # an OmniTalker model file: generator weights of the same name and shape start from it


def init_from_model(flow: FlowMatching, path: str | Path) -> tuple[int, int]:
    """Copy every generator tensor of `path` whose name and shape match into `flow` (e.g. the transformer and
    text embedding of a model trained on another mel feature); returns (copied, left fresh)."""
    from safetensors import safe_open

    read_metadata(path)  # a clear error for a file that is not an OmniTalker model
    own = flow.state_dict()
    copied = {}
    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():
            name = key.removeprefix("generator.")
            if key.startswith("generator.") and name in own and f.get_slice(key).get_shape() == list(own[name].shape):
                copied[name] = f.get_tensor(key).to(own[name].dtype)
    flow.load_state_dict(copied, strict=False)
    fresh = len(own) - len(copied)
    log.info("initialised %d of %d generator tensors from %s (%d left fresh)", len(copied), len(own), path, fresh)
    return len(copied), fresh


def _tokenizer_for(model_cfg, manifest: dict):
    if model_cfg.text_alignment == "frames":
        return PhonemeTokenizer(manifest["phoneme_vocab"])
    return CharTokenizer.from_file()


def _text_batch(batch: dict, tokenizer) -> torch.Tensor:
    """Model text ids for a collated batch (-1 = pad/filler)."""
    if isinstance(tokenizer, PhonemeTokenizer):
        return tokenizer.frame_ids(batch["phonemes"])  # PAD 0 -> -1
    ids = [torch.tensor(tokenizer.encode(t)) for t in batch["text"]]
    return torch.nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=-1)


def ema_update_fn(decay: float):
    """EMA with warm-up, decay_n = min(decay, (1 + n) / (10 + n)): a short run is not dominated by the
    random initial weights, as it is with a constant decay (0.999 ** 1000 = 37% of the init after 1k steps)."""

    def update(ema_params: list[torch.Tensor], params: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        n = float(num_averaged)
        d = min(decay, (1 + n) / (10 + n))
        torch._foreach_lerp_(ema_params, params, 1 - d)

    return update


def motion_stats(dataset: CorpusDataset, limit: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    step = max(1, len(dataset) // limit)
    codes = torch.cat([dataset[i]["motion"] for i in range(0, len(dataset), step)])
    return codes.mean(0), codes.std(0)


class Trainer:
    def __init__(self, cfg: TrainConfig, data_dir: str | Path, out_dir: str | Path, device: str = "cpu"):
        self.cfg, self.out = cfg, Path(out_dir)
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.distributed and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        if device.startswith("cuda") and self.distributed:
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
            torch.cuda.set_device(device)
        self.device = torch.device(device)
        torch.manual_seed(cfg.seed + self.rank)

        self.train_set = CorpusDataset(data_dir, split="train")
        self.eval_set = CorpusDataset(data_dir, split="heldout_sentence")
        manifest = self.train_set.manifest
        overrides = {"text_alignment": cfg.text_alignment} if cfg.text_alignment else {}
        spec = mel_spec(manifest.get("mel_spec", DEFAULT_MEL_SPEC))  # the corpus decides the mel feature
        overrides.update(mel_spec=spec.name, mel_dim=spec.n_mels)
        self.vocoder_config = HifiGanConfig().to_dict() | {"source": WHEEL} if spec.name == "hifigan_22k_80" else None
        self.tokenizer = _tokenizer_for(named_config(cfg.model, **overrides), manifest)
        self.model_cfg = named_config(cfg.model, text_num_embeds=self.tokenizer.num_embeds, **overrides)
        w = cfg.loss_weights
        self.flow_cfg = FlowConfig(loss_weights={"mel": w[0], "expression": w[1], "pose": w[2], "gaze": w[3]})

        self.flow = FlowMatching(self.model_cfg, self.flow_cfg).to(self.device)
        if cfg.init_from:
            init_from_model(self.flow, cfg.init_from)
        self.flow.set_motion_stats(*(s.to(self.device) for s in motion_stats(self.train_set)))
        self.ema = AveragedModel(self.flow, multi_avg_fn=ema_update_fn(cfg.ema_decay), use_buffers=True)
        self.ema.module.eval()
        self.opt = torch.optim.AdamW(self.flow.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.net = DistributedDataParallel(self.flow) if self.distributed else self.flow
        self.step, self.epoch = 0, 0
        self.stop_requested = False

    # ---- persistence ----------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.out / "state.safetensors"

    def resume(self) -> bool:
        if not self.state_path.is_file():
            return False
        meta = load_state(self.state_path, self.flow, self.ema, self.opt)
        self.step, self.epoch = meta["step"], meta["epoch"]
        if self.cfg.reset_ema:
            self.ema.n_averaged.zero_()  # the next update copies the current weights
        log.info("resumed %s at step %d", self.state_path, self.step)
        return True

    def save(self) -> None:
        if self.rank != 0:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        meta = {"step": self.step, "epoch": self.epoch, "train_config": asdict(self.cfg)}
        save_state(self.state_path, self.flow, self.ema, self.opt, meta)
        manifest = self.train_set.manifest
        info = {"step": self.step, "train_config": asdict(self.cfg), "corpus": manifest.get("text_source", ""),
                "teacher": manifest.get("teacher", "espeak")}  # fmt: skip
        if self.vocoder_config is None:
            info["griffin_lim_by_design"] = True  # no Vocos weights are available offline
        bundle = OmniTalkerBundle(
            flow=self.ema.module, tokenizer=self.tokenizer, vocoder_config=self.vocoder_config, info=info
        )
        save_bundle(bundle, self.out / "latest.safetensors", overwrite=True)

    # ---- loop -----------------------------------------------------------------------------

    def lr_at(self, step: int) -> float:
        return self.cfg.lr * min(1.0, (step + 1) / max(1, self.cfg.warmup_steps))

    def _batches(self):
        lengths = [min(n, 10**9) for n in self.train_set.lengths]
        keep = [i for i, n in enumerate(lengths) if n <= self.cfg.max_frames]
        while True:
            sampler = FrameBudgetSampler(
                [lengths[i] for i in keep], self.cfg.batch_frames, shuffle=True, seed=self.cfg.seed + self.epoch
            )
            batches = list(sampler)[self.rank :: self.world]
            for idx in batches:
                yield collate([self.train_set[keep[i]] for i in idx])
            self.epoch += 1

    def _to_device(self, batch: dict):
        return (
            batch["mel"].to(self.device),
            batch["motion"].to(self.device),
            _text_batch(batch, self.tokenizer).to(self.device),
            batch["lengths"].to(self.device),
        )

    @torch.no_grad()
    def evaluate(self, max_batches: int = 4) -> dict[str, float]:
        """Held-out-sentence loss with fixed noise and times, on the EMA weights. The fixed seed lives in a
        forked RNG, so training's own CPU and CUDA random streams continue as if no evaluation had run."""
        cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(1234)
            return self._held_out_loss(max_batches)

    def _held_out_loss(self, max_batches: int) -> dict[str, float]:
        model = self.ema.module
        lengths = [min(n, self.cfg.max_frames) for n in self.eval_set.lengths]
        sampler = FrameBudgetSampler(lengths, self.cfg.batch_frames, shuffle=False, seed=0)
        totals: dict[str, float] = {}
        n = 0
        for idx in list(sampler)[:max_batches]:
            batch = collate([self.eval_set[i] for i in idx])
            mel, motion, text, lens = self._to_device(batch)
            out = model(
                mel[:, : self.cfg.max_frames],
                motion[:, : self.cfg.max_frames],
                text[:, : self.cfg.max_frames],
                lens.clamp(max=self.cfg.max_frames),
            )
            for k, v in {"loss": out.loss, **out.parts}.items():
                totals[k] = totals.get(k, 0.0) + float(v)
            n += 1
        return {k: v / max(n, 1) for k, v in totals.items()}

    def _log(self, record: dict) -> None:
        if self.rank == 0:
            with open(self.out / "log.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def fit(self) -> Path:
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        start, last = time.monotonic(), time.monotonic()
        previous = signal.signal(signal.SIGINT, self._request_stop) if self.rank == 0 else None
        autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg.bf16 and self.device.type == "cuda")
        self.flow.train()
        bad_steps = 0
        try:
            for batch in self._batches():
                out_of_time = bool(cfg.max_minutes) and time.monotonic() - start > cfg.max_minutes * 60
                if self._should_stop(out_of_time or self.stop_requested or self.step >= cfg.max_steps):
                    if out_of_time:
                        log.info("time budget of %.1f min reached", cfg.max_minutes)
                    break
                for group in self.opt.param_groups:
                    group["lr"] = self.lr_at(self.step)
                mel, motion, text, lens = self._to_device(batch)
                with autocast:
                    out = self.net(mel, motion, text, lens)
                self.opt.zero_grad(set_to_none=True)
                out.loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(self.flow.parameters(), cfg.grad_clip)
                if not math.isfinite(float(grad_norm)):
                    bad_steps += 1
                    log.warning("step %d: non-finite gradient norm, update skipped (%d in a row)", self.step, bad_steps)
                    if bad_steps >= cfg.max_bad_steps:
                        raise RuntimeError(
                            f"training diverged at step {self.step}: {bad_steps} batches in a row gave a non-finite "
                            f"gradient; the last good state is {self.state_path}. Lower --lr or resume from it"
                        )
                    continue
                bad_steps = 0
                self.opt.step()
                self.ema.update_parameters(self.flow)
                self.step += 1
                now = time.monotonic()
                record = {"step": self.step, "loss": out.loss.item(), **{k: float(v) for k, v in out.parts.items()},
                          "lr": self.lr_at(self.step - 1), "grad_norm": float(grad_norm), "sec": round(now - last, 3),
                          "frames": int(lens.sum())}  # fmt: skip
                last = now
                self._log(record)
                if self.step % 10 == 0 and self.rank == 0:
                    log.info(
                        "step %d loss %.4f mel %.4f expr %.4f (%.2f s/step)",
                        self.step,
                        record["loss"],
                        record["mel"],
                        record["expression"],
                        record["sec"],
                    )
                if self.step % cfg.eval_every == 0 and self.rank == 0:
                    ev = self.evaluate()
                    self._log({"step": self.step, "eval": ev})
                    log.info("step %d held-out loss %s", self.step, {k: round(v, 4) for k, v in ev.items()})
                    self.flow.train()
                if self.step % cfg.save_every == 0:
                    self.save()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        self.save()
        if self.distributed:
            dist.barrier()
        return self.out / "latest.safetensors"

    def _should_stop(self, local: bool) -> bool:
        """All processes stop at the same step (a clock or Ctrl-C seen by one rank stops every rank)."""
        if not self.distributed:
            return local
        flag = torch.tensor([1.0 if local else 0.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def _request_stop(self, *_):
        log.warning("interrupt: finishing the current step, saving, and stopping (press again to abort)")
        self.stop_requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
