"""End to end: model + style + text -> mel and 25 fps motion -> waveform -> frames -> mp4.

Long text is split into sentences grouped into chunks that fit the model's length; every chunk is
generated after the same reference (continuous voice) and the motion is cross-faded across chunk
boundaries (continuous head motion). Rendering (`render_frames`) animates a portrait with the 25 fps
codes, relative to the code the tracker reads from the portrait itself (`rest_codes`), through the model's learned GAN
renderer when its file carries one and the weightless geometric renderer otherwise.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import audio as audio_lib
from . import motion as motion_code
from .checkpoints import OmniTalkerBundle
from .style import Style
from .text.tokenizer import MAX_FRAMES, check_language, check_text

log = logging.getLogger(__name__)
VIDEO_FPS = motion_code.VIDEO_FPS

Callback = Callable[[int, int], None]
MAX_CHUNK_SECONDS = 12.0  # target speech per chunk; the paper trains on references of 1..10 s
# ODE steps of the nodes, the CLI and the bench: as good as 16 (docs/SPEED.md: steps x WER x SIM x RTF)
DEFAULT_STEPS = 8
MAX_TEXT_CHARS = 2700  # about 3 minutes of speech per run: the frames of a longer video outgrow a laptop's memory


@dataclass
class Generation:
    mel: torch.Tensor  # n mel_dim, target speech only, in the model's mel features
    motion: torch.Tensor  # f 61 at 25 fps, target only
    text: str
    chunks: list[str]
    mel_fps: float = audio_lib.MEL_FPS  # frames per second of `mel` (the model's MelSpec)

    @property
    def seconds(self) -> float:
        return self.mel.shape[0] / self.mel_fps


def video_frames_for(mel_frames: int, mel_fps: float = audio_lib.MEL_FPS, fps: float = motion_code.VIDEO_FPS) -> int:
    return max(1, round(mel_frames / mel_fps * fps))


def split_sentences(text: str, max_chars: int) -> list[str]:
    """Sentences (., !, ?, CJK stops, line breaks) grouped greedily into chunks of <= max_chars;
    an over-long sentence is cut at commas, then at spaces."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?。！？;；])\s+|\n+", text) if s.strip()]
    pieces: list[str] = []
    for s in sentences:
        while len(s) > max_chars:
            cut = max(s.rfind(",", 0, max_chars), s.rfind(" ", 0, max_chars))  # index < max_chars
            end = cut + 1 if cut > max_chars // 3 else max_chars  # keep the comma; else a hard cut
            pieces.append(s[:end].strip())
            s = s[end:].strip()
        if s:
            pieces.append(s)
    chunks: list[str] = []
    for p in pieces:
        if chunks and len(chunks[-1]) + 1 + len(p) <= max_chars:
            chunks[-1] = f"{chunks[-1]} {p}"
        else:
            chunks.append(p)
    return chunks


def _chars_per_second(style: Style) -> float:
    return max(len(style.transcript.encode("utf-8")) / max(style.seconds, 0.5), 4.0)


def crossfade_concat(parts: list[torch.Tensor], overlap: int = 6) -> torch.Tensor:
    """Concatenate motion chunks, blending the first frames of each chunk from the previous chunk's last pose."""
    out = parts[0]
    for nxt in parts[1:]:
        k = min(overlap, nxt.shape[0])
        w = torch.linspace(0, 1, k + 2)[1:-1, None]
        nxt = nxt.clone()
        nxt[:k] = out[-1:] * (1 - w) + nxt[:k] * w
        out = torch.cat([out, nxt])
    return out


def generate(
    bundle: OmniTalkerBundle,
    style: Style,
    text: str,
    *,
    seed: int = 0,
    steps: int = DEFAULT_STEPS,
    cfg_audio: float = 2.0,
    cfg_motion: float = 2.5,
    speed: float = 1.0,
    sway: float = -1.0,
    cfg_stop: float = 1.0,
    callback: Callback | None = None,
) -> Generation:
    """Speech mel + motion for `text` in the voice and manner of `style`. `callback(step, total)` runs
    after every ODE step; raise inside it to cancel."""
    text = check_text(text, "text", MAX_TEXT_CHARS)
    note = check_language(text, bundle.tokenizer.languages)
    if note:
        warnings.warn(note, stacklevel=2)
    if not style.transcript.strip():
        raise ValueError("the style has no reference transcript: capture it again with the transcript typed")
    spec = audio_lib.mel_spec(bundle.flow.model_cfg.mel_spec)
    ref_mel, ref_motion = style.conditioning(spec)
    ref_seconds = style.seconds
    room = MAX_FRAMES / spec.fps - ref_seconds - 1.0
    max_chars = max(40, int(_chars_per_second(style) * min(MAX_CHUNK_SECONDS, room) * speed))
    chunks = split_sentences(text, max_chars)
    flow, tok = bundle.flow, bundle.tokenizer
    total = steps * len(chunks)
    mels, motions = [], []
    for i, chunk in enumerate(chunks):
        inp = tok.build(style.transcript, chunk, ref_mel.shape[0], speed=speed, fps=spec.fps)

        def chunk_cb(step: int, _n: int, base: int = i * steps) -> None:
            if callback is not None:
                callback(base + step, total)

        out = flow.sample(
            ref_mel[None], inp.ids[None], inp.duration,
            ref_motion=None if ref_motion is None else ref_motion[None],
            steps=steps, cfg_audio=cfg_audio, cfg_motion=cfg_motion, sway=sway, cfg_stop=cfg_stop, seed=seed + i,
            callback=chunk_cb,
        )  # fmt: skip
        n_ref = ref_mel.shape[0]
        mel = out.mel[0, n_ref:].float().cpu()
        mels.append(mel)
        codes = out.motion[0, n_ref:].float().cpu()
        codes = motion_code.to_video_rate(codes, video_frames_for(mel.shape[0], spec.fps), mel_fps=spec.fps)
        motions.append(motion_code.clamp_valid(codes))
    return Generation(mel=torch.cat(mels), motion=crossfade_concat(motions), text=text, chunks=chunks, mel_fps=spec.fps)


def vocode(vocoder, mel: torch.Tensor) -> torch.Tensor:
    """n mel_dim model features -> T waveform at the pipeline's 24 kHz, n frames long, so it matches the
    video duration. The vocoder decodes its own log-mel at its own rate (`vocoder.spec`)."""
    spec = vocoder.spec
    wave = vocoder.decode(spec.to_log_mel(mel.T[None].float()))[0].float().cpu()
    wave = audio_lib.resample(wave, vocoder.sample_rate, audio_lib.SAMPLE_RATE)
    target = round(spec.seconds(mel.shape[0]) * audio_lib.SAMPLE_RATE)
    if wave.numel() < target:
        wave = torch.nn.functional.pad(wave, (0, target - wave.numel()))
    return wave[:target]


def portrait_of(style: Style) -> np.ndarray:
    if style.portrait is None:
        raise ValueError("this style has no portrait (captured from audio only): connect a portrait IMAGE to render")
    return style.portrait


# -- rendering: portrait + 25 fps codes -> frames (one path for the node, the verbs and the bench) --------


def render_size(portrait_hw: tuple[int, int], resolution: int = 512) -> tuple[int, int]:
    """(width, height) of the video: the longer side = resolution, aspect kept, both even (H.264
    needs even sizes); resolution <= 0 keeps the portrait's own size (rounded down to even)."""
    h, w = portrait_hw
    if resolution <= 0:
        return max(2, w - w % 2), max(2, h - h % 2)
    scale = resolution / max(h, w)
    return max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2)


def rest_codes(portrait: np.ndarray, style: Style | None = None) -> np.ndarray:
    """The code [61] the portrait itself shows, as the tracker reads it; rendered codes are drawn relative
    to it, so a code means the same face whatever the portrait shows. The style's own portrait: its code
    in the tracked reference clip (frame 0). Any other portrait (generated motion, a Live Link Face CSV,
    any IMAGE): what the tracker reads from the image alone (`face.calibration.portrait_code`). The
    `render` verb's --relative instead treats codes as offsets from the portrait."""
    if style is not None and style.ref_motion is not None:  # `portrait` is the style's own
        return style.ref_motion[0].detach().float().cpu().numpy()
    from .face.calibration import portrait_code

    return portrait_code(np.ascontiguousarray(portrait))


MIN_FACE_PORTRAIT = 64  # pixels, shorter side: below this the landmark model finds no usable face


def check_portrait(portrait: np.ndarray) -> None:
    """Refuse a portrait the renderer cannot animate (too small, no face), naming its real size; cheap
    enough (one landmark pass) to run before generation, so a bad image fails in a second, not after it."""
    portrait = np.asarray(portrait)
    if portrait.ndim != 3 or portrait.shape[2] != 3:
        raise ValueError(f"the portrait must be an RGB image [H, W, 3], got shape {tuple(portrait.shape)}")
    h, w = portrait.shape[:2]
    if min(h, w) < MIN_FACE_PORTRAIT:
        raise ValueError(
            f"the portrait is {w}x{h} pixels: too small to find a face in; use a photo of at least "
            f"{MIN_FACE_PORTRAIT}x{MIN_FACE_PORTRAIT} with one clearly visible face"
        )
    from .face.portrait_fit import fit_portrait

    fit_portrait(np.ascontiguousarray(portrait, dtype=np.uint8))  # raises "no face found in the portrait (WxH)"


def renderer_kind(bundle: OmniTalkerBundle | None) -> str:
    """`gan` when the model file carries learned renderer weights, else `geometric` (weightless)."""
    if bundle is None or not bundle.renderer_state:
        return "geometric"
    kind = (bundle.renderer_config or {}).get("kind")
    if kind != "gan":
        where = bundle.path.name if bundle.path is not None else "the model"
        raise ValueError(f"{where}: renderer weights of unknown kind {kind!r} (this version renders 'gan')")
    return "gan"


def _gan_renderer(bundle: OmniTalkerBundle, portrait: np.ndarray, base_codes, device, size: tuple[int, int]):
    from .face.render_gan import GanRenderer, gan_config_from_dict, generator_from_state

    where = bundle.path.name if bundle.path is not None else "the model's renderer"
    cfg = gan_config_from_dict(bundle.renderer_config or {}, where)
    gen = generator_from_state(cfg, bundle.renderer_state, where)
    return GanRenderer(gen, portrait, base_codes, device=device, size=size)


def render_batches(
    portrait: np.ndarray,
    motion: np.ndarray | torch.Tensor,
    *,
    base_codes: np.ndarray | None = None,
    resolution: int = 512,
    size: tuple[int, int] | None = None,
    device: str | torch.device = "cpu",
    bundle: OmniTalkerBundle | None = None,
    batch: int = 8,
) -> Iterator[np.ndarray]:
    """Animate a portrait (RGB uint8 [H, W, 3]) with 61-D codes [F, 61] at 25 fps, yielding uint8 frame
    batches [b, h, w, 3] in order, so a long video can be encoded without holding all its frames.

    base_codes: the code the portrait shows (`rest_codes`); None = codes are offsets from the portrait.
    Output size: `size` (width, height) if given, else `render_size(portrait, resolution)`.
    Renderer: the learned GAN renderer when `bundle` carries its weights (`convert renderer`), else the
    weightless geometric one; the GAN works at its training size and its correction is resized onto the
    geometric frame at the output size (`GanRenderer`). The portrait and codes are checked before the
    first batch is made."""
    codes = torch.as_tensor(motion).detach().float().cpu()
    if codes.ndim != 2 or codes.shape[1] != motion_code.MOTION_DIM or codes.shape[0] == 0:
        raise ValueError(
            f"motion must be [frames, {motion_code.MOTION_DIM}] with at least one frame, got {tuple(codes.shape)}"
        )
    portrait = np.ascontiguousarray(portrait)
    if not portrait.flags.writeable:  # e.g. np.asarray(PIL image); torch warns on read-only arrays
        portrait = portrait.copy()
    if portrait.ndim != 3 or portrait.shape[2] != 3 or portrait.dtype != np.uint8:
        raise ValueError(f"portrait must be an RGB uint8 image [H, W, 3], got {portrait.dtype} {portrait.shape}")
    width, height = (int(size[0]), int(size[1])) if size is not None else render_size(portrait.shape[:2], resolution)
    if width < 2 or height < 2:
        raise ValueError(f"output size must be at least 2x2, got {width}x{height}")
    if renderer_kind(bundle) == "gan":
        renderer = _gan_renderer(bundle, portrait, base_codes, device, (width, height))
    else:
        from .face.render_geometric import GeometricRenderer

        renderer = GeometricRenderer(portrait, size=(width, height), base_codes=base_codes, device=device)
    return renderer.render_iter(codes.numpy(), batch=batch)


def render_frames(
    portrait: np.ndarray,
    motion: np.ndarray | torch.Tensor,
    *,
    callback: Callback | None = None,
    **kwargs,
) -> np.ndarray:
    """All frames of `render_batches` (same arguments) as one uint8 array [F, h, w, 3].
    `callback(done, total)` runs after every batch of frames; raise inside it to cancel."""
    batches = render_batches(portrait, motion, **kwargs)
    total = len(motion)
    out: np.ndarray | None = None
    done = 0
    for chunk in batches:
        if out is None:
            out = np.empty((total, *chunk.shape[1:]), np.uint8)
        out[done : done + len(chunk)] = chunk
        done += len(chunk)
        if callback is not None:
            callback(done, total)
    return out


def render_mp4(
    path: str | Path,
    portrait: np.ndarray,
    motion: np.ndarray | torch.Tensor,
    wave: torch.Tensor | np.ndarray | Callable[[], torch.Tensor] | None,
    *,
    sample_rate: int = audio_lib.SAMPLE_RATE,
    overwrite: bool = False,
    metadata: dict | None = None,
    callback: Callback | None = None,
    **kwargs,
) -> int:
    """Render (`render_batches`, same keyword arguments) straight into an H.264 + AAC mp4 at 25 fps, batch
    by batch: memory stays that of one batch whatever the length (a 3-minute video at 512 px would be
    3.5 GB of frames, 14 GB as a float IMAGE). The sound (mono, or a callable that returns it when the frames
    are done) is trimmed or padded to the frames' duration. Returns the number of frames written."""
    from .video import Mp4Writer

    total = len(motion)
    samples = round(total / motion_code.VIDEO_FPS * sample_rate)

    def fitted(w) -> np.ndarray:
        w = np.asarray(torch.as_tensor(w).detach().float().cpu())
        return (
            w[..., :samples]
            if w.shape[-1] >= samples
            else np.pad(w, [(0, 0)] * (w.ndim - 1) + [(0, samples - w.shape[-1])])
        )

    sound = None if wave is None else (lambda: fitted(wave())) if callable(wave) else fitted(wave)
    batches = render_batches(portrait, motion, **kwargs)  # checks inputs before a file is opened
    with Mp4Writer(path, VIDEO_FPS, sound, sample_rate, overwrite=overwrite, metadata=metadata) as out:
        for chunk in batches:
            out.add(chunk)
            if callback is not None:
                callback(out.frames, total)
        return out.frames


def vocode_and_render_mp4(
    path: str | Path, vocoder, mel: torch.Tensor, portrait: np.ndarray, motion: np.ndarray | torch.Tensor, **kwargs
) -> tuple[torch.Tensor, int]:
    """`vocode` in a worker thread while `render_mp4` (same keyword arguments) renders and encodes the frames;
    the sound is muxed when both are done. On 2 cores this saves about a second per 15 s of speech: neither the
    vocoder nor the renderer and encoder keep both cores busy on their own. Returns the waveform and the number
    of frames written."""
    with ThreadPoolExecutor(1, thread_name_prefix="omnitalker-vocode") as pool:
        speech = pool.submit(vocode, vocoder, mel)
        try:
            frames = render_mp4(path, portrait, motion, speech.result, sample_rate=audio_lib.SAMPLE_RATE, **kwargs)
        except BaseException:
            speech.cancel()
            raise
        return speech.result(), frames
