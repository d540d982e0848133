"""Capture Style: a reference clip -> what the generator copies in context (paper: no style encoder;
the reference mel and motion codes are the prompt that the target is infilled after).

A `Style` holds the reference mel [n, 100] (Vocos feature) and motion codes on the same mel frames [n, 61],
the reference transcript, the portrait frame the renderer animates, and the reference audio (24 kHz); a
model with another mel feature gets both from `conditioning(spec)`, computed from the audio. It saves
to / loads from one safetensors file so a captured voice + face can be reused without the video.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

from . import audio as audio_lib
from . import motion as motion_code
from .checkpoints import atomic_save_file

if TYPE_CHECKING:
    from .face.adaptation import AdaptConfig

log = logging.getLogger(__name__)

STYLE_FORMAT = "omnitalker-style"
MIN_SECONDS = 1.0


@dataclass
class Style:
    ref_mel: torch.Tensor  # n 100 log-mel
    ref_motion: torch.Tensor | None  # n 61 raw codes on mel frames; None for a voice-only reference
    transcript: str
    portrait: np.ndarray | None  # h w 3 uint8, the frame the renderer animates
    ref_audio: torch.Tensor  # T mono, 24 kHz
    mel_spec: str = audio_lib.DEFAULT_MEL_SPEC  # the feature of ref_mel, and the frame rate of ref_motion

    @property
    def num_frames(self) -> int:
        return self.ref_mel.shape[0]

    @property
    def seconds(self) -> float:
        return self.ref_audio.numel() / audio_lib.SAMPLE_RATE

    def conditioning(self, spec: audio_lib.MelSpec) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Reference mel [n, n_mels] in the features of `spec` and motion [n, 61] on its frames."""
        if spec.name == self.mel_spec:
            return self.ref_mel, self.ref_motion
        mel = spec.features(self.ref_audio.float()).T.contiguous()  # n n_mels
        motion = None
        if self.ref_motion is not None:
            own_fps = audio_lib.mel_spec(self.mel_spec).fps
            motion = motion_code.resample(self.ref_motion.float(), own_fps, spec.fps, mel.shape[0])
        return mel, motion

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; choose another name")
        tensors = {"ref_mel": self.ref_mel.float().contiguous(), "ref_audio": self.ref_audio.float().contiguous()}
        if self.ref_motion is not None:
            tensors["ref_motion"] = self.ref_motion.float().contiguous()
        if self.portrait is not None:
            tensors["portrait"] = torch.from_numpy(np.ascontiguousarray(self.portrait))
        atomic_save_file(
            tensors, path, {"format": STYLE_FORMAT, "transcript": self.transcript, "mel_spec": self.mel_spec}
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> Style:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"style file not found: {path}")
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                t = {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError) as e:
            raise ValueError(f"{path.name}: not a readable style file (corrupt?): {e}") from e
        if meta.get("format") != STYLE_FORMAT or "ref_mel" not in t:
            raise ValueError(f"{path.name} is not an OmniTalker style file (save one with Save Style)")
        portrait = t["portrait"].numpy() if "portrait" in t else None
        spec = meta.get("mel_spec", audio_lib.DEFAULT_MEL_SPEC)
        if spec not in audio_lib.MEL_SPECS:
            raise ValueError(f"{path.name}: mel feature {spec!r} is unknown to this version")
        return cls(t["ref_mel"], t.get("ref_motion"), meta.get("transcript", ""), portrait, t["ref_audio"], spec)


def _to_uint8(frames) -> np.ndarray:
    x = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"reference frames must be [frames, height, width, 3], got shape {tuple(x.shape)}")
    if x.dtype != np.uint8:
        x = (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return x


def capture_style(
    audio: torch.Tensor,
    sample_rate: int,
    frames=None,
    fps: float = motion_code.VIDEO_FPS,
    transcript: str | None = None,
    max_seconds: float = 10.0,
    callback: Callable[[int, int], None] | None = None,
    adapt: AdaptConfig | None = None,
) -> Style:
    """Reference audio ([C, T] or [T]) and optional video frames ([F, H, W, 3], uint8 or 0..1 float)
    -> Style. The paper trims references to 1..10 s; an empty transcript is transcribed offline.
    adapt: track the face with the appearance reader adapted to it (`face.adaptation`, which states its cost),
    so its lips, brows and gaze read at the size the renderer draws them."""
    if audio is None or torch.as_tensor(audio).numel() == 0:
        raise ValueError("the reference has no audio: use a clip with the speaker's voice (a video with a sound track)")
    wave = audio_lib.prepare(torch.as_tensor(audio), sample_rate)
    if max_seconds > 0:
        wave = wave[: int(max_seconds * audio_lib.SAMPLE_RATE)]
    seconds = wave.numel() / audio_lib.SAMPLE_RATE
    if seconds < MIN_SECONDS:
        raise ValueError(
            f"the reference audio is {seconds:.2f} s long; at least {MIN_SECONDS:.0f} s of speech is needed"
        )
    if float(wave.abs().max()) < 1e-3:
        raise ValueError("the reference audio is silent: use a clip in which the person speaks")
    mel = audio_lib.log_mel(wave).T.contiguous()  # n 100
    # adaptation reports its own steps (render, epochs, check) between tracking's start and end
    extra = adapt.steps if frames is not None and adapt is not None else 0
    steps = (3 if frames is not None else 2) + extra
    if callback:
        callback(1, steps)

    ref_motion, portrait = None, None
    if frames is not None:
        from .face.tracker import track_frames

        video = _to_uint8(frames)
        if fps <= 0:
            raise ValueError(f"reference video fps must be positive, got {fps}")
        video = video[: max(1, int(round(seconds * fps)))]
        inner = (lambda i, n: callback(1 + i, steps)) if callback else None
        result = track_frames(video, fps=fps, adapt=adapt, callback=inner)
        ref_motion = motion_code.resample(torch.from_numpy(result.codes), fps, audio_lib.MEL_FPS, mel.shape[0])
        portrait = video[int(np.argmax(result.found))] if result.found.any() else video[0]
        if callback:
            callback(2 + extra, steps)

    if transcript is None or not transcript.strip():
        from .asr import transcribe

        transcript = transcribe(wave, audio_lib.SAMPLE_RATE)
        log.info("reference transcribed: %r", transcript)
        if not transcript.strip():
            raise ValueError("no speech recognised in the reference audio: type the reference transcript")
    if callback:
        callback(steps, steps)
    return Style(
        ref_mel=mel, ref_motion=ref_motion, transcript=" ".join(transcript.split()), portrait=portrait, ref_audio=wave
    )
