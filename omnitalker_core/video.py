"""Video file I/O through PyAV (FFmpeg inside the `av` wheel; no system FFmpeg, no torchcodec).

`read_video` decodes all frames (RGB uint8) and the audio track; `write_mp4` muxes uint8 frames
as H.264 (yuv420p, plays everywhere) with an optional mono/multi-channel float waveform as AAC.

Shape legend: f - frames, h w - size, c - audio channels, t - audio samples.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
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
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [F, H, W, 3], got {frames.dtype} {frames.shape}")
    if len(frames) == 0:
        raise ValueError("no frames to write")
    with Mp4Writer(path, fps, audio, sample_rate, overwrite=overwrite, crf=crf) as out:
        out.add(frames)
    return Path(path)


class Mp4Writer:
    """An mp4 written batch by batch, so a long video never has to be in memory at once:

        with Mp4Writer(path, 25, wave, 24000) as out:
            for batch in frames:      # uint8 [b, h, w, 3], all the same size
                out.add(batch)

    audio: float waveform in -1..1, [t] (mono) or [c, t], or None; it is muxed after the frames, so it may also
    be a callable that returns it then (e.g. a vocoder still running in a worker thread) with `audio_channels`
    saying how many channels it will have.

    Written to `<name>.part.mp4` and renamed on success; on an exception (including Ctrl-C) the part
    file is removed and nothing at `path` is touched. Refuses to replace a file unless overwrite."""

    def __init__(
        self,
        path: str | Path,
        fps: float,
        audio: np.ndarray | Callable[[], np.ndarray] | None = None,
        sample_rate: int = 24000,
        *,
        audio_channels: int | None = None,
        overwrite: bool = False,
        crf: int = 20,
        metadata: dict | None = None,
    ):
        self.path = Path(path)
        self.metadata = metadata  # container tags (ComfyUI's prompt/workflow); non-strings as JSON
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} exists; pass overwrite=True (or --overwrite) to replace it")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if callable(audio):
            self.channels = audio_channels or 1
        elif audio is not None:
            audio = _audio_array(audio)
            self.channels = audio.shape[0]
        self.audio, self.sample_rate = audio, int(sample_rate)
        self.fps, self.crf = fps, crf
        self.frames = 0
        self._size: tuple[int, int] | None = None  # (h, w) of the input frames
        self._tmp = self.path.with_name(self.path.name + ".part.mp4")
        self._out = self._video = self._sound = None

    def __enter__(self) -> Mp4Writer:
        import av

        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.metadata:  # MP4 keeps arbitrary tags only with use_metadata_tags, as ComfyUI's SaveVideo writes them
            self._out = av.open(str(self._tmp), mode="w", format="mp4", options={"movflags": "use_metadata_tags"})
            for key, value in self.metadata.items():
                self._out.metadata[key] = value if isinstance(value, str) else json.dumps(value)
        else:
            self._out = av.open(str(self._tmp), mode="w")
        return self

    def add(self, frames: np.ndarray) -> None:
        """Encode a batch of uint8 RGB frames [b, h, w, 3] (or one frame [h, w, 3])."""
        import av

        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 [F, H, W, 3], got {frames.dtype} {frames.shape}")
        h, w = frames.shape[1:3]
        if self._size is None:
            self._size = (h, w)
            self._video = self._out.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
            self._video.width, self._video.height, self._video.pix_fmt = w + w % 2, h + h % 2, "yuv420p"
            self._video.options = {"crf": str(self.crf), "preset": "veryfast"}
            if self.audio is not None:  # every stream must exist before the first packet is written
                layout = "mono" if self.channels == 1 else "stereo"
                self._sound = self._out.add_stream("aac", rate=self.sample_rate, layout=layout)
        elif (h, w) != self._size:
            raise ValueError(f"every frame must be {self._size[1]}x{self._size[0]}, got {w}x{h}")
        if h % 2 or w % 2:  # yuv420p needs even sizes: repeat the last row/column
            frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        for img in frames:
            for packet in self._video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                self._out.mux(packet)
        self.frames += len(frames)

    def _finish(self) -> None:
        import av

        if self.frames == 0:
            raise ValueError("no frames to write")
        for packet in self._video.encode():
            self._out.mux(packet)
        if self._sound is not None:
            stream, rate, layout = self._sound, self.sample_rate, self._sound.layout.name
            audio = _audio_array(self.audio()) if callable(self.audio) else self.audio
            if audio.shape[0] != self.channels:
                raise ValueError(f"the audio has {audio.shape[0]} channels, {self.channels} were announced")
            a = np.clip(audio[:2] if audio.shape[0] > 2 else audio, -1, 1)
            hop = 1024
            for i in range(0, a.shape[1], hop):
                fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(a[:, i : i + hop]), format="fltp", layout=layout)
                fr.sample_rate, fr.pts = rate, i
                for packet in stream.encode(fr):
                    self._out.mux(packet)
            for packet in stream.encode():
                self._out.mux(packet)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            try:
                if exc_type is None:
                    self._finish()
            finally:
                self._out.close()  # also when finishing failed (late sound of the wrong shape, no frames)
            if exc_type is None:
                self._tmp.replace(self.path)
        finally:
            if self._tmp.exists():
                self._tmp.unlink()


def _audio_array(audio) -> np.ndarray:
    """float32 [channels, samples] from [samples] or [channels, samples]."""
    audio = np.asarray(audio, dtype=np.float32)
    audio = audio[None] if audio.ndim == 1 else audio
    if audio.ndim != 2 or audio.shape[0] > 8:
        raise ValueError(f"audio must be [samples] or [channels, samples], got shape {audio.shape}")
    return audio
