"""Configuration of the dual-branch generator, saved verbatim in every checkpoint's metadata.

`paper` follows arXiv 2504.02433 (PAPER.md): an audio branch that is F5-TTS v1 Base (dim 1024,
22 blocks, 16 heads, ff_mult 2, text_dim 512, 4 ConvNeXt-V2 text layers) plus 4 independent blocks,
a visual branch of the same width, joint-attention fusion in the first 22 blocks: ~0.78B parameters
(the paper states 0.8B). `demo` is the small model trained on the synthetic corpus; `tiny` is for tests.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace

from ..audio import mel_spec
from ..motion import MOTION_DIM

TEXT_ALIGNMENTS = ("filler", "frames")
FUSIONS = ("joint", "none")


@dataclass(frozen=True)
class ModelConfig:
    # audio branch (names and defaults as F5-TTS DiT)
    dim: int = 1024  # audio branch width
    depth: int = 26  # audio branch blocks (the first `fusion_depth` are fused with the visual branch)
    heads: int = 16  # attention heads, shared by both branches (joint attention concatenates them)
    dim_head: int = 64  # width of one head
    ff_mult: float = 2.0  # feed-forward expansion
    dropout: float = 0.1  # dropout in attention output and feed-forward (training only)
    mel_dim: int = 100  # mel bins of `mel_spec`
    mel_spec: str = "vocos_24k_100"  # the log-mel feature (audio.MEL_SPECS): Vocos 24 kHz (paper, F5) or HiFi-GAN 22.05 kHz
    # text
    text_num_embeds: int = 2545  # vocabulary size; id 0 is reserved for the filler token
    text_dim: int = 512  # text embedding width
    conv_layers: int = 4  # ConvNeXt-V2 blocks refining the text embedding
    text_mask_padding: bool = True  # zero filler positions between ConvNeXt blocks (F5 v1)
    text_alignment: str = "filler"  # "filler": tokens then filler to N (paper, F5); "frames": one id per frame
    # visual branch
    motion_dim: int = MOTION_DIM  # 61-D code per frame
    motion_width: int = 1024  # visual branch width
    motion_depth: int = 26  # visual branch blocks
    # fusion
    fusion: str = "joint"  # "joint": MM-DiT joint attention in the first blocks; "none": independent branches
    fusion_depth: int = 22  # number of shallow blocks that exchange information
    audio_gate_init: float = 0.0  # 0: audio branch starts exactly as a loaded F5-TTS
    motion_gate_init: float = 1.0  # 1: visual branch sees audio from the first step
    attn_mask: bool = True  # mask batch padding in attention keys (F5 v1 trains without)

    def __post_init__(self) -> None:
        if self.text_alignment not in TEXT_ALIGNMENTS:
            raise ValueError(f"text_alignment must be one of {TEXT_ALIGNMENTS}, got {self.text_alignment!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        spec = mel_spec(self.mel_spec)  # raises for an unknown name
        if spec.n_mels != self.mel_dim:
            raise ValueError(f"mel_dim {self.mel_dim} does not match mel_spec {self.mel_spec!r} ({spec.n_mels} bins)")
        depth_bound = min(self.depth, self.motion_depth)
        if self.fusion == "joint" and not 0 < self.fusion_depth <= depth_bound:
            raise ValueError(f"fusion_depth must be in 1..{depth_bound} for joint fusion, got {self.fusion_depth}")
        for name in ("dim", "motion_width"):
            if getattr(self, name) % 16:
                raise ValueError(f"{name} must be a multiple of 16 (grouped conv position embedding)")
        if self.dim_head % 2:
            raise ValueError("dim_head must be even (rotary embedding)")

    @property
    def inner_dim(self) -> int:
        return self.heads * self.dim_head

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config fields {sorted(unknown)} (file from a newer version?)")
        return cls(**data)


NAMED_CONFIGS: dict[str, ModelConfig] = {
    "paper": ModelConfig(),
    # ~16M parameters; audio branch as MEASURED.md's 9.1M model that learns to talk on 2 CPU cores.
    "demo": ModelConfig(
        dim=256,
        depth=8,
        heads=4,
        dim_head=64,
        ff_mult=2.0,
        text_dim=256,
        conv_layers=4,
        text_num_embeds=128,
        text_alignment="frames",
        motion_width=128,
        motion_depth=6,
        fusion_depth=4,
    ),  # fmt: skip
    "tiny": ModelConfig(
        dim=64,
        depth=4,
        heads=2,
        dim_head=32,
        ff_mult=2.0,
        text_dim=32,
        conv_layers=2,
        text_num_embeds=64,
        motion_width=32,
        motion_depth=3,
        fusion_depth=2,
    ),  # fmt: skip
}


def named_config(name: str, **overrides) -> ModelConfig:
    if name not in NAMED_CONFIGS:
        raise ValueError(f"unknown config {name!r}; choose from {sorted(NAMED_CONFIGS)}")
    return replace(NAMED_CONFIGS[name], **overrides)


@dataclass(frozen=True)
class FlowConfig:
    """Conditional flow matching (training) and its ODE sampler (inference)."""

    frac_lengths_mask: tuple[float, float] = (0.7, 1.0)  # fraction of frames to infill (F5)
    audio_drop_prob: float = 0.3  # drop reference mel + motion (voicebox p_drop)
    cond_drop_prob: float = 0.2  # drop all conditions incl. text (p_uncond)
    motion_drop_prob: float = 0.1  # drop only the reference motion
    loss_weights: dict = field(
        default_factory=lambda: {"mel": 0.1, "expression": 3.0, "pose": 0.5, "gaze": 0.5}
    )  # per part, paper values

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FlowConfig:
        data = json.loads(text)
        data["frac_lengths_mask"] = tuple(data["frac_lengths_mask"])
        return cls(**data)
