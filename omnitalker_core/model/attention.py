"""Self-attention (F5-TTS DiT) and the paper's audio-visual joint attention (MM-DiT style).

Joint attention (OmniTalker fusion block): each branch has its own to_q/to_k/to_v; audio and motion
tokens are concatenated into one attention; each branch has its own output projection. Both
branches live on the same N frames and use the same rotary positions, so frame i of audio and
frame i of motion are neighbours in attention.

To let an audio branch loaded from F5-TTS start *exactly* as F5-TTS, a branch's joint output is
blended with its self-attention output by a learnable per-head gate g:
    out = self_attn + g * (joint_attn - self_attn)
g = 0 is F5-TTS, g = 1 is pure joint attention; g is trained (gradient is joint - self, non-zero).

b - batch, n - frames, h - heads, dh - head width
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .modules import apply_rotary, apply_rotary_cos_sin

FUSE_QKV_MAX = 512 * 512  # fuse to_q/to_k/to_v at inference below this weight size (per-call overhead
# dominates small layers; a fused copy of large layers would cost memory and gain nothing measurable)


class Attention(nn.Module):
    """Projections of one branch. `attend` is split into `qkv` / `out` so fusion can mix branches."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float = 0.0):
        super().__init__()
        self.heads, self.dim_head = heads, dim_head
        inner_dim = heads * dim_head
        self.to_q = nn.Linear(dim, inner_dim)
        self.to_k = nn.Linear(dim, inner_dim)
        self.to_v = nn.Linear(dim, inner_dim)
        self.to_out = nn.ModuleList([nn.Linear(inner_dim, dim), nn.Dropout(dropout)])

    def qkv(self, x: torch.Tensor, rope: torch.Tensor | None):
        b = x.shape[0]
        q, k, v = (
            proj(x).view(b, -1, self.heads, self.dim_head).transpose(1, 2)  # b n (h dh) -> b h n dh
            for proj in (self.to_q, self.to_k, self.to_v)
        )
        if rope is not None:
            q, k = apply_rotary(q, rope), apply_rotary(k, rope)
        return q, k, v

    def _fused_qkv(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Concatenated q/k/v weights, rebuilt whenever a weight changes (training step, load, .to)."""
        params = (self.to_q.weight, self.to_k.weight, self.to_v.weight, self.to_q.bias, self.to_k.bias, self.to_v.bias)
        key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in params)
        cache = self.__dict__.get("_qkv_cache")
        if cache is None or cache[0] != key:
            with torch.no_grad():
                cache = (key, torch.cat(params[:3]), torch.cat(params[3:]))
            self.__dict__["_qkv_cache"] = cache
        return cache[1], cache[2]

    def qkv_inference(self, x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor):
        """`qkv` for sampling (no autograd): rotary tables precomputed once per call (see
        `rotary_cos_sin`), q/k/v from one matmul for small layers. x: b n d -> q, k, v: b h n dh."""
        b, n, _ = x.shape
        h, dh = self.heads, self.dim_head
        if self.to_q.weight.numel() <= FUSE_QKV_MAX:
            w, bias = self._fused_qkv()
            qkv = F.linear(x, w, bias).view(b, n, 3, h, dh)
            qk = apply_rotary_cos_sin(qkv[:, :, :2], cos[:, None, None], signed_sin[:, None, None])  # b n 2 h dh
            q, k, v = qk[:, :, 0], qk[:, :, 1], qkv[:, :, 2]
        else:
            cos, signed_sin = cos[:, None], signed_sin[:, None]
            q = apply_rotary_cos_sin(self.to_q(x).view(b, n, h, dh), cos, signed_sin)
            k = apply_rotary_cos_sin(self.to_k(x).view(b, n, h, dh), cos, signed_sin)
            v = self.to_v(x).view(b, n, h, dh)
        return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # b n h dh -> b h n dh

    def out(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = x.transpose(1, 2).flatten(2)  # b h n dh -> b n (h dh)
        x = self.to_out[1](self.to_out[0](x))
        if mask is not None:
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        return x

    def forward(self, x, mask=None, rope=None, attn_mask=None):
        q, k, v = self.qkv(x, rope)
        return self.out(sdpa(q, k, v, attn_mask), mask)


def sdpa(q, k, v, key_mask: torch.Tensor | None) -> torch.Tensor:
    """key_mask: b n_keys, True = attend."""
    attn_mask = None if key_mask is None else key_mask[:, None, None, :]
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)


class JointAttentionGate(nn.Module):
    """Per-head blend between self- and joint attention for both branches (see module docstring)."""

    def __init__(self, heads: int, audio_init: float, motion_init: float):
        super().__init__()
        self.audio = nn.Parameter(torch.full((heads,), float(audio_init)))
        self.motion = nn.Parameter(torch.full((heads,), float(motion_init)))

    def forward(self, audio_attn: Attention, motion_attn: Attention, xa, xm, rope, key_mask):
        """xa: b n da, xm: b n dm (already AdaLN-modulated). Returns the two attention outputs (pre-projection)."""
        qa, ka, va = audio_attn.qkv(xa, rope)
        qm, km, vm = motion_attn.qkv(xm, rope)
        k = torch.cat((ka, km), dim=2)  # b h (n + n) dh
        v = torch.cat((va, vm), dim=2)
        joint_mask = None if key_mask is None else torch.cat((key_mask, key_mask), dim=1)
        joint_a, joint_m = sdpa(qa, k, v, joint_mask), sdpa(qm, k, v, joint_mask)
        self_a = sdpa(qa, ka, va, key_mask)
        self_m = sdpa(qm, km, vm, key_mask)
        ga = self.audio.view(1, -1, 1, 1).to(xa.dtype)
        gm = self.motion.view(1, -1, 1, 1).to(xm.dtype)
        return self_a + ga * (joint_a - self_a), self_m + gm * (joint_m - self_m)
