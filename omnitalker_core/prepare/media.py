"""What `prepare` reads from a video file: a cheap probe (streams, frame timing) and the frames of the
utterances only, decoded in one streaming pass.

Why not `video.read_video`: it holds every frame of a file in memory (an hour of 1080p is ~560 GB); here
only the frames inside the current utterance are kept, downscaled so the long side is at most `MAX_SIDE`
pixels (the face models work on 128-192 px crops, so more pixels only cost time). The audio track comes
from `audio.read_audio`; every FFmpeg failure becomes a `media_errors.MediaError` with its user-facing message.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import media_errors

MAX_SIDE = 640
# Variable frame rate: more than VFR_FRACTION of the frame intervals differ from the median interval by more
# than VFR_TOLERANCE of it (a few dropped or duplicated frames pass; real VFR from phones and screen recorders,
# which would put the motion codes at the wrong times, does not).
VFR_TOLERANCE = 0.25
VFR_FRACTION = 0.05


@dataclass(frozen=True)
class Probe:
    width: int
    height: int
    fps: float  # from the frame timestamps (1 / median interval), else the stream's rate
    frames: int  # video frames (packets with a timestamp)
    video_start: float  # seconds, container timeline
    audio_start: float  # seconds, container timeline (0 when there is no audio)
    has_audio: bool
    duration: float  # seconds (container; else from the frames)
    vfr: str  # "" for constant frame rate, else what is irregular

    @property
    def scale(self) -> float:
        """Factor from the file's pixels to the decoded frames' pixels."""
        return min(1.0, MAX_SIDE / max(self.width, self.height, 1))


def probe(path: str | Path) -> Probe:
    """Streams and frame timing without decoding (demuxing only). MediaError when FFmpeg cannot read it."""
    import av

    path = Path(path)
    with media_errors.reading(path, "video"), av.open(str(path)) as container:
        if not container.streams.video:
            raise media_errors.no_video_stream(path, len(container.streams.audio))
        vs = container.streams.video[0]
        tb = float(vs.time_base) if vs.time_base else 1.0 / 90000
        pts = [p.pts for p in container.demux(vs) if p.pts is not None]
        audio = container.streams.audio[0] if container.streams.audio else None
        a_start = float(audio.start_time * audio.time_base) if audio is not None and audio.start_time else 0.0
        width, height = vs.codec_context.width, vs.codec_context.height
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        duration = float(container.duration) / 1e6 if container.duration else 0.0
    if not pts:
        raise media_errors.no_frames(path)
    times = np.unique(np.asarray(pts, np.float64)) * tb
    vfr = ""
    fps = float(rate) if rate else 25.0
    if times.size > 2:
        step = np.diff(times)
        med = float(np.median(step))
        off = np.abs(step - med) > VFR_TOLERANCE * med
        if med > 0 and abs(fps * med - 1) > 0.01:  # the stream's nominal rate when the timestamps agree with it
            fps = 1.0 / med
        if off.mean() > VFR_FRACTION:
            vfr = (
                f"{off.mean():.0%} of its frame intervals differ from the usual {med * 1000:.1f} ms by more than "
                f"{VFR_TOLERANCE:.0%} (intervals {step.min() * 1000:.1f}-{step.max() * 1000:.1f} ms)"
            )
    return Probe(
        width=int(width),
        height=int(height),
        fps=fps,
        frames=int(times.size),
        video_start=float(times[0]),
        audio_start=a_start,
        has_audio=audio is not None,
        duration=duration or float(times[-1] - times[0]) + 1 / fps,
        vfr=vfr,
    )


def frames_in_windows(
    path: str | Path, windows: list[tuple[float, float]], scale: float
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """One decoding pass; yields (window index, frames uint8 [f, h, w, 3], frame times [f]) for every window
    [start, end) (seconds, container timeline, sorted, not overlapping), in order, as soon as it is complete.
    A window without frames yields an empty array.

    The frames are a view of one buffer that is reused for the next window (fresh memory for every utterance
    cost more than decoding it in our measurements): use them before asking for the next window."""
    import av

    path = Path(path)
    if not windows:
        return
    k, count = 0, 0
    buf = np.zeros((0, 1, 1, 3), np.uint8)
    times: list[float] = []

    def flush():
        nonlocal count, times
        out = (k, buf[:count], np.asarray(times, np.float64))
        count, times = 0, []
        return out

    with media_errors.reading(path, "video"), av.open(str(path)) as container:
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        tb = float(vs.time_base) if vs.time_base else 1.0 / 90000
        size = None
        for frame in container.decode(vs):
            if frame.pts is None:
                continue
            t = frame.pts * tb
            while k < len(windows) and t >= windows[k][1]:
                yield flush()
                k += 1
            if k == len(windows):
                break
            if t < windows[k][0]:
                continue
            if size is None:
                w, h = frame.width, frame.height
                size = (max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2)) if scale < 1 else (w, h)
            if size == (frame.width, frame.height):
                img = frame.to_ndarray(format="rgb24")
            else:
                img = frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
            if count == len(buf) or buf.shape[1:3] != img.shape[:2]:
                grown = np.empty((max(16, 2 * len(buf)), *img.shape), np.uint8)
                grown[:count] = buf[:count]
                buf = grown
            buf[count] = img
            count += 1
            times.append(t)
    while k < len(windows):
        yield flush()
        k += 1
