"""Building blocks of the DiT, numerically identical to F5-TTS `model/modules.py`
(https://github.com/SWivid/F5-TTS) so that its weights load and reproduce it exactly.

b - batch, n - sequence (mel frames), d - width, h - heads, dh - head width
"""

from __future__ import annotations

import math

import torch
from torch import nn


class SinusPositionEmbedding(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor, scale: float = 1000) -> torch.Tensor:  # b -> b d
        half_dim = self.dim // 2
        emb = math.log(10000) / (half_dim - 1)
        emb = torch.exp(torch.arange(half_dim, device=x.device).float() * -emb)
        emb = scale * x.float().unsqueeze(1) * emb.unsqueeze(0)  # float32 phases, whatever the weights
        return torch.cat((emb.sin(), emb.cos()), dim=-1)


class TimestepEmbedding(nn.Module):
    """Flow time t in [0, 1] -> conditioning vector for AdaLN."""

    def __init__(self, dim: int, freq_embed_dim: int = 256):
        super().__init__()
        self.time_embed = SinusPositionEmbedding(freq_embed_dim)
        self.time_mlp = nn.Sequential(nn.Linear(freq_embed_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, timestep: torch.Tensor) -> torch.Tensor:  # b -> b d
        return self.time_mlp(self.time_embed(timestep).to(self.time_mlp[0].weight.dtype))


class ConvPositionEmbedding(nn.Module):
    """Two grouped 1-D convolutions: relative position information for the input embedding."""

    def __init__(self, dim: int, kernel_size: int = 31, groups: int = 16):
        super().__init__()
        self.conv1d = nn.Sequential(
            nn.Conv1d(dim, dim, kernel_size, groups=groups, padding=kernel_size // 2),
            nn.Mish(),
            nn.Conv1d(dim, dim, kernel_size, groups=groups, padding=kernel_size // 2),
            nn.Mish(),
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x.permute(0, 2, 1)  # b n d -> b d n
        keep = None if mask is None else mask.unsqueeze(1)
        for layer in self.conv1d:
            if keep is not None and isinstance(layer, nn.Conv1d):
                x = x.masked_fill(~keep, 0.0)
            x = layer(x)
        if keep is not None:
            x = x.masked_fill(~keep, 0.0)
        return x.permute(0, 2, 1)  # b d n -> b n d


def precompute_freqs_cis(dim: int, end: int, theta: float = 10000.0) -> torch.Tensor:
    """Sinusoidal absolute positions added to the text embedding (F5 naming kept)."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: (dim // 2)].float() / dim))
    t = torch.arange(end, device=freqs.device)
    freqs = torch.outer(t, freqs).float()
    return torch.cat([torch.cos(freqs), torch.sin(freqs)], dim=-1)


class GRN(nn.Module):
    """Global response normalisation (ConvNeXt-V2)."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gx = torch.norm(x, p=2, dim=1, keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class ConvNeXtV2Block(nn.Module):
    """https://github.com/facebookresearch/ConvNeXt-V2 as used by F5-TTS for the text encoder."""

    def __init__(self, dim: int, intermediate_dim: int):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.grn = GRN(intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        x = self.dwconv(x.transpose(1, 2)).transpose(1, 2)  # b n d -> b d n -> b n d
        x = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(x)))))
        return residual + x


class AdaLayerNorm(nn.Module):
    """AdaLN-Zero: the time vector gives shift/scale/gate for attention and feed-forward."""

    def __init__(self, dim: int):
        super().__init__()
        self.silu = nn.SiLU()
        self.linear = nn.Linear(dim, dim * 6)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)

    def forward(self, x: torch.Tensor, emb: torch.Tensor):
        emb = self.linear(self.silu(emb))
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = torch.chunk(emb, 6, dim=1)
        x = self.norm(x) * (1 + scale_msa[:, None]) + shift_msa[:, None]
        return x, gate_msa, shift_mlp, scale_mlp, gate_mlp


class AdaLayerNormFinal(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.silu = nn.SiLU()
        self.linear = nn.Linear(dim, dim * 2)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = torch.chunk(self.linear(self.silu(emb)), 2, dim=1)
        return self.norm(x) * (1 + scale)[:, None, :] + shift[:, None, :]


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: float = 4, dropout: float = 0.0):
        super().__init__()
        inner_dim = int(dim * mult)
        project_in = nn.Sequential(nn.Linear(dim, inner_dim), nn.GELU(approximate="tanh"))
        self.ff = nn.Sequential(project_in, nn.Dropout(dropout), nn.Linear(inner_dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff(x)


class RotaryEmbedding(nn.Module):
    """Interleaved rotary positions, as x-transformers' RotaryEmbedding used by F5-TTS."""

    def __init__(self, dim: int, base: float = 10000.0):
        super().__init__()
        self.dim, self.base = dim, base
        self.register_buffer("anchor", torch.empty(0), persistent=False)  # follows the module's device

    def forward(self, seq_len: int) -> torch.Tensor:  # -> n dh, float32
        # Always float32: in bfloat16 a position near 1,000 rounds by 4 and its phase by radians.
        device = self.anchor.device
        inv_freq = 1.0 / (self.base ** (torch.arange(0, self.dim, 2, device=device).float() / self.dim))
        t = torch.arange(seq_len, device=device, dtype=torch.float32)
        freqs = torch.einsum("i , j -> i j", t, inv_freq)
        return torch.stack((freqs, freqs), dim=-1).flatten(-2)  # n (dh/2) 2 -> n dh


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x = x.unflatten(-1, (-1, 2))  # ... (d r) -> ... d r
    x1, x2 = x.unbind(dim=-1)
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def apply_rotary(t: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """t: b h n dh, freqs: n dh."""
    orig_dtype = t.dtype
    freqs = freqs[-t.shape[-2] :, :]
    t = (t * freqs.cos()) + (rotate_half(t) * freqs.sin())
    return t.type(orig_dtype)


def rotary_cos_sin(freqs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """freqs: n dh -> (cos, signed sin), computed once per sampling call instead of in every layer.
    The sign pattern (-, +) per pair folds `rotate_half`'s negation into the table (exact)."""
    sign = torch.tensor([-1.0, 1.0], device=freqs.device, dtype=freqs.dtype).repeat(freqs.shape[-1] // 2)
    return freqs.cos(), freqs.sin() * sign


def apply_rotary_cos_sin(t: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """`apply_rotary` with precomputed tables: t * cos + rotate_half(t) * sin, where the pair swap is
    one flip and the negation lives in `signed_sin`. cos/sin must broadcast against t."""
    swapped = t.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)  # ... (d r) -> ... (d r) with r reversed
    return torch.addcmul(t * cos, swapped, signed_sin)
