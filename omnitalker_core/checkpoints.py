"""One `.safetensors` file per OmniTalker model: generator weights (`generator.*`), optional vocoder
(`vocoder.*`), GAN renderer (`renderer.*`) and phoneme duration predictor (`duration.*`) weights, and in the
header metadata everything needed to rebuild it: model and flow configs, the tokenizer vocabulary, vocoder,
renderer and duration settings.

Nothing here unpickles: safetensors only; foreign `.bin`/`.pt` files go through
`torch.load(weights_only=True)` in `load_foreign_state_dict`.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .model.config import FlowConfig, ModelConfig
from .model.duration import DurationConfig, DurationPredictor
from .model.flow import FlowMatching
from .text.tokenizer import PhonemeTokenizer, Tokenizer, tokenizer_from_metadata

log = logging.getLogger(__name__)

FORMAT = "omnitalker"
FORMAT_VERSION = "1"
ASSETS = Path(__file__).resolve().parent / "assets"
DEMO_CHECKPOINT = ASSETS / "omnitalker_demo.safetensors"
# The bundled reference clip of the example workflows (see scripts/make_reference_clip.py) and its transcript;
# the host copies the clip into ComfyUI's input folder (omnitalker_core.host.workflow_assets).
REFERENCE_CLIP = ASSETS / "omnitalker_reference.mp4"
REFERENCE_TRANSCRIPT = REFERENCE_CLIP.with_suffix(".txt")
# What the demo workflow (a) says (its Text -> Audio + Motion widget; bench e2e's default text).
DEMO_TEXT = ASSETS / "demo_text.txt"


@dataclass
class OmniTalkerBundle:
    """Everything a generation needs, loaded from one file."""

    flow: FlowMatching
    tokenizer: Tokenizer
    vocoder_config: dict | None = None  # Vocos config (feature_extractor/backbone/head) if weights are inside
    vocoder_state: dict[str, torch.Tensor] | None = None
    renderer_config: dict | None = None
    renderer_state: dict[str, torch.Tensor] | None = None
    info: dict = field(default_factory=dict)  # training provenance, free-form
    path: Path | None = None

    @property
    def device(self) -> torch.device:
        return self.flow.device

    @property
    def durations(self) -> DurationPredictor | None:
        """The phoneme duration predictor, held by the tokenizer that times text with it (one place to set it)."""
        return getattr(self.tokenizer, "durations", None)


def _metadata(bundle: OmniTalkerBundle) -> dict[str, str]:
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": bundle.flow.model_cfg.to_json(),
        "flow_config": bundle.flow.flow_cfg.to_json(),
        "tokenizer": json.dumps(bundle.tokenizer.to_metadata(), ensure_ascii=False),
        "info": json.dumps(bundle.info, ensure_ascii=False),
    }
    if bundle.vocoder_config is not None:
        meta["vocoder_config"] = json.dumps(bundle.vocoder_config)
    if bundle.renderer_config is not None:
        meta["renderer_config"] = json.dumps(bundle.renderer_config)
    if bundle.durations is not None:
        meta["duration_config"] = bundle.durations.cfg.to_json()
    return meta


def save_bundle(bundle: OmniTalkerBundle, path: str | Path, overwrite: bool = False, half: bool = False) -> Path:
    """Write atomically (temp file + rename) so an interrupted save never leaves a broken model."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; choose another name or pass overwrite=True")
    tensors: dict[str, torch.Tensor] = {}
    for prefix, state in (
        ("generator.", bundle.flow.state_dict()),
        ("vocoder.", bundle.vocoder_state or {}),
        ("renderer.", bundle.renderer_state or {}),
        ("duration.", bundle.durations.state_dict() if bundle.durations is not None else {}),
    ):
        for k, v in state.items():
            v = v.detach().cpu().contiguous()
            if half and v.is_floating_point() and not k.startswith("generator.motion_"):
                v = v.half()
            tensors[prefix + k] = v
    return atomic_save_file(tensors, path, _metadata(bundle))


def atomic_save_file(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> Path:
    """safetensors via a temp file + rename: an interrupted write never leaves a half file under `path`.
    The file gets the usual permissions (umask), not mkstemp's owner-only 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"model file not found: {path}. Put OmniTalker .safetensors files in ComfyUI's models/omnitalker/ "
            f"(or pass --model); the bundled demo model is {DEMO_CHECKPOINT}"
        )
    if path.suffix != ".safetensors":
        raise ValueError(
            f"{path.name}: OmniTalker models are .safetensors files; convert F5-TTS/Vocos files with "
            "`python -m omnitalker_core convert`"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path.name} is not a readable safetensors file (truncated or corrupt?): {e}") from e
    if meta.get("format") != FORMAT:
        raise ValueError(
            f"{path.name} is a safetensors file but not an OmniTalker model (no 'format: {FORMAT}' metadata). "
            "For F5-TTS or Vocos weights run `python -m omnitalker_core convert f5|vocos ...` first."
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path.name}: format version {meta.get('format_version')!r} is not supported (expected {FORMAT_VERSION})"
        )
    return meta


def _load_tensors(path: Path, device: str | torch.device) -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, RuntimeError) as e:
        raise ValueError(f"{path.name}: cannot read weights (truncated or corrupt file?): {e}") from e


def _split(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def load_bundle(
    path: str | Path = DEMO_CHECKPOINT, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> OmniTalkerBundle:
    path = Path(path)
    meta = read_metadata(path)
    try:
        model_cfg = ModelConfig.from_json(meta["model_config"])
        flow_cfg = FlowConfig.from_json(meta["flow_config"])
        tokenizer = tokenizer_from_metadata(json.loads(meta["tokenizer"]))
    except (KeyError, ValueError, TypeError) as e:  # incl. json errors and config validation
        raise ValueError(f"{path.name}: broken OmniTalker metadata ({e})") from e
    tensors = _load_tensors(path, "cpu")
    flow = FlowMatching(model_cfg, flow_cfg)
    state = {k: v.float() for k, v in _split(tensors, "generator.").items()}
    try:
        missing, unexpected = flow.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise ValueError(f"{path.name}: weights do not match its config: {str(e)[:500]}") from e
    if missing or unexpected:
        raise ValueError(
            f"{path.name}: weights do not match its config: missing {sorted(missing)[:5]}"
            f"{' …' if len(missing) > 5 else ''}, unexpected {sorted(unexpected)[:5]}"
        )
    flow = flow.to(device=device).eval()
    flow.transformer.to(dtype)  # the motion stats stay float32, like the sampler's ODE state
    vocoder_state = _split(tensors, "vocoder.") or None
    renderer_state = _split(tensors, "renderer.") or None
    if "duration_config" in meta:
        try:
            durations = DurationPredictor(DurationConfig.from_json(meta["duration_config"]))
            durations.load_state_dict({k: v.float() for k, v in _split(tensors, "duration.").items()})
        except (TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"{path.name}: broken duration predictor ({str(e)[:300]})") from e
        if not isinstance(tokenizer, PhonemeTokenizer):
            raise ValueError(f"{path.name}: a duration predictor in a model that reads characters, not phonemes")
        tokenizer.durations = durations.to(device).eval()
    return OmniTalkerBundle(
        flow=flow,
        tokenizer=tokenizer,
        vocoder_config=json.loads(meta["vocoder_config"]) if "vocoder_config" in meta else None,
        vocoder_state=vocoder_state,
        renderer_config=json.loads(meta["renderer_config"]) if "renderer_config" in meta else None,
        renderer_state=renderer_state,
        info=json.loads(meta.get("info", "{}")),
        path=path,
    )


def load_foreign_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """F5-TTS / Vocos weight files: safetensors, or torch files read with weights_only=True (no code runs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as f:
                return {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError) as e:
            raise ValueError(f"{path.name}: not a readable safetensors file: {e}") from e
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors come in many types; report them all the same way
        raise ValueError(f"{path.name}: cannot read as a weights-only torch file: {e}") from e
    for key in ("ema_model_state_dict", "model_state_dict", "state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            return obj[key] if key != "ema_model_state_dict" else {f"ema_model.{k}": v for k, v in obj[key].items()}
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path.name}: expected a dict of tensors")
    return obj
