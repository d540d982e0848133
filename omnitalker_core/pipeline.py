"""End to end: model + style + text -> mel and 25 fps motion -> waveform -> frames -> mp4.

Long text is split into sentences grouped into chunks that fit the model's length; every chunk is
generated after the same reference (continuous voice) and the motion is cross-faded across chunk
boundaries (continuous head motion).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from omnitalker_core import audio as audio_lib
from omnitalker_core import motion as motion_code
from omnitalker_core.checkpoints import OmniTalkerBundle
from omnitalker_core.style import Style
from omnitalker_core.text.tokenizer import MAX_FRAMES, check_text

log = logging.getLogger(__name__)

Callback = Callable[[int, int], None]
MAX_CHUNK_SECONDS = 12.0  # target speech per chunk; the paper trains on references of 1..10 s
MAX_TEXT_CHARS = 20_000  # ~20 minutes of speech; beyond that, split the job


@dataclass
class Generation:
    mel: torch.Tensor  # n 100, target speech only
    motion: torch.Tensor  # f 61 at 25 fps, target only
    text: str
    chunks: list[str]

    @property
    def seconds(self) -> float:
        return self.mel.shape[0] * audio_lib.HOP_LENGTH / audio_lib.SAMPLE_RATE

    @property
    def num_video_frames(self) -> int:
        return video_frames_for(self.mel.shape[0])


def video_frames_for(mel_frames: int, fps: float = motion_code.VIDEO_FPS) -> int:
    return max(1, round(mel_frames * audio_lib.HOP_LENGTH / audio_lib.SAMPLE_RATE * fps))


def split_sentences(text: str, max_chars: int) -> list[str]:
    """Sentences (., !, ?, CJK stops, line breaks) grouped greedily into chunks of <= max_chars;
    an over-long sentence is cut at commas, then at spaces."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?。！？;；])\s+|\n+", text) if s.strip()]
    pieces: list[str] = []
    for s in sentences:
        while len(s) > max_chars:
            cut = max(s.rfind(",", 0, max_chars), s.rfind(" ", 0, max_chars))
            cut = cut if cut > max_chars // 3 else max_chars
            pieces.append(s[: cut + 1].strip())
            s = s[cut + 1 :].strip()
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


def _crossfade_concat(parts: list[torch.Tensor], overlap: int = 6) -> torch.Tensor:
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
    steps: int = 16,
    cfg_audio: float = 2.0,
    cfg_motion: float = 2.5,
    speed: float = 1.0,
    sway: float = -1.0,
    callback: Callback | None = None,
) -> Generation:
    """Speech mel + motion for `text` in the voice and manner of `style`. `callback(step, total)` runs
    after every ODE step; raise inside it to cancel."""
    text = check_text(text, "text")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"text has {len(text)} characters; at most {MAX_TEXT_CHARS} per run: split it into parts")
    if not style.transcript.strip():
        raise ValueError("the style has no reference transcript: capture it again with the transcript typed")
    ref_seconds = style.seconds
    room = MAX_FRAMES / audio_lib.MEL_FPS - ref_seconds - 1.0
    max_chars = max(40, int(_chars_per_second(style) * min(MAX_CHUNK_SECONDS, room) * speed))
    chunks = split_sentences(text, max_chars)
    flow, tok = bundle.flow, bundle.tokenizer
    total = steps * len(chunks)
    mels, motions = [], []
    for i, chunk in enumerate(chunks):
        inp = tok.build(style.transcript, chunk, style.num_frames, speed=speed)

        def chunk_cb(step: int, _n: int, base: int = i * steps) -> None:
            if callback is not None:
                callback(base + step, total)

        out = flow.sample(
            style.ref_mel[None], inp.ids[None], inp.duration,
            ref_motion=None if style.ref_motion is None else style.ref_motion[None],
            steps=steps, cfg_audio=cfg_audio, cfg_motion=cfg_motion, sway=sway, seed=seed + i, callback=chunk_cb,
        )  # fmt: skip
        n_ref = style.num_frames
        mel = out.mel[0, n_ref:].float().cpu()
        mels.append(mel)
        codes = motion_code.to_video_rate(out.motion[0, n_ref:].float().cpu(), video_frames_for(mel.shape[0]))
        motions.append(motion_code.clamp_valid(codes))
    return Generation(mel=torch.cat(mels), motion=_crossfade_concat(motions), text=text, chunks=chunks)


def vocode(vocoder, mel: torch.Tensor) -> torch.Tensor:
    """n 100 log-mel -> T waveform (24 kHz), length n * hop so it matches the video duration."""
    wave = vocoder.decode(mel.T[None])[0].float().cpu()
    target = mel.shape[0] * audio_lib.HOP_LENGTH
    if wave.numel() < target:
        wave = torch.nn.functional.pad(wave, (0, target - wave.numel()))
    return wave[:target]


def portrait_of(style: Style) -> np.ndarray:
    if style.portrait is None:
        raise ValueError("this style has no portrait (captured from audio only): connect a portrait IMAGE to render")
    return style.portrait
