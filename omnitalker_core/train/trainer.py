"""Flow-matching training loop for the dual-branch generator.

AdamW with linear warm-up, gradient clipping, EMA of the weights (torch.optim.swa_utils), bf16
autocast on CUDA, frame-budget batches, gradient accumulation, periodic resumable state + exported
model files, a short held-out loss eval, JSON-lines logging. Runs single-process or under `torchrun`
(DDP; gloo on CPU, nccl on CUDA).

The paper's recipe (PAPER.md) starts the audio branch from F5-TTS: `init_audio` copies the audio branch
and text embedding of a `convert f5` file into the model (the visual branch and the fusion gates keep a new
model's initialisation); `freeze_audio` keeps them fixed, `audio_lr_scale` gives them their own learning
rate (an AdamW parameter group), and the loss weights default to the paper's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel

from ..audio import DEFAULT_MEL_SPEC, mel_spec
from ..checkpoints import OmniTalkerBundle, read_metadata, save_bundle
from ..corpus.dataset import CorpusDataset, FrameBudgetSampler, collate
from ..hifigan import WHEEL, HifiGanConfig
from ..model.config import NAMED_CONFIGS, FlowConfig, ModelConfig, named_config
from ..model.flow import FlowMatching
from ..text.tokenizer import CharTokenizer, PhonemeTokenizer, tokenizer_from_metadata
from ..vocoder import HifiGanVocoder
from .state import load_state, read_state_meta, save_state

log = logging.getLogger(__name__)

LOSS_PARTS = ("mel", "expression", "pose", "gaze")  # the order of `loss_weights` (FlowMatching's loss parts)
DEFAULT_LOSS_WEIGHTS = (1.0, 1.0, 0.5, 0.5)  # training from scratch (the demo model)
PAPER_LOSS_WEIGHTS = (0.1, 3.0, 0.5, 0.5)  # PAPER.md: mel 0.1, face 3.0, head 0.5, eye 0.5 (the init_audio default)
# The audio branch as `convert f5` fills it: F5-TTS's DiT (time and input embedding, blocks, output) and its
# text embedding. Everything else (transformer.motion.*, the fusion gates transformer.fusion.*) is the visual side.
AUDIO_PREFIXES = ("transformer.audio.", "transformer.text_embed.")


@dataclass(frozen=True)
class TrainConfig:
    model: str = ""  # named model config or an OmniTalker model file (its config); "" = init_audio's file, else demo
    text_alignment: str = ""  # override the config's text alignment ("filler" | "frames"); "" keeps it
    lr: float = 7.5e-4  # AdamW peak learning rate
    warmup_steps: int = 200  # linear warm-up
    decay_start: int = 0  # from this step the lr follows a cosine down to lr * final_lr_scale at max_steps; 0 = none
    final_lr_scale: float = 0.05
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
    loss_weights: tuple[float, ...] = ()  # mel, expression, pose, gaze; () = default, the paper's with init_audio
    bf16: bool = True  # autocast on CUDA
    reset_ema: bool = False  # on resume, restart the EMA from the current weights (e.g. after changing ema_decay)
    max_bad_steps: int = 20  # consecutive non-finite gradient norms before training stops as diverged
    init_from: str = ""  # an OmniTalker model file: generator weights of the same name and shape start from it
    init_audio: str = ""  # a `convert f5` file: the audio branch and text embedding start from it (all must fit)
    freeze_audio: bool = False  # audio branch + text embedding get no gradient and are not in the optimizer
    audio_lr_scale: float = 1.0  # their learning rate = lr * this (own AdamW parameter group)
    grad_accum: int = 1  # micro-batches per optimizer step (DDP: gradients synchronised on the last one only)
    # blendshapes measured from each utterance's rest (`motion.from_rest`), the space the tracker reads a
    # reference video in, so a captured style looks like the training data (docs/MOTION_SPACE.md)
    motion_from_rest: bool = True

    def __post_init__(self) -> None:
        if self.grad_accum < 1:
            raise ValueError(f"grad_accum must be >= 1, got {self.grad_accum}")
        if self.decay_start and not 0 < self.decay_start < self.max_steps:
            raise ValueError(f"decay_start must lie between 0 and max_steps ({self.max_steps}), got {self.decay_start}")
        if not 0 <= self.final_lr_scale <= 1:
            raise ValueError(f"final_lr_scale must be within 0..1, got {self.final_lr_scale}")
        if not (self.audio_lr_scale >= 0 and math.isfinite(self.audio_lr_scale)):
            raise ValueError(f"audio_lr_scale must be a finite number >= 0, got {self.audio_lr_scale}")
        if len(self.loss_weights) not in (0, len(LOSS_PARTS)):
            raise ValueError(
                f"loss_weights: give {len(LOSS_PARTS)} numbers ({', '.join(LOSS_PARTS)}), got {self.loss_weights}"
            )
        if any(not (w >= 0 and math.isfinite(w)) for w in self.loss_weights):
            raise ValueError(f"loss_weights must be finite numbers >= 0, got {self.loss_weights}")

    @property
    def resolved_loss_weights(self) -> dict[str, float]:
        """The loss weights in force: the given ones, else the paper's when the audio branch comes from F5-TTS."""
        weights = self.loss_weights or (PAPER_LOSS_WEIGHTS if self.init_audio else DEFAULT_LOSS_WEIGHTS)
        return dict(zip(LOSS_PARTS, (float(w) for w in weights)))

    @property
    def model_source(self) -> str:
        """The model config to build: `model`, else the init_audio file's own config, else demo."""
        return self.model or self.init_audio or "demo"

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """From `asdict` output (a state file's train_config); fields this version does not know are dropped."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "loss_weights" in values:
            values["loss_weights"] = tuple(values["loss_weights"])
        return cls(**values)


def is_model_file(name: str) -> bool:
    return name not in NAMED_CONFIGS and (name.endswith(".safetensors") or Path(name).is_file())


def model_config_for(name_or_file: str, **overrides) -> ModelConfig:
    """A named config, or the generator config stored in an OmniTalker model file (e.g. one `convert f5` wrote)."""
    if not is_model_file(name_or_file):
        if name_or_file not in NAMED_CONFIGS:
            raise ValueError(
                f"unknown config {name_or_file!r}: choose from {sorted(NAMED_CONFIGS)} or give an OmniTalker model file"
            )
        return named_config(name_or_file, **overrides)
    meta = read_metadata(name_or_file)
    if "model_config" not in meta:
        raise ValueError(f"{Path(name_or_file).name} holds no generator, so no model config (a vocoder-only file?)")
    return replace(ModelConfig.from_json(meta["model_config"]), **overrides)


def _describe(cfg: ModelConfig) -> str:
    return (
        f"dim {cfg.dim}, depth {cfg.depth}, heads {cfg.heads}x{cfg.dim_head}, text {cfg.text_num_embeds} tokens x "
        f"{cfg.text_dim}, {cfg.conv_layers} text conv layers, mel {cfg.mel_spec}"
    )


def init_audio_from(flow: FlowMatching, path: str | Path, config: str = "") -> dict:
    """Copy the audio branch and text embedding (AUDIO_PREFIXES) of the model file `path` into `flow`.

    Every such tensor of `flow` must be in the file with the same shape, and the file may hold no other audio
    tensor; else a ValueError names the first mismatches and what to do. The rest of `flow` (visual branch,
    fusion gates) is left as it is. Returns what to record in the exported model's info."""
    path = Path(path)
    meta = read_metadata(path)  # a clear error for a file that is not an OmniTalker model
    if "model_config" not in meta:
        raise ValueError(f"--init-audio {path.name} holds no generator: give the model file `convert f5` wrote")
    file_cfg = ModelConfig.from_json(meta["model_config"])
    own = {k: v for k, v in flow.state_dict().items() if k.startswith(AUDIO_PREFIXES)}
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        shapes = {
            k.removeprefix("generator."): tuple(f.get_slice(k).get_shape())
            for k in f.keys()
            if k.removeprefix("generator.").startswith(AUDIO_PREFIXES) and k.startswith("generator.")
        }
        problems = []
        if file_cfg.mel_spec != flow.model_cfg.mel_spec:
            problems.append(f"mel feature: file {file_cfg.mel_spec}, corpus {flow.model_cfg.mel_spec}")
        if file_cfg.text_alignment != flow.model_cfg.text_alignment:
            problems.append(f"text alignment: file {file_cfg.text_alignment}, model {flow.model_cfg.text_alignment}")
        for k, v in own.items():
            if k not in shapes:
                problems.append(f"{k}: not in the file")
            elif shapes[k] != tuple(v.shape):
                problems.append(f"{k}: file {shapes[k]}, model {tuple(v.shape)}")
        problems += [f"{k}: in the file, not in the model" for k in sorted(shapes.keys() - own.keys())]
        if problems:
            hint = ""
            if file_cfg.mel_spec != flow.model_cfg.mel_spec:
                hint += " Train on a corpus of the file's mel feature (`prepare --mel-spec vocos_24k_100` for F5-TTS)."
            if file_cfg.text_alignment != flow.model_cfg.text_alignment:
                hint += f" Leave out --text-alignment: the file reads text with {file_cfg.text_alignment} alignment."
            raise ValueError(
                f"--init-audio {path.name} does not fit the model of config {Path(config).name or 'demo'!r} "
                f"({len(problems)} mismatch{'es' if len(problems) > 1 else ''}; first: {'; '.join(problems[:4])}). "
                f"The file's audio branch: {_describe(file_cfg)}; the model's: {_describe(flow.model_cfg)}. Train the "
                f"architecture `convert f5` wrote into the file: leave out --config (with --init-audio the file's own "
                f"config is the default) or pass --config {path}.{hint}"
            )
        tensors = {k: f.get_tensor("generator." + k).to(own[k].dtype) for k in own}
    flow.load_state_dict(tensors, strict=False)
    info = json.loads(meta.get("info", "{}"))
    log.info("audio branch and text embedding: %d tensors from %s", len(tensors), path)
    return {
        "file": str(path.resolve()),
        "name": path.name,
        "converted_from": info.get("converted_from", ""),
        "source": info.get("source", ""),
        "tensors": len(tensors),
    }


def audio_parameter_names(flow: FlowMatching) -> list[str]:
    return [n for n, _ in flow.named_parameters() if n.startswith(AUDIO_PREFIXES)]


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


def _file_tokenizer(cfg: TrainConfig):
    """The tokenizer of the model file the weights or the config come from (init_audio, else a --config file):
    its text embedding rows belong to that vocabulary (`convert f5 --vocab`)."""
    for source in (cfg.init_audio, cfg.model if is_model_file(cfg.model) else ""):
        if source:
            meta = read_metadata(source)
            if "tokenizer" in meta:
                return tokenizer_from_metadata(json.loads(meta["tokenizer"]))
    return None


def _tokenizer_for(model_cfg, manifest: dict, from_file=None):
    if model_cfg.text_alignment == "frames":
        return PhonemeTokenizer(manifest["phoneme_vocab"])
    if isinstance(from_file, CharTokenizer):
        return from_file
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
        self._owns_group = self.distributed and not dist.is_initialized()  # torchrun: `close` destroys it
        if self._owns_group:
            dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        if device.startswith("cuda") and self.distributed:
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
            torch.cuda.set_device(device)
        self.device = torch.device(device)
        torch.manual_seed(cfg.seed + self.rank)

        self.train_set = CorpusDataset(data_dir, split="train", motion_from_rest=cfg.motion_from_rest)
        self.eval_set = CorpusDataset(data_dir, split="heldout_sentence", motion_from_rest=cfg.motion_from_rest)
        manifest = self.train_set.manifest
        overrides = {"text_alignment": cfg.text_alignment} if cfg.text_alignment else {}
        spec = mel_spec(manifest.get("mel_spec", DEFAULT_MEL_SPEC))  # the corpus decides the mel feature
        overrides.update(mel_spec=spec.name, mel_dim=spec.n_mels)
        # a HiFi-GAN feature gets the wheel's vocoder (no Vocos weights are available offline for the other)
        self.vocoder_config = HifiGanConfig().to_dict() | {"source": WHEEL} if spec == HifiGanVocoder.spec else None
        base = model_config_for(cfg.model_source, **overrides)
        self.tokenizer = _tokenizer_for(base, manifest, _file_tokenizer(cfg))
        self.model_cfg = replace(base, text_num_embeds=self.tokenizer.num_embeds)
        self.flow_cfg = FlowConfig(loss_weights=cfg.resolved_loss_weights)

        self.flow = FlowMatching(self.model_cfg, self.flow_cfg).to(self.device)
        if cfg.init_from:
            init_from_model(self.flow, cfg.init_from)
        self.init_audio = init_audio_from(self.flow, cfg.init_audio, cfg.model_source) if cfg.init_audio else None
        self.flow.set_motion_stats(*(s.to(self.device) for s in motion_stats(self.train_set)))
        self.audio_names = set(audio_parameter_names(self.flow))
        if cfg.freeze_audio:
            if not (cfg.init_audio or cfg.init_from):
                log.warning(
                    "--freeze-audio without --init-audio/--init-from: the audio branch stays at its random init"
                )
            if cfg.audio_lr_scale != 1.0:
                log.warning(
                    "--freeze-audio: the audio branch is frozen, --audio-lr-scale %g is ignored", cfg.audio_lr_scale
                )
            for name, p in self.flow.named_parameters():
                if name in self.audio_names:
                    p.requires_grad_(False)
        self.ema = AveragedModel(self.flow, multi_avg_fn=ema_update_fn(cfg.ema_decay), use_buffers=True)
        self.ema.module.eval()
        self.opt = torch.optim.AdamW(self._param_groups(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.net = DistributedDataParallel(self.flow) if self.distributed else self.flow
        self.step, self.epoch = 0, 0
        self.stop_requested = False

    def _param_groups(self) -> list[dict]:
        """One group of every parameter (as before there were options); with --freeze-audio the audio branch
        is left out; with --audio-lr-scale it is a second group. `lr_scale` multiplies the scheduled lr."""
        named = list(self.flow.named_parameters())
        rest = [p for n, p in named if n not in self.audio_names]
        audio = [p for n, p in named if n in self.audio_names]
        if self.cfg.freeze_audio:
            return [{"params": rest, "name": "main", "lr_scale": 1.0}]
        if self.cfg.audio_lr_scale == 1.0:
            return [{"params": [p for _, p in named], "name": "all", "lr_scale": 1.0}]
        return [
            {"params": rest, "name": "main", "lr_scale": 1.0},
            {"params": audio, "name": "audio", "lr_scale": self.cfg.audio_lr_scale},
        ]

    # ---- persistence ----------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.out / "state.safetensors"

    def resume(self) -> bool:
        found = self.state_path.is_file()
        if self.distributed:  # every process reads OUT/state.safetensors: all must see the same one
            steps = torch.tensor([read_state_meta(self.state_path)["step"] if found else -1], device=self.device)
            low, high = steps.clone(), steps.clone()
            dist.all_reduce(low, op=dist.ReduceOp.MIN)
            dist.all_reduce(high, op=dist.ReduceOp.MAX)
            if int(low) != int(high):
                raise RuntimeError(
                    f"the processes see different states in {self.state_path} (steps {int(low)} to {int(high)}; -1 "
                    "= none): on several machines --out must be a shared directory, or copy the state to every one"
                )
        if not found:
            return False
        meta = load_state(self.state_path, self.flow, self.ema, self.opt)
        self.step, self.epoch = meta["step"], meta["epoch"]
        was_frozen = bool(meta.get("train_config", {}).get("freeze_audio", False))
        if was_frozen != self.cfg.freeze_audio:
            log.warning(
                "the audio branch was %s and is now %s%s", "frozen" if was_frozen else "trained",
                "frozen" if self.cfg.freeze_audio else "trained",
                ": its AdamW moments start fresh" if was_frozen else "",
            )  # fmt: skip
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
                "teacher": manifest.get("teacher", "espeak"), "loss_weights": self.cfg.resolved_loss_weights}  # fmt: skip
        if self.init_audio is not None:
            info["init_audio"] = dict(self.init_audio, frozen=self.cfg.freeze_audio,
                                      lr_scale=0.0 if self.cfg.freeze_audio else self.cfg.audio_lr_scale)  # fmt: skip
        if self.vocoder_config is None:
            info["griffin_lim_by_design"] = True  # no Vocos weights are available offline
        bundle = OmniTalkerBundle(
            flow=self.ema.module, tokenizer=self.tokenizer, vocoder_config=self.vocoder_config, info=info
        )
        save_bundle(bundle, self.out / "latest.safetensors", overwrite=True)

    # ---- loop -----------------------------------------------------------------------------

    def lr_at(self, step: int) -> float:
        """Linear warm-up, then constant, or from `decay_start` a cosine down to lr * final_lr_scale at max_steps
        (a run trained at constant lr can be resumed with a decay to finish it)."""
        cfg = self.cfg
        lr = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup_steps))
        if cfg.decay_start and step >= cfg.decay_start:
            done = min(1.0, (step - cfg.decay_start) / (cfg.max_steps - cfg.decay_start))
            lr *= cfg.final_lr_scale + (1 - cfg.final_lr_scale) * 0.5 * (1 + math.cos(math.pi * done))
        return lr

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
        self.flow.train()
        bad_steps = 0
        batches = self._batches()
        try:
            while True:
                out_of_time = bool(cfg.max_minutes) and time.monotonic() - start > cfg.max_minutes * 60
                if self._should_stop(out_of_time or self.stop_requested or self.step >= cfg.max_steps):
                    if out_of_time:
                        log.info("time budget of %.1f min reached", cfg.max_minutes)
                    break
                lr = self.lr_at(self.step)
                for group in self.opt.param_groups:
                    group["lr"] = lr * group.get("lr_scale", 1.0)
                self.opt.zero_grad(set_to_none=True)
                loss, parts, frames = self._accumulate([next(batches) for _ in range(cfg.grad_accum)])
                grad_norm = torch.nn.utils.clip_grad_norm_(
                    [p for p in self.flow.parameters() if p.requires_grad], cfg.grad_clip
                )
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
                record = {"step": self.step, "loss": loss, **parts, "lr": self.lr_at(self.step - 1),
                          "grad_norm": float(grad_norm), "sec": round(now - last, 3), "frames": frames}  # fmt: skip
                if len(self.opt.param_groups) > 1:
                    record["lr_audio"] = self.opt.param_groups[1]["lr"]
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

    def close(self) -> None:
        """Destroy the process group this trainer started. Left to the interpreter's exit, gloo's threads are
        torn down in no set order, and a rank sometimes aborted ("terminate called without an active
        exception") after training had finished and saved. The DDP wrapper is dropped first: its reducer holds
        the group, which is then freed here, with its threads, rather than whenever the trainer is."""
        if self._owns_group and dist.is_initialized():
            self.net = self.flow
            dist.destroy_process_group()
        self._owns_group = False

    def _accumulate(self, micro: list[dict]) -> tuple[float, dict[str, float], int]:
        """Forward + backward of one optimizer step's micro-batches; gradients add up in `.grad`.

        Each micro-batch's loss (a mean over its frames) is weighted by its share of the step's frames, so the
        accumulated gradient is that of one batch of all of them (exactly so when every frame is in the loss).
        Under DDP only the last backward synchronises gradients (`no_sync` before). Returns the step's
        frame-weighted loss and loss parts, and its frame count."""
        autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.cfg.bf16 and self.device.type == "cuda")
        frames = [int(b["lengths"].sum()) for b in micro]
        total = max(sum(frames), 1)
        loss, parts = 0.0, {}
        for i, batch in enumerate(micro):
            mel, motion, text, lens = self._to_device(batch)
            last = i == len(micro) - 1
            sync = self.net.no_sync() if self.distributed and not last else contextlib.nullcontext()
            weight = frames[i] / total
            with sync:
                with autocast:
                    out = self.net(mel, motion, text, lens)
                (out.loss * weight).backward()
            loss = loss + out.loss.detach() * weight
            for k, v in out.parts.items():
                parts[k] = parts.get(k, 0.0) + v.detach().float() * weight
        return float(loss), {k: float(v) for k, v in parts.items()}, sum(frames)

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
