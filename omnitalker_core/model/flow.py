"""Conditional flow matching with in-context masked infilling (Voicebox / F5-TTS `CFM`), extended to
the joint audio + motion sequence of OmniTalker: a random span of both streams is masked and
generated from the rest plus text; style is carried by the unmasked reference, no style encoder.

The network (`OmniTalkerDiT`) knows nothing about losses; this module owns the objective and the
ODE sampler (Euler, sway sampling, optional EPSS time grid, batched multi-modal CFG).

b - batch, n - frames, d - features (100 mel / 61 motion)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import motion as motion_code
from .config import FlowConfig, ModelConfig
from .dit import Conditions, OmniTalkerDiT

MIN_MOTION_STD = 1e-3  # floor of the per-channel motion std (raw code units): a channel at it never moved
REF_Z_MAX = 4.0  # reference motion beyond this many training stds is clipped in the condition

# F5-TTS "Empirically Pruned Step Sampling" grids, in 1/32 units.
EPSS_GRIDS = {
    5: [0, 2, 4, 8, 16, 32],
    6: [0, 2, 4, 6, 8, 16, 32],
    7: [0, 2, 4, 6, 8, 16, 24, 32],
    10: [0, 2, 4, 6, 8, 12, 16, 20, 24, 28, 32],
    12: [0, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32],
    16: [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32],
}


def time_grid(steps: int, sway: float | None, epss: bool, device=None, dtype=torch.float32) -> torch.Tensor:
    """steps + 1 times from 0 to 1; sway < 0 spends more steps near t = 0 (F5-TTS sway sampling)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if epss and steps in EPSS_GRIDS:
        t = torch.tensor(EPSS_GRIDS[steps], device=device, dtype=dtype) / 32
    else:
        t = torch.linspace(0, 1, steps + 1, device=device, dtype=dtype)
    if sway is not None:
        t = t + sway * (torch.cos(torch.pi / 2 * t) - 1 + t)
    return t


def lens_to_mask(lens: torch.Tensor, length: int | None = None) -> torch.Tensor:
    length = int(lens.amax()) if length is None else length
    return torch.arange(length, device=lens.device)[None, :] < lens[:, None]


def random_span_mask(lens: torch.Tensor, frac_range: tuple[float, float], generator=None) -> torch.Tensor:
    """One contiguous span per sample covering a random fraction of its frames (F5 mask_from_frac_lengths)."""
    b = lens.shape[0]
    frac = torch.empty(b, device=lens.device).uniform_(*frac_range, generator=generator)
    span = (frac * lens).long()
    start = ((lens - span) * torch.rand(b, device=lens.device, generator=generator)).long().clamp(min=0)
    seq = torch.arange(int(lens.amax()), device=lens.device)[None, :]
    return (seq >= start[:, None]) & (seq < (start + span)[:, None])


@dataclass
class LossOutput:
    loss: torch.Tensor  # weighted total
    parts: dict[str, torch.Tensor]  # unweighted per part: mel, expression, pose, gaze


@dataclass
class SampleOutput:
    mel: torch.Tensor  # b n 100, reference frames copied from the condition
    motion: torch.Tensor | None  # b n 61, raw (de-normalised) codes at the mel frame rate; None: audio_only


class FlowMatching(nn.Module):
    def __init__(self, model_cfg: ModelConfig, flow_cfg: FlowConfig | None = None):
        super().__init__()
        self.model_cfg, self.flow_cfg = model_cfg, flow_cfg or FlowConfig()
        self.transformer = OmniTalkerDiT(model_cfg)
        # Motion channels have very different scales (blendshapes 0..1, angles in radians):
        # the model works on standardised codes; the stats are fit on training data and saved.
        self.register_buffer("motion_mean", torch.zeros(model_cfg.motion_dim))
        self.register_buffer("motion_std", torch.ones(model_cfg.motion_dim))

    @property
    def device(self) -> torch.device:
        return self.motion_mean.device

    @property
    def dtype(self) -> torch.dtype:
        """The network's weight precision; motion stats and the ODE state stay float32 (`sample`)."""
        return self.transformer.audio.proj_out.weight.dtype

    def normalize_motion(self, m: torch.Tensor) -> torch.Tensor:
        return (m - self.motion_mean) / self.motion_std

    def denormalize_motion(self, m: torch.Tensor) -> torch.Tensor:
        return m * self.motion_std + self.motion_mean

    def set_motion_stats(self, mean: torch.Tensor, std: torch.Tensor, min_std: float = MIN_MOTION_STD) -> None:
        self.motion_mean.copy_(mean)
        self.motion_std.copy_(std.clamp(min=min_std))

    def reference_motion_condition(self, ref_motion: torch.Tensor) -> torch.Tensor:
        """Normalised reference codes, limited to what training showed the model.

        A channel the training data never moved (std at the floor, e.g. jawLeft in the synthetic corpus)
        would turn a real face's small value into a z-score in the hundreds, and an extreme reference puts
        the context far outside training; both made the first generated frames jump (jaw, lids and lips
        saturated). Such channels read as their training mean, the others are clipped to +-REF_Z_MAX."""
        z = self.normalize_motion(ref_motion)
        seen = self.motion_std > 1.5 * MIN_MOTION_STD
        return torch.where(seen, z.clamp(-REF_Z_MAX, REF_Z_MAX), torch.zeros_like(z))

    # ---- training ---------------------------------------------------------------------------

    def forward(self, mel: torch.Tensor, motion: torch.Tensor, text: torch.Tensor, lens: torch.Tensor) -> LossOutput:
        """mel: b n 100 (log-mel), motion: b n 61 (raw codes), text: b nt ids (-1 = pad), lens: b."""
        b, n, _ = mel.shape
        cfg, device = self.flow_cfg, mel.device
        mask = lens_to_mask(lens, n)
        span = random_span_mask(lens, cfg.frac_lengths_mask) & mask  # frames to generate

        x1_a, x1_m = mel, self.normalize_motion(motion)
        x0_a, x0_m = torch.randn_like(x1_a), torch.randn_like(x1_m)
        t = torch.rand(b, device=device, dtype=mel.dtype)
        tt = t[:, None, None]
        xt_a, xt_m = (1 - tt) * x0_a + tt * x1_a, (1 - tt) * x0_m + tt * x1_m
        cond_a = x1_a.masked_fill(span[..., None], 0.0)
        cond_m = x1_m.masked_fill(span[..., None], 0.0)

        uncond = torch.rand(b, device=device) < cfg.cond_drop_prob  # p_uncond: drop everything
        drop_audio = (torch.rand(b, device=device) < cfg.audio_drop_prob) | uncond
        drop_motion = (torch.rand(b, device=device) < cfg.motion_drop_prob) | drop_audio
        conds = Conditions(drop_audio=drop_audio, drop_motion=drop_motion, drop_text=uncond)

        pred_a, pred_m = self.transformer(xt_a, cond_a, xt_m, cond_m, text, t, conds, mask=mask)

        w = span.float()[..., None]
        denom = span.sum().clamp(min=1)
        err_a = F.mse_loss(pred_a, x1_a - x0_a, reduction="none")
        err_m = F.mse_loss(pred_m, x1_m - x0_m, reduction="none")
        parts = {"mel": (err_a * w).sum() / (denom * err_a.shape[-1])}
        for name, sl in motion_code.channel_groups().items():
            part = err_m[..., sl]
            parts[name] = (part * w).sum() / (denom * part.shape[-1])
        loss = sum(cfg.loss_weights[k] * v for k, v in parts.items())
        return LossOutput(loss=loss, parts={k: v.detach() for k, v in parts.items()})

    # ---- inference --------------------------------------------------------------------------

    @torch.inference_mode()
    def sample(
        self,
        ref_mel: torch.Tensor,  # b n_ref 100
        text: torch.Tensor,  # b nt ids (or b n frame-aligned ids)
        duration: int,  # total frames N = reference + target
        *,
        ref_motion: torch.Tensor | None = None,  # b n_ref 61 raw codes; None = voice only
        steps: int = 16,
        cfg_audio: float = 2.0,
        cfg_motion: float = 2.5,
        sway: float | None = -1.0,
        epss: bool = True,
        cfg_stop: float = 1.0,  # guidance only on steps starting before this flow time (1 = every step)
        seed: int | None = None,
        noise: tuple[torch.Tensor, torch.Tensor] | None = None,  # (b N 100, b N 61) initial x0
        callback: Callable[[int, int], None] | None = None,
        audio_only: bool = False,  # voice only: skip the visual branch where that is exact (audio gates zero)
    ) -> SampleOutput:
        b, n_ref, _ = ref_mel.shape
        if duration <= n_ref:
            raise ValueError(f"duration ({duration} frames) must exceed the reference ({n_ref} frames)")
        # The ODE state, conditions and guidance arithmetic are float32; only the network runs in its own
        # precision (bfloat16 on CPUs with AMX, float16 on GPUs), so Euler steps do not accumulate rounding.
        device, dtype, net = self.device, torch.float32, self.dtype
        ref_mel = ref_mel.to(device, dtype)
        cond_a = F.pad(ref_mel, (0, 0, 0, duration - n_ref))
        has_motion = ref_motion is not None
        if has_motion:
            cond_m = F.pad(self.reference_motion_condition(ref_motion.to(device, dtype)), (0, 0, 0, duration - n_ref))
        else:
            cond_m = torch.zeros(b, duration, self.model_cfg.motion_dim, device=device, dtype=dtype)
        ref_mask = (torch.arange(duration, device=device) < n_ref)[None, :, None]
        cond_a = cond_a * ref_mask
        cond_m = cond_m * ref_mask

        if noise is None:
            g = torch.Generator().manual_seed(seed) if seed is not None else None
            noise = (
                torch.randn(b, duration, self.model_cfg.mel_dim, generator=g),
                torch.randn(b, duration, self.model_cfg.motion_dim, generator=g),
            )
        x_a, x_m = noise[0].to(device, dtype), noise[1].to(device, dtype)

        guided = max(cfg_audio, cfg_motion) >= 1e-5
        reps = 2 if guided else 1
        flags = torch.tensor([False, True][:reps], device=device).repeat_interleave(b)
        conds = Conditions(drop_audio=flags, drop_motion=flags | (not has_motion), drop_text=flags)
        text = text.to(device).repeat(reps, 1)
        cond_a2, cond_m2 = cond_a.repeat(reps, 1, 1), cond_m.repeat(reps, 1, 1)
        text_embed = self.transformer.embed_text(text, duration, conds)  # fixed across steps
        ctx = self.transformer.prepare_sampling(
            cond_a2.to(net), cond_m2.to(net), text_embed, conds, audio_only=audio_only
        )
        skip_motion = ctx.motion_base is None  # voice only, and the audio branch ignores motion: exact

        t = time_grid(steps, sway, epss, device=device, dtype=dtype)
        unguided_ctx = ctx.conditional(b) if guided and cfg_stop < 1.0 else ctx
        for i in range(steps):
            guide = guided and float(t[i]) < cfg_stop  # late steps refine detail; guidance matters early
            step_ctx = ctx if guide or not guided else unguided_ctx
            pa, pm = self.transformer.sample_step(step_ctx, x_a.to(net), None if skip_motion else x_m.to(net), t[i])
            pa, pm = pa.float(), None if pm is None else pm.float()
            if guide:
                pa, na = pa.chunk(2)
                pa = pa + (pa - na) * cfg_audio
                if pm is not None:
                    pm, nm = pm.chunk(2)
                    pm = pm + (pm - nm) * cfg_motion
            dt = t[i + 1] - t[i]
            x_a = x_a + dt * pa
            if pm is not None:
                x_m = x_m + dt * pm
            if callback is not None:
                callback(i + 1, steps)

        mel = torch.where(ref_mask, cond_a, x_a)
        if skip_motion:
            return SampleOutput(mel=mel, motion=None)
        motion = self.denormalize_motion(torch.where(ref_mask, cond_m, x_m) if has_motion else x_m)
        return SampleOutput(mel=mel, motion=motion)
