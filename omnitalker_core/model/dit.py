"""OmniTalker's dual-branch diffusion transformer (arXiv 2504.02433, Fig. 2).

Text (ConvNeXt-V2 embedding) conditions both branches. The audio branch is F5-TTS's DiT on the
100-bin mel; the visual branch is the same block type on the 61-D motion code, on the same N frames.
The first `fusion_depth` blocks of the two branches exchange information through joint attention;
deeper blocks are independent. Module names of the audio branch mirror F5-TTS so its weights map
one to one (see omnitalker_core/convert.py).

b - batch, n - frames, nt - text tokens, d - width
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .attention import Attention, JointAttentionGate, sdpa
from .config import ModelConfig
from .modules import (
    AdaLayerNorm,
    AdaLayerNormFinal,
    ConvNeXtV2Block,
    ConvPositionEmbedding,
    FeedForward,
    RotaryEmbedding,
    TimestepEmbedding,
    precompute_freqs_cis,
    rotary_cos_sin,
)


class TextEmbedding(nn.Module):
    """Token ids -> per-frame text features. Id 0 is the filler token; ids are shifted by +1 inside
    (F5-TTS convention: callers pass -1 for batch padding, which becomes filler)."""

    def __init__(self, num_embeds: int, dim: int, conv_layers: int, mask_padding: bool = True, max_pos: int = 8192):
        super().__init__()
        self.text_embed = nn.Embedding(num_embeds + 1, dim)
        self.mask_padding = mask_padding
        self.register_buffer("freqs_cis", precompute_freqs_cis(dim, max_pos), persistent=False)
        self.text_blocks = nn.Sequential(*[ConvNeXtV2Block(dim, dim * 2) for _ in range(conv_layers)])

    def forward(self, text: torch.Tensor, seq_len: int, drop_text: torch.Tensor) -> torch.Tensor:
        """text: b nt (ids >= -1), drop_text: b bool -> b n d."""
        text = text + 1
        text = text[:, :seq_len]  # curtail if there are more tokens than frames
        text = F.pad(text, (0, seq_len - text.shape[1]), value=0)
        filler = text == 0
        text = text.masked_fill(drop_text[:, None], 0)  # CFG: drop the text condition
        x = self.text_embed(text)
        if seq_len > self.freqs_cis.shape[0]:
            raise ValueError(f"sequence of {seq_len} frames exceeds the maximum of {self.freqs_cis.shape[0]}")
        if len(self.text_blocks):  # F5 adds absolute positions only when it refines text
            x = x + self.freqs_cis[:seq_len, :]
        keep = ~filler.unsqueeze(-1)
        if self.mask_padding:
            x = x * keep
        for block in self.text_blocks:
            x = block(x)
            if self.mask_padding:
                x = x * keep
        return x


class InputEmbedding(nn.Module):
    """concat(noisy x, masked reference, text) -> projection + convolutional positions."""

    def __init__(self, feat_dim: int, text_dim: int, out_dim: int):
        super().__init__()
        self.proj = nn.Linear(feat_dim * 2 + text_dim, out_dim)
        self.conv_pos_embed = ConvPositionEmbedding(dim=out_dim)

    def forward(self, x, cond, text_embed, mask=None):
        x = self.proj(torch.cat((x, cond, text_embed), dim=-1))
        return self.conv_pos_embed(x, mask=mask) + x


class DiTBlock(nn.Module):
    """AdaLN-Zero transformer block (F5-TTS DiTBlock); `pre`/`post` let fusion swap the attention."""

    def __init__(self, dim: int, heads: int, dim_head: int, ff_mult: float, dropout: float):
        super().__init__()
        self.attn_norm = AdaLayerNorm(dim)
        self.attn = Attention(dim, heads, dim_head, dropout)
        self.ff_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ff = FeedForward(dim, mult=ff_mult, dropout=dropout)

    def pre(self, x, t):
        return self.attn_norm(x, emb=t)

    def post(self, x, attn_output, gate_msa, shift_mlp, scale_mlp, gate_mlp):
        x = x + gate_msa.unsqueeze(1) * attn_output
        norm = self.ff_norm(x) * (1 + scale_mlp[:, None]) + shift_mlp[:, None]
        return x + gate_mlp.unsqueeze(1) * self.ff(norm)

    def forward(self, x, t, mask=None, rope=None, key_mask=None):
        norm, *mods = self.pre(x, t)
        return self.post(x, self.attn(norm, mask=mask, rope=rope, attn_mask=key_mask), *mods)

    # ---- sampling fast path (no masks, no autograd): same maths, fewer and fused ops -------------

    def pre_inference(self, x, t):
        """t: 1 d (the flow time is shared by the whole CFG batch) -> AdaLN-modulated x and 1 1 d mods."""
        emb = self.attn_norm.linear(F.silu(t))[:, None]  # 1 6d -> 1 1 6d
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = emb.chunk(6, dim=-1)
        norm = torch.addcmul(shift_msa, self.attn_norm.norm(x), 1 + scale_msa)
        return norm, (gate_msa, shift_mlp, scale_mlp, gate_mlp)

    def post_inference(self, x, attn_output, mods):
        gate_msa, shift_mlp, scale_mlp, gate_mlp = mods
        x = torch.addcmul(x, gate_msa, attn_output)
        norm = torch.addcmul(shift_mlp, self.ff_norm(x), 1 + scale_mlp)
        return torch.addcmul(x, gate_mlp, self.ff(norm))

    def forward_inference(self, x, t, rope_cs):
        norm, mods = self.pre_inference(x, t)
        q, k, v = self.attn.qkv_inference(norm, *rope_cs)
        return self.post_inference(x, self.attn.out(sdpa(q, k, v, None), None), mods)


class Branch(nn.Module):
    """One modality: input embedding, a stack of blocks, AdaLN-final and output projection."""

    def __init__(self, feat_dim: int, width: int, depth: int, cfg: ModelConfig):
        super().__init__()
        self.time_embed = TimestepEmbedding(width)
        self.input_embed = InputEmbedding(feat_dim, cfg.text_dim, width)
        self.blocks = nn.ModuleList(
            [DiTBlock(width, cfg.heads, cfg.dim_head, cfg.ff_mult, cfg.dropout) for _ in range(depth)]
        )
        self.norm_out = AdaLayerNormFinal(width)
        self.proj_out = nn.Linear(width, feat_dim)
        for block in self.blocks:  # AdaLN-Zero: every block starts as the identity
            nn.init.zeros_(block.attn_norm.linear.weight)
            nn.init.zeros_(block.attn_norm.linear.bias)
        for layer in (self.norm_out.linear, self.proj_out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)


@dataclass
class Conditions:
    """Per-sample condition switches (True = dropped), so cond and uncond run in one batch for CFG."""

    drop_audio: torch.Tensor  # b bool: reference mel zeroed
    drop_motion: torch.Tensor  # b bool: reference motion zeroed
    drop_text: torch.Tensor  # b bool: text replaced by filler

    @classmethod
    def keep_all(cls, batch: int, device) -> Conditions:
        z = torch.zeros(batch, dtype=torch.bool, device=device)
        return cls(z, z.clone(), z.clone())


@dataclass
class SamplingContext:
    """Per-sampling-call constants (see `OmniTalkerDiT.prepare_sampling`)."""

    audio_base: torch.Tensor  # B n d: reference-mel and text part of the audio input projection, + bias
    motion_base: torch.Tensor | None  # B n d, or None: visual branch skipped (voice only, audio gates 0)
    rope: tuple[torch.Tensor, torch.Tensor]  # rotary cos and signed sin, n dh
    audio_closed: list[bool]  # per fusion block: every audio gate is 0 (self-attention only)
    motion_open: list[bool]  # every motion gate is 1 (joint attention only)
    motion_closed: list[bool]  # every motion gate is 0

    def conditional(self, b: int) -> SamplingContext:
        """The context of the conditional half only (the first b rows of a CFG batch): unguided steps."""
        return replace(
            self,
            audio_base=self.audio_base[:b],
            motion_base=None if self.motion_base is None else self.motion_base[:b],
        )


def _input_base(embed: InputEmbedding, cond: torch.Tensor, text_embed: torch.Tensor) -> torch.Tensor:
    """The step-invariant part of proj(concat(x, cond, text)) = W_x x + (W_c cond + W_t text + bias)."""
    f = cond.shape[-1]
    w = embed.proj.weight
    return F.linear(cond, w[:, f : 2 * f]) + F.linear(text_embed, w[:, 2 * f :], embed.proj.bias)


def _embed_step(embed: InputEmbedding, x: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """x: b n f (shared by the CFG halves) -> B n d input embedding, B = reps * b."""
    b, n, f = x.shape
    proj = F.linear(x, embed.proj.weight[:, :f])  # b n d, once for all CFG halves
    h = (base.view(-1, b, n, base.shape[-1]) + proj).view(base.shape)  # (reps b) n d
    return embed.conv_pos_embed(h) + h


def _gated(g, q, k_self, v_self, k_joint, v_joint, closed: bool, open_: bool) -> torch.Tensor:
    """self + g * (joint - self), without the attention its gate ignores."""
    if closed:
        return sdpa(q, k_self, v_self, None)
    joint = sdpa(q, k_joint, v_joint, None)
    if open_:
        return joint
    own = sdpa(q, k_self, v_self, None)
    return own + g.view(1, -1, 1, 1).to(q.dtype) * (joint - own)


class OmniTalkerDiT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.text_embed = TextEmbedding(cfg.text_num_embeds, cfg.text_dim, cfg.conv_layers, cfg.text_mask_padding)
        self.rotary_embed = RotaryEmbedding(cfg.dim_head)
        self.audio = Branch(cfg.mel_dim, cfg.dim, cfg.depth, cfg)
        self.motion = Branch(cfg.motion_dim, cfg.motion_width, cfg.motion_depth, cfg)
        n_fused = cfg.fusion_depth if cfg.fusion == "joint" else 0
        self.fusion = nn.ModuleList(
            [JointAttentionGate(cfg.heads, cfg.audio_gate_init, cfg.motion_gate_init) for _ in range(n_fused)]
        )

    def embed_text(self, text: torch.Tensor, seq_len: int, cond: Conditions) -> torch.Tensor:
        return self.text_embed(text, seq_len, cond.drop_text)

    def forward(
        self,
        mel: torch.Tensor,  # b n 100, noisy mel x_t
        mel_cond: torch.Tensor,  # b n 100, reference mel, zero on the infill span
        motion: torch.Tensor,  # b n 61, noisy motion x_t (normalised)
        motion_cond: torch.Tensor,  # b n 61, reference motion, zero on the infill span
        text: torch.Tensor,  # b nt ids, or b n frame-aligned ids
        time: torch.Tensor,  # b or scalar, flow time in [0, 1]
        cond: Conditions,
        mask: torch.Tensor | None = None,  # b n, True on valid frames
        text_embed: torch.Tensor | None = None,  # precomputed embed_text(...) (sampling reuses it)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, n = mel.shape[:2]
        if time.ndim == 0:
            time = time.repeat(b)
        if text_embed is None:
            text_embed = self.embed_text(text, n, cond)
        mel_cond = mel_cond.masked_fill(cond.drop_audio[:, None, None], 0.0)
        motion_cond = motion_cond.masked_fill((cond.drop_audio | cond.drop_motion)[:, None, None], 0.0)

        a, m = self.audio, self.motion
        ta, tm = a.time_embed(time), m.time_embed(time)
        xa = a.input_embed(mel, mel_cond, text_embed, mask)
        xm = m.input_embed(motion, motion_cond, text_embed, mask)
        rope = self.rotary_embed(n)
        key_mask = mask if (mask is not None and self.cfg.attn_mask) else None

        for i, gate in enumerate(self.fusion):  # shallow layers: joint audio-visual attention
            ba, bm = a.blocks[i], m.blocks[i]
            norm_a, *mods_a = ba.pre(xa, ta)
            norm_m, *mods_m = bm.pre(xm, tm)
            oa, om = gate(ba.attn, bm.attn, norm_a, norm_m, rope, key_mask)
            xa = ba.post(xa, ba.attn.out(oa, mask), *mods_a)
            xm = bm.post(xm, bm.attn.out(om, mask), *mods_m)
        k = len(self.fusion)
        for block in a.blocks[k:]:  # deeper layers: each modality on its own
            xa = block(xa, ta, mask=mask, rope=rope, key_mask=key_mask)
        for block in m.blocks[k:]:
            xm = block(xm, tm, mask=mask, rope=rope, key_mask=key_mask)

        return a.proj_out(a.norm_out(xa, ta)), m.proj_out(m.norm_out(xm, tm))

    # ---- sampling fast path -------------------------------------------------------------------
    # `forward` is the reference (training) computation; these compute the same function for ODE
    # sampling with the per-call constants hoisted out of the step loop: text embedding, the
    # reference/text part of each input projection, rotary tables; the flow time embedded once for
    # the whole CFG batch; joint-attention terms skipped where their gate is exactly 0 (or 1).
    # tests/test_model.py checks it against `forward`, tests/test_parity_f5.py against f5-tts.

    def prepare_sampling(self, mel_cond, motion_cond, text_embed, cond: Conditions, audio_only=False):
        """mel_cond / motion_cond / text_embed: B n d for the whole CFG batch (B = reps * b)."""
        n = mel_cond.shape[1]
        mel_cond = mel_cond.masked_fill(cond.drop_audio[:, None, None], 0.0)
        motion_cond = motion_cond.masked_fill((cond.drop_audio | cond.drop_motion)[:, None, None], 0.0)
        closed = [not bool(g.audio.any()) for g in self.fusion]
        motion_on = not (audio_only and all(closed))
        return SamplingContext(
            audio_base=_input_base(self.audio.input_embed, mel_cond, text_embed),
            motion_base=_input_base(self.motion.input_embed, motion_cond, text_embed) if motion_on else None,
            rope=tuple(r.to(mel_cond.dtype) for r in rotary_cos_sin(self.rotary_embed(n))),  # float32 phases
            audio_closed=closed,
            motion_open=[bool((g.motion == 1).all()) for g in self.fusion],
            motion_closed=[not bool(g.motion.any()) for g in self.fusion],
        )

    def sample_step(self, ctx: SamplingContext, mel, motion, time) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One velocity evaluation. mel: b n 100, motion: b n 61 (or None when ctx skips the visual
        branch), time: scalar. Returns B n 100 and B n 61 predictions for the whole CFG batch."""
        a, m = self.audio, self.motion
        time = time.reshape(1)
        ta = a.time_embed(time)
        xa = _embed_step(a.input_embed, mel, ctx.audio_base)
        if ctx.motion_base is None:
            for block in a.blocks:
                xa = block.forward_inference(xa, ta, ctx.rope)
            return a.proj_out(a.norm_out(xa, ta)), None
        tm = m.time_embed(time)
        xm = _embed_step(m.input_embed, motion, ctx.motion_base)
        for i, gate in enumerate(self.fusion):
            ba, bm = a.blocks[i], m.blocks[i]
            norm_a, mods_a = ba.pre_inference(xa, ta)
            norm_m, mods_m = bm.pre_inference(xm, tm)
            qa, ka, va = ba.attn.qkv_inference(norm_a, *ctx.rope)
            qm, km, vm = bm.attn.qkv_inference(norm_m, *ctx.rope)
            k = v = None
            if not (ctx.audio_closed[i] and ctx.motion_closed[i]):
                k, v = torch.cat((ka, km), dim=2), torch.cat((va, vm), dim=2)  # b h (n + n) dh
            oa = _gated(gate.audio, qa, ka, va, k, v, ctx.audio_closed[i], False)
            om = _gated(gate.motion, qm, km, vm, k, v, ctx.motion_closed[i], ctx.motion_open[i])
            xa = ba.post_inference(xa, ba.attn.out(oa, None), mods_a)
            xm = bm.post_inference(xm, bm.attn.out(om, None), mods_m)
        k = len(self.fusion)
        for block in a.blocks[k:]:
            xa = block.forward_inference(xa, ta, ctx.rope)
        for block in m.blocks[k:]:
            xm = block.forward_inference(xm, tm, ctx.rope)
        return a.proj_out(a.norm_out(xa, ta)), m.proj_out(m.norm_out(xm, tm))


__all__ = ["OmniTalkerDiT", "Conditions", "SamplingContext", "TextEmbedding", "DiTBlock", "sdpa"]
