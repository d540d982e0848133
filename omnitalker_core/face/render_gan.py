"""GAN renderer (OmniTalker's learned renderer, arXiv 2504.02433): reference frame + per-frame
codes -> frames, as a refinement of the geometric renderer.

Why a refinement: the geometric warp already puts every pixel where the codes say (pose, jaw,
lids) on any portrait; what it cannot do is shading, wrinkles, real teeth and the inside of the
mouth. The generator therefore sees the geometric frame, the reference frame and the warp field,
is modulated by the codes (FiLM at every decoder level), and predicts a residual on top of the
geometric frame. Its last layer starts at zero, so an untrained generator is exactly the
geometric renderer and training can only start from there.

Discriminator: a PatchGAN (Isola et al. 2017) with spectral norm, conditioned on the geometric
frame; its intermediate features also drive the feature-matching loss (pix2pixHD).

Shape legend: b - batch, c - channels, h w - image, d - code embedding.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import motion


@dataclass(frozen=True)
class GanConfig:
    size: int = 128  # square working resolution (pixels) of generator and discriminator
    channels: int = 32  # generator channels at full resolution (doubles per level, capped)
    levels: int = 3  # U-Net down-sampling levels
    max_channels: int = 128  # channel cap per level
    code_embed: int = 64  # width of the code MLP feeding FiLM
    disc_channels: int = 32  # discriminator channels in its first layer
    disc_layers: int = 3  # strided discriminator layers (patch size grows with it)
    residual_scale: float = 0.5  # tanh residual amplitude added to the geometric frame (0..1 units)

    def __post_init__(self) -> None:
        if self.size % (2**self.levels):
            raise ValueError(f"GanConfig: size {self.size} must be divisible by 2**levels = {2**self.levels}")
        if self.levels < 1 or self.disc_layers < 1:
            raise ValueError(f"GanConfig: levels and disc_layers must be >= 1, got {self.levels}, {self.disc_layers}")


IN_CHANNELS = 3 + 3 + 2  # geometric frame, reference frame, warp field
GENERATOR_FORMAT = "omnitalker-gan-renderer"  # metadata `format` of a generator.safetensors


def _ch(cfg: GanConfig, level: int) -> int:
    return min(cfg.channels * 2**level, cfg.max_channels)


class FiLMBlock(nn.Module):
    """conv-norm-FiLM-act x2; FiLM (scale, shift) from the code embedding."""

    def __init__(self, cin: int, cout: int, dim_code: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.norm1 = nn.GroupNorm(min(8, cout), cout)
        self.norm2 = nn.GroupNorm(min(8, cout), cout)
        self.film = nn.Linear(dim_code, 2 * cout)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(e)[:, :, None, None].chunk(2, dim=1)  # b c 1 1
        h = F.silu(self.norm1(self.conv1(x)))
        h = self.norm2(self.conv2(h)) * (1 + scale) + shift
        return F.silu(h)


class Generator(nn.Module):
    """U-Net on [geometric, reference, warp] with code FiLM; output = geometric + residual."""

    def __init__(self, cfg: GanConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.code_embed
        self.code_mlp = nn.Sequential(nn.Linear(motion.MOTION_DIM, d), nn.SiLU(), nn.Linear(d, d))
        self.inp = nn.Conv2d(IN_CHANNELS, _ch(cfg, 0), 3, padding=1)
        self.down = nn.ModuleList(FiLMBlock(_ch(cfg, i), _ch(cfg, i + 1), d) for i in range(cfg.levels))
        self.mid = FiLMBlock(_ch(cfg, cfg.levels), _ch(cfg, cfg.levels), d)
        self.up = nn.ModuleList(
            FiLMBlock(_ch(cfg, i + 1) + _ch(cfg, i), _ch(cfg, i), d) for i in reversed(range(cfg.levels))
        )
        self.proj_out = nn.Conv2d(_ch(cfg, 0), 3, 3, padding=1)
        nn.init.zeros_(self.proj_out.weight)  # untrained generator == geometric renderer
        nn.init.zeros_(self.proj_out.bias)

    def forward(
        self, geometric: torch.Tensor, reference: torch.Tensor, warp: torch.Tensor, codes: torch.Tensor
    ) -> torch.Tensor:
        """geometric, reference [b, 3, h, w] in 0..1; warp [b, 2, h, w]; codes [b, 61] -> [b, 3, h, w]."""
        e = self.code_mlp(codes)  # b d
        h = self.inp(torch.cat([geometric * 2 - 1, reference * 2 - 1, warp], 1))
        skips = []
        for blk in self.down:
            skips.append(h)
            h = blk(F.avg_pool2d(h, 2), e)
        h = self.mid(h, e)
        for blk in self.up:
            h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
            h = blk(torch.cat([h, skips.pop()], 1), e)
        return (geometric + self.cfg.residual_scale * torch.tanh(self.proj_out(h))).clamp(0, 1)


class PatchDiscriminator(nn.Module):
    """PatchGAN on [image, geometric frame]; returns per-patch logits and intermediate features."""

    def __init__(self, cfg: GanConfig):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        layers, c = [], 6
        for i in range(cfg.disc_layers):
            cout = min(cfg.disc_channels * 2**i, 256)
            layers.append(sn(nn.Conv2d(c, cout, 4, stride=2, padding=1)))
            c = cout
        self.layers = nn.ModuleList(layers)
        self.head = sn(nn.Conv2d(c, 1, 3, padding=1))

    def forward(self, image: torch.Tensor, geometric: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = torch.cat([image * 2 - 1, geometric * 2 - 1], 1)
        feats = []
        for layer in self.layers:
            h = F.leaky_relu(layer(h), 0.2)
            feats.append(h)
        return self.head(h), feats


# -- weights on disk --------------------------------------------------------------------------
def save_generator(path: str | Path, gen: Generator, extra: dict | None = None) -> None:
    """Generator weights as safetensors (written atomically); the config (JSON) and `extra` in the metadata."""
    from ..checkpoints import atomic_save_file

    meta = {"format": GENERATOR_FORMAT, "config": json.dumps(asdict(gen.cfg))}
    for k, v in (extra or {}).items():
        meta[k] = json.dumps(v)
    atomic_save_file(gen.state_dict(), path, meta)


def gan_config_from_dict(d: dict, where: str) -> GanConfig:
    """GanConfig from a metadata dict; unknown keys (e.g. `kind`, `step`) are ignored."""
    names = {f.name for f in fields(GanConfig)}
    try:
        return GanConfig(**{k: v for k, v in d.items() if k in names})
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: broken GAN renderer config {d!r}: {e}") from e


def generator_from_state(cfg: GanConfig, state: dict[str, torch.Tensor], where: str) -> Generator:
    """A Generator with `state` loaded (float32, strict); ValueError naming `where` when they do not fit."""
    gen = Generator(cfg)
    try:
        gen.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as e:  # missing/unexpected keys, shape mismatches
        raise ValueError(f"{where}: GAN renderer weights do not match its config: {str(e)[:400]}") from e
    return gen.eval()


def read_generator_file(path: str | Path) -> tuple[GanConfig, dict[str, torch.Tensor], dict]:
    """(config, weights, extra metadata such as the training step) of a `generator.safetensors`.

    Raises FileNotFoundError when absent and ValueError naming the file when it is not one."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"GAN renderer weights not found: {path} (train them with `python -m omnitalker_core train-renderer`)"
        )
    try:
        with safe_open(str(path), "pt") as fh:
            meta = fh.metadata() or {}
            state = {k: fh.get_tensor(k) for k in fh.keys()} if meta.get("format") == GENERATOR_FORMAT else {}
    except (SafetensorError, OSError, RuntimeError, ValueError) as e:
        raise ValueError(f"{path} is not a readable safetensors file (truncated or corrupt?): {e}") from e
    if meta.get("format") != GENERATOR_FORMAT:
        raise ValueError(
            f"{path} is not a GAN renderer file (metadata format={meta.get('format')!r}, expected "
            f"{GENERATOR_FORMAT!r}: the generator.safetensors a train-renderer run writes)"
        )
    try:
        cfg = gan_config_from_dict(json.loads(meta["config"]), str(path))
        extra = {k: json.loads(v) for k, v in meta.items() if k not in ("format", "config")}
    except (KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: broken GAN renderer metadata ({e})") from e
    generator_from_state(cfg, state, str(path))  # the weights must fit the config
    return cfg, state, extra


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> Generator:
    cfg, state, _ = read_generator_file(path)
    return generator_from_state(cfg, state, str(path)).to(device)


def landmarks_at(points: np.ndarray, image_hw: tuple[int, int], size: int | tuple[int, int]) -> np.ndarray:
    """Landmarks [n, 3] in pixels of an image [h, w] -> pixels of that image resized to `size` (square
    side, or (width, height)); z scaled like x and y. Faces are detected at full resolution: a
    64..128 px working size may lose them."""
    h, w = image_hw
    out_w, out_h = (size, size) if isinstance(size, int) else size
    sx, sy = out_w / w, out_h / h
    return (np.asarray(points, np.float32) * np.array([sx, sy, (sx * sy) ** 0.5], np.float32)).astype(np.float32)


class GanRenderer:
    """Portrait + codes -> frames with a trained generator on top of the geometric renderer.

    Same call pattern as `GeometricRenderer`. The generator works at its training size (size x size:
    the portrait is resized to a square, as the training clips were). With `size` = (width, height)
    other than that, the frames are the geometric renderer's at `size` plus the generator's residual
    (its output minus its geometric input) resized to `size`: sharp where the warp is right, the learned
    correction (shading, mouth, teeth) where it is not."""

    def __init__(
        self, generator: Generator, portrait: np.ndarray, base_codes: np.ndarray | None = None, device: str | torch.device = "cpu",
        landmarks: np.ndarray | None = None, size: tuple[int, int] | None = None,
    ):  # fmt: skip
        from .render_geometric import GeometricRenderer, fit_portrait

        self.gen = generator.to(device).eval()
        work = generator.cfg.size
        portrait = np.asarray(portrait)
        out = (work, work) if size is None else (int(size[0]), int(size[1]))
        native = None
        if landmarks is None and portrait.ndim == 3 and {portrait.shape[:2], out[::-1]} != {(work, work)}:
            native = fit_portrait(portrait)[0]  # detect once, at the portrait's own resolution
            landmarks = landmarks_at(native, portrait.shape[:2], work)
        self.geometric = GeometricRenderer(
            portrait, size=(work, work), base_codes=base_codes, device=device, landmarks=landmarks
        )
        self.full = None
        if out != (work, work):
            pts = None if native is None else landmarks_at(native, portrait.shape[:2], out)
            self.full = GeometricRenderer(portrait, size=out, base_codes=base_codes, device=device, landmarks=pts)
        self.width, self.height = out
        self.reference = self.geometric.image  # 1 3 h w

    @torch.inference_mode()
    def render_tensor(self, codes: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Codes [f, 61] -> float frames [f, 3, height, width] in 0..1."""
        geo, warp = self.geometric.render_with_flow(codes)
        c = torch.as_tensor(
            np.asarray(codes.cpu() if isinstance(codes, torch.Tensor) else codes),
            dtype=torch.float32,
            device=geo.device,
        )
        out = self.gen(geo, self.reference.expand(len(geo), -1, -1, -1), warp, c)
        if self.full is None:
            return out
        residual = F.interpolate(out - geo, size=(self.height, self.width), mode="bilinear", align_corners=False)
        return (self.full.render_tensor(codes) + residual).clamp(0, 1)

    def render_iter(self, codes: np.ndarray | torch.Tensor, batch: int = 8):
        for i in range(0, len(codes), batch):
            out = self.render_tensor(codes[i : i + batch])
            yield out.permute(0, 2, 3, 1).mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()

    def render(self, codes: np.ndarray | torch.Tensor, batch: int = 8) -> np.ndarray:
        return np.concatenate(list(self.render_iter(codes, batch)))
