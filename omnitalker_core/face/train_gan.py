"""Training loop of the GAN renderer on video clips (frames + tracked codes); resumable.

Losses (no downloaded weights, so no VGG perceptual loss): multi-scale L1 (full, 1/2, 1/4
resolution), discriminator feature matching (pix2pixHD), hinge adversarial loss. The reference
frame of a clip is its first frame; the geometric renderer is fitted to it once and its outputs
are cached, since it has no trainable part.

Checkpoints: `state.pt` in the run directory (weights + optimiser states + step, loaded with
`weights_only=True`, no pickled code) for resuming; `generator.safetensors` (config in the
metadata) for inference.

Shape legend: f - frames, b - batch, h w - image.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .render_gan import GanConfig, Generator, PatchDiscriminator, save_generator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000  # total optimisation steps (a resumed run continues up to this)
    batch: int = 4  # frames per step
    lr_g: float = 2e-4  # generator Adam learning rate
    lr_d: float = 2e-4  # discriminator Adam learning rate
    w_l1: float = 10.0  # multi-scale L1 weight
    w_fm: float = 2.0  # feature-matching weight
    w_adv: float = 0.1  # adversarial (hinge) weight
    adv_start: int = 0  # step at which the adversarial terms switch on
    save_every: int = 200  # steps between checkpoints
    seed: int = 0

    def __post_init__(self) -> None:
        if self.batch < 1 or self.steps < 0:
            raise ValueError(f"TrainConfig: batch must be >= 1 and steps >= 0, got {self.batch}, {self.steps}")


@dataclass
class ClipData:
    """Cached training tensors of one clip at the generator's size."""

    target: torch.Tensor  # f 3 h w, 0..1
    geometric: torch.Tensor  # f 3 h w
    warp: torch.Tensor  # f 2 h w
    codes: torch.Tensor  # f 61
    reference: torch.Tensor  # 1 3 h w


@dataclass
class TrainLog:
    step: int  # the step reached (and saved)
    losses: list[dict] = field(default_factory=list)
    start_step: int = 0  # the step the run resumed from (0 for a fresh run)
    interrupted: bool = False  # stopped by Ctrl-C (KeyboardInterrupt); the state was saved


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR (dB) between images in 0..1."""
    mse = float(F.mse_loss(a.float(), b.float()))
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def prepare_clip(
    frames: np.ndarray, codes: np.ndarray, size: int, reference_index: int = 0, landmarks: np.ndarray | None = None
) -> ClipData:
    """Frames uint8 [f, H, W, 3] + codes [f, 61] -> cached tensors at size x size.

    landmarks: the reference frame's landmarks [478, 3] at `size` (skips detection, e.g. taken from
    the tracker); without them the face is detected in the full-resolution reference frame."""
    from .opencv import cv2
    from .render_gan import landmarks_at
    from .render_geometric import GeometricRenderer, fit_portrait

    frames = np.asarray(frames)
    codes = np.asarray(codes, np.float32)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) != len(codes):
        raise ValueError(
            f"prepare_clip: need frames [F, H, W, 3] and codes [F, 61] with equal F, got {frames.shape} and {codes.shape}"
        )
    if landmarks is None:
        ref = frames[reference_index]
        landmarks = landmarks_at(fit_portrait(ref)[0], ref.shape[:2], size)
    small = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])
    geo = GeometricRenderer(small[reference_index], base_codes=codes[reference_index], landmarks=landmarks)
    g, w = [], []
    for i in range(0, len(codes), 16):
        a, b = geo.render_with_flow(codes[i : i + 16])
        g.append(a)
        w.append(b)
    target = torch.from_numpy(small).permute(0, 3, 1, 2).float() / 255.0
    return ClipData(target, torch.cat(g), torch.cat(w), torch.from_numpy(codes), geo.image)


def _multiscale_l1(a: torch.Tensor, b: torch.Tensor, scales: int = 3) -> torch.Tensor:
    loss = a.new_zeros(())
    for s in range(scales):
        if s:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        loss = loss + F.l1_loss(a, b)
    return loss / scales


def train_gan(
    clips: list[ClipData],
    run_dir: str | Path,
    cfg: GanConfig = GanConfig(),
    tcfg: TrainConfig = TrainConfig(),
    device: str = "cpu",
) -> TrainLog:
    """Train (or resume, if run_dir/state.pt exists) the GAN renderer on cached clips.

    Ctrl-C (KeyboardInterrupt) stops at the current step and saves, so the run resumes from there."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(tcfg.seed)
    gen, disc = Generator(cfg).to(device), PatchDiscriminator(cfg).to(device)
    opt_g = torch.optim.Adam(gen.parameters(), lr=tcfg.lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=tcfg.lr_d, betas=(0.5, 0.999))
    state_path = run_dir / "state.pt"
    step = 0
    if state_path.is_file():
        st = torch.load(state_path, map_location=device, weights_only=True)
        if st["config"] != list(vars(cfg).values()):
            raise ValueError(
                f"{state_path} was trained with config {st['config']}, not {list(vars(cfg).values())}; use a new run directory"
            )
        gen.load_state_dict(st["gen"])
        disc.load_state_dict(st["disc"])
        opt_g.load_state_dict(st["opt_g"])
        opt_d.load_state_dict(st["opt_d"])
        step = int(st["step"])
        log.info("resumed %s at step %d", run_dir, step)
    sizes = [len(c.codes) for c in clips]
    if not clips or min(sizes) == 0:
        raise ValueError("train_gan: need at least one clip with frames")
    if any(c.target.shape[-1] != cfg.size for c in clips):
        raise ValueError(f"train_gan: clips must be prepared at size {cfg.size}")
    rng = np.random.default_rng(tcfg.seed + step)
    out = TrainLog(step, start_step=step)
    t0 = time.perf_counter()

    def save() -> None:  # temp files renamed into place: a second Ctrl-C cannot leave a broken run
        state = {
            "gen": gen.state_dict(),
            "disc": disc.state_dict(),
            "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(),
            "step": step,
            "config": list(vars(cfg).values()),
        }
        torch.save(state, state_path.with_name(state_path.name + ".tmp"))
        save_generator(run_dir / "generator.safetensors.tmp", gen, {"step": step})
        os.replace(state_path.with_name(state_path.name + ".tmp"), state_path)
        os.replace(run_dir / "generator.safetensors.tmp", run_dir / "generator.safetensors")

    try:
        while step < tcfg.steps:
            ci = int(rng.integers(len(clips)))
            clip = clips[ci]
            idx = torch.from_numpy(rng.integers(0, len(clip.codes), tcfg.batch))
            tgt, geo, warp, codes = (x[idx].to(device) for x in (clip.target, clip.geometric, clip.warp, clip.codes))
            ref = clip.reference.to(device).expand(len(idx), -1, -1, -1)
            fake = gen(geo, ref, warp, codes)
            adv_on = step >= tcfg.adv_start and tcfg.w_adv > 0
            # discriminator: hinge loss
            loss_d = torch.zeros((), device=device)
            if adv_on:
                real_logit, _ = disc(tgt, geo)
                fake_logit, _ = disc(fake.detach(), geo)
                loss_d = F.relu(1 - real_logit).mean() + F.relu(1 + fake_logit).mean()
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
            # generator
            l1 = _multiscale_l1(fake, tgt)
            loss_g = tcfg.w_l1 * l1
            fm = adv = torch.zeros((), device=device)
            if adv_on:
                fake_logit, fake_feats = disc(fake, geo)
                with torch.no_grad():
                    _, real_feats = disc(tgt, geo)
                fm = sum(F.l1_loss(a, b) for a, b in zip(fake_feats, real_feats)) / len(fake_feats)
                adv = -fake_logit.mean()
                loss_g = loss_g + tcfg.w_fm * fm + tcfg.w_adv * adv
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            step += 1
            if step % 20 == 0 or step == tcfg.steps:
                rec = {
                    "step": step,
                    "l1": l1.item(),
                    "fm": float(fm.detach()),
                    "adv": float(adv.detach()),
                    "d": float(loss_d.detach()),
                    "s": time.perf_counter() - t0,
                }
                out.losses.append(rec)
                log.info("gan step %(step)d l1 %(l1).4f fm %(fm).4f adv %(adv).3f d %(d).3f (%(s).0f s)", rec)
            if step % tcfg.save_every == 0:
                save()
    except KeyboardInterrupt:
        out.interrupted = True
        log.warning("interrupted at step %d; saving %s", step, run_dir)
    save()
    out.step = step
    return out


@torch.inference_mode()
def evaluate(gen: Generator, clip: ClipData, batch: int = 8) -> dict[str, float]:
    """PSNR of the generator and of the geometric renderer alone against the clip's frames."""
    gen.eval()
    outs = []
    for i in range(0, len(clip.codes), batch):
        sl = slice(i, i + batch)
        n = len(clip.codes[sl])
        outs.append(gen(clip.geometric[sl], clip.reference.expand(n, -1, -1, -1), clip.warp[sl], clip.codes[sl]))
    gen.train()
    fake = torch.cat(outs)
    return {"psnr_gan": psnr(fake, clip.target), "psnr_geometric": psnr(clip.geometric, clip.target)}
