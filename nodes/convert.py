"""Conversions between ComfyUI's socket types and omnitalker_core's tensors, with the shape checks.

Host side (ComfyUI):
    AUDIO  {"waveform": float [B, C, T], "sample_rate": int}
    IMAGE  float [F, H, W, C] in 0..1 (C = 3, or 4 with alpha)
    VIDEO  comfy_api VideoInput (components: images IMAGE, audio AUDIO or None, frame_rate Fraction)
Core side (omnitalker_core):
    audio  float32 [C, T] + sample rate
    frames uint8 [F, H, W, 3] (torch)
    portrait uint8 [H, W, 3] (torch)

Every check raises `ValueError` with the node's display name, what was expected and what came, so the
message in ComfyUI's error panel says what to connect instead.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import torch

try:
    from ..omnitalker_core import media_errors
except ImportError:  # loaded on its own from its file (tests/test_convert.py): the installed core
    from omnitalker_core import media_errors


def _fail(node: str, message: str) -> ValueError:
    return ValueError(f"{node}: {message}")


def audio_from_host(audio: dict, node: str) -> tuple[torch.Tensor, int]:
    """AUDIO dict -> (float32 [C, T], sample_rate); a batch of clips is refused, not silently cut."""
    if not isinstance(audio, dict) or "waveform" not in audio or "sample_rate" not in audio:
        raise _fail(node, f"expected an AUDIO input (waveform + sample_rate), got {type(audio).__name__}")
    wave = torch.as_tensor(audio["waveform"])
    rate = int(audio["sample_rate"])
    if wave.ndim == 2:  # some nodes emit [C, T]
        wave = wave.unsqueeze(0)
    if wave.ndim != 3:
        raise _fail(node, f"AUDIO waveform must be [batch, channels, samples], got shape {tuple(wave.shape)}")
    if wave.shape[0] != 1:
        raise _fail(node, f"expected one audio clip, got a batch of {wave.shape[0]}; split the batch first")
    if wave.shape[-1] == 0:
        raise _fail(node, "the AUDIO input is empty (0 samples)")
    if rate <= 0:
        raise _fail(node, f"AUDIO sample_rate must be positive, got {rate}")
    return wave[0].detach().float().cpu(), rate


def audio_to_host(wave: torch.Tensor, sample_rate: int) -> dict:
    """float [T] or [C, T] -> AUDIO dict with waveform [1, C, T]."""
    wave = torch.as_tensor(wave).detach().float().cpu()
    if wave.ndim == 1:
        wave = wave.unsqueeze(0)
    if wave.ndim != 2:
        raise ValueError(f"core audio must be [samples] or [channels, samples], got shape {tuple(wave.shape)}")
    return {"waveform": wave.unsqueeze(0).contiguous(), "sample_rate": int(sample_rate)}


def image_to_uint8(images: torch.Tensor, node: str, what: str = "IMAGE") -> torch.Tensor:
    """IMAGE float [F, H, W, C] 0..1 -> uint8 [F, H, W, 3] (alpha dropped)."""
    x = torch.as_tensor(images)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise _fail(node, f"{what} must be [frames, height, width, 3], got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise _fail(node, f"{what} has no frames")
    if x.shape[-1] == 1:
        x = x.expand(-1, -1, -1, 3)
    x = x[..., :3]
    return (x.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)


def uint8_to_image(frames) -> torch.Tensor:
    """uint8 [F, H, W, 3] (torch or numpy) -> IMAGE float [F, H, W, 3] 0..1."""
    x = torch.as_tensor(frames)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"core frames must be [frames, height, width, 3], got shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.float().div(255.0).contiguous()
    return x.float().clamp(0, 1).contiguous()


def portrait_from_image(image: torch.Tensor, node: str) -> torch.Tensor:
    """IMAGE (first frame used) -> uint8 [H, W, 3] portrait."""
    return image_to_uint8(image, node, "portrait IMAGE")[0]


def video_components(video, node: str) -> tuple[torch.Tensor, dict | None, float]:
    """Stock VIDEO -> (IMAGE [F, H, W, 3], AUDIO dict or None, fps). A file that cannot be decoded gives the
    core's message (omnitalker_core.media_errors): which file, what is wrong (damaged, cut off, unsupported
    codec, no video stream, no frames) and what to do."""
    if not hasattr(video, "get_components"):
        raise _fail(node, f"expected a VIDEO input (e.g. from Load Video), got {type(video).__name__}")
    source = video_source(video)
    try:
        comp = video.get_components()
    except Exception as e:  # a file FFmpeg cannot decode: say which file, what is wrong, what to do
        if source is not None and Path(source).is_file():
            try:
                media_errors.check_video(source)  # the specific reason (no video stream, no frames, ...)
            except media_errors.MediaError as reason:
                raise _fail(node, str(reason)) from e
            except Exception:  # the probe itself failed otherwise: fall back to the host's exception
                pass
        raise _fail(node, str(media_errors.unreadable(source, e, "video"))) from e
    if comp.images is None or len(comp.images) == 0 or comp.images.ndim != 4:
        raise _fail(node, str(media_errors.no_frames(source)))
    fps = float(Fraction(comp.frame_rate)) if comp.frame_rate else 0.0
    if fps <= 0:
        raise _fail(node, f"the video has no usable frame rate ({comp.frame_rate})")
    return comp.images, comp.audio, fps


def video_source(video) -> str | None:
    """The file path behind a stock VIDEO (Load Video's VideoFromFile), or None (in-memory video)."""
    get = getattr(video, "get_stream_source", None)
    try:
        source = get() if get else getattr(video, "_VideoFromFile__file", None)
    except Exception:
        return None
    return str(source) if isinstance(source, (str, Path)) else None


def fps_fraction(fps: float) -> Fraction:
    """25.0 -> Fraction(25); 29.97 -> 2997/100 (the container keeps the exact rate)."""
    return Fraction(round(float(fps) * 1000), 1000).limit_denominator(1001)
