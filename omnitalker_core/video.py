"""Video file I/O through PyAV (FFmpeg inside the `av` wheel; no system FFmpeg, no torchcodec).

`read_video` decodes all frames (RGB uint8) and the audio track; `write_mp4` muxes uint8 frames
as H.264 (yuv420p, plays everywhere) with an optional mono/multi-channel float waveform as AAC.

Shape legend: f - frames, h w - size, c - audio channels, t - audio samples.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import numpy as np

from . import media_errors
from .audio import read_audio

log = logging.getLogger(__name__)


def read_video(path: str | Path, max_frames: int | None = None) -> tuple[np.ndarray, float, np.ndarray | None, int]:
    """Decode a video file; a file that cannot be used raises `media_errors.MediaError` (a ValueError
    that names the file, what is wrong and what to do).

    Returns frames uint8 [f, h, w, 3] (RGB), fps, audio float32 [c, t] in -1..1 (None if the
    file has no audio track) and the audio sample rate (0 without audio)."""
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    frames: list[np.ndarray] = []
    with media_errors.reading(path, "video"), av.open(str(path)) as container:  # FFmpeg errors -> MediaError
        if not container.streams.video:
            raise media_errors.no_video_stream(path, len(container.streams.audio))
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        fps = float(rate) if rate else 25.0
        for frame in container.decode(vs):
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames is not None and len(frames) >= max_frames:
                break
    if not frames:
        raise media_errors.no_frames(path)
    audio, sr = read_audio(path, kind="video")  # the one audio decoder, in audio.py
    return np.stack(frames), fps, audio, sr


def write_mp4(
    path: str | Path,
    frames: np.ndarray,
    fps: float,
    audio: np.ndarray | None = None,
    sample_rate: int = 24000,
    overwrite: bool = False,
    crf: int = 20,
) -> Path:
    """Write uint8 frames [f, h, w, 3] as H.264/yuv420p mp4, plus AAC audio if given.

    audio: float waveform in -1..1, [t] (mono) or [c, t]. Odd frame sizes are padded by one
    pixel (yuv420p needs even sizes). Refuses to replace an existing file unless overwrite."""
    import av

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (or --overwrite) to replace it")
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [F, H, W, 3], got {frames.dtype} {frames.shape}")
    if len(frames) == 0:
        raise ValueError("no frames to write")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    h, w = frames.shape[1:3]
    ph, pw = h % 2, w % 2
    if ph or pw:
        frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    if audio is not None:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 1:
            audio = audio[None]
        if audio.ndim != 2 or audio.shape[0] > 8:
            raise ValueError(f"audio must be [samples] or [channels, samples], got shape {audio.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    tmp = path.with_name(path.name + ".part.mp4")
    try:
        with av.open(str(tmp), mode="w") as out:
            vs = out.add_stream("libx264", rate=rate)
            vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
            vs.options = {"crf": str(crf), "preset": "veryfast"}
            ast = None
            if audio is not None:
                layout = "mono" if audio.shape[0] == 1 else "stereo"
                ast = out.add_stream("aac", rate=int(sample_rate), layout=layout)
            for img in frames:
                for packet in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(packet)
            for packet in vs.encode():
                out.mux(packet)
            if ast is not None:
                a = np.clip(audio[:2] if audio.shape[0] > 2 else audio, -1, 1)
                hop = 1024
                for i in range(0, a.shape[1], hop):
                    chunk = np.ascontiguousarray(a[:, i : i + hop])
                    fr = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=ast.layout.name)
                    fr.sample_rate = int(sample_rate)
                    fr.pts = i
                    for packet in ast.encode(fr):
                        out.mux(packet)
                for packet in ast.encode():
                    out.mux(packet)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
