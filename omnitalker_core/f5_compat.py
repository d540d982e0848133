"""Mapping between F5-TTS (https://github.com/SWivid/F5-TTS) DiT weights and our audio branch.

F5-TTS v1 Base checkpoints hold `ema_model.transformer.*` (EMA) and `model.transformer.*`; our
audio branch uses the same module names under `transformer.audio` (text/time embeddings are the
audio branch's, so a converted model reproduces F5-TTS exactly while fusion gates are zero).
"""

from __future__ import annotations

import re

import torch

from .model.config import ModelConfig

_IGNORED = re.compile(r"^(initted|step|mel_spec\..*|rotary_embed\.inv_freq|text_embed\.freqs_cis)$")
_RENAMES = (
    (re.compile(r"^time_embed\."), "transformer.audio.time_embed."),
    (re.compile(r"^text_embed\."), "transformer.text_embed."),
    (re.compile(r"^input_embed\."), "transformer.audio.input_embed."),
    (re.compile(r"^transformer_blocks\."), "transformer.audio.blocks."),
    (re.compile(r"^norm_out\."), "transformer.audio.norm_out."),
    (re.compile(r"^proj_out\."), "transformer.audio.proj_out."),
)


def strip_f5_prefix(state: dict[str, torch.Tensor], use_ema: bool = True) -> dict[str, torch.Tensor]:
    """Raw F5 checkpoint dict -> DiT state dict (`time_embed.…`, `transformer_blocks.…`)."""
    prefixes = ("ema_model.transformer.", "transformer.") if use_ema else ("model.transformer.", "transformer.")
    has_ema = any(k.startswith("ema_model.") for k in state)
    if use_ema and not has_ema and any(k.startswith("model.") for k in state):
        prefixes = ("model.transformer.",)
    out = {}
    for key, value in state.items():
        for p in prefixes:
            if key.startswith(p):
                out[key[len(p) :]] = value
                break
        else:
            if not any(key.startswith(p) for p in ("ema_model.", "model.")) and "." in key:
                out[key] = value  # already a bare DiT state dict
    return out


def f5_to_omnitalker(dit_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Bare F5 DiT state dict -> our FlowMatching state dict keys (audio branch + text embedding)."""
    out = {}
    for key, value in dit_state.items():
        if _IGNORED.match(key):
            continue
        for pattern, repl in _RENAMES:
            if pattern.match(key):
                out[pattern.sub(repl, key, count=1)] = value
                break
        else:
            raise ValueError(f"unexpected F5-TTS weight {key!r}: not an F5-TTS v1 DiT checkpoint?")
    return out


def infer_f5_config(dit_state: dict[str, torch.Tensor], **overrides) -> ModelConfig:
    """Read the audio-branch sizes off an F5 DiT state dict; the visual branch mirrors it unless overridden."""
    try:
        dim = dit_state["time_embed.time_mlp.0.weight"].shape[0]
        text_num_embeds, text_dim = dit_state["text_embed.text_embed.weight"].shape
        inner = dit_state["transformer_blocks.0.attn.to_q.weight"].shape[0]
        ff_inner = dit_state["transformer_blocks.0.ff.ff.0.0.weight"].shape[0]
    except KeyError as e:
        raise ValueError(f"not an F5-TTS DiT checkpoint: missing {e}") from e
    depth = 1 + max(int(k.split(".")[1]) for k in dit_state if k.startswith("transformer_blocks."))
    conv_layers = len({k.split(".")[2] for k in dit_state if k.startswith("text_embed.text_blocks.")})
    dim_head = overrides.pop("dim_head", 64)
    params = dict(
        dim=dim, depth=depth, heads=inner // dim_head, dim_head=dim_head, ff_mult=ff_inner / dim,
        text_num_embeds=text_num_embeds - 1, text_dim=text_dim, conv_layers=conv_layers,
        mel_dim=dit_state["proj_out.weight"].shape[0], motion_width=dim, motion_depth=depth, fusion_depth=depth,
    )  # fmt: skip
    params.update(overrides)
    return ModelConfig(**params)
