"""A user's media file that FFmpeg cannot decode -> one `MediaError` (a ValueError) a creator can act on.

Every message names the file, says what is wrong (damaged, cut off, empty, unsupported codec, no video
stream, no audio track, no frames) and what to do; FFmpeg's own words follow in parentheses for whoever
has to dig further. Used by `video.read_video`, `audio.read_audio` / `load_audio` (hence every CLI verb
that reads media) and by the nodes' VIDEO conversion (`nodes/convert.py`).

    with reading(path, "video"):
        ...PyAV calls...        # av.error.FFmpegError -> MediaError
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

VIDEO_FIX = "Re-export it from your editor as H.264 MP4, or choose another file."
AUDIO_FIX = "Re-export it as WAV or MP3 (or a video with sound), or choose another file."
CUT_FIX = "Copy or export it again (H.264 MP4 for a video), or choose another file."

# The first bytes of containers FFmpeg reads: a file that starts like one of these but does not decode is a
# damaged or cut-off file of that kind, not a file of another kind.
_SIGNATURES = (
    (4, b"ftyp", "an MP4/MOV"),
    (0, b"\x1a\x45\xdf\xa3", "an MKV/WebM"),
    (0, b"RIFF", "an AVI/WAV"),
    (0, b"OggS", "an Ogg"),
    (0, b"fLaC", "a FLAC"),
    (0, b"ID3", "an MP3"),
)


class MediaError(ValueError):
    """A media file that cannot be used; the message says which file, what is wrong and what to do."""


def label(path, kind: str = "video") -> str:
    """What a message calls the file: the video 'clip.mp4', the audio file 'voice.wav' (no name: the video)."""
    what = "the video" if kind == "video" else "the audio file"
    return f"{what} '{Path(path).name}'" if isinstance(path, (str, Path)) else what


def _fix(kind: str) -> str:
    return VIDEO_FIX if kind == "video" else AUDIO_FIX


def container_kind(path) -> str | None:
    """The container the file's first bytes announce ("an MP4/MOV", "an MKV/WebM", ...), or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except (OSError, TypeError):
        return None
    for offset, magic, kind in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return None


def mp4_cut_off(path) -> bool:
    """True when an MP4/MOV file's top-level boxes run past the end of the file (or its index, the 'moov'
    box, is missing): the file was cut off while being copied, downloaded or exported."""
    try:
        size = Path(path).stat().st_size
        seen = set()
        with open(path, "rb") as f:
            pos = 0
            while pos + 8 <= size:
                f.seek(pos)
                head = f.read(16)
                box_size, box = int.from_bytes(head[:4], "big"), head[4:8]
                if box_size == 1 and len(head) >= 16:
                    box_size = int.from_bytes(head[8:16], "big")
                elif box_size == 0:  # runs to the end of the file
                    box_size = size - pos
                if box_size < 8:
                    return False  # not a box structure we understand: call it damaged, not cut off
                seen.add(box)
                if pos + box_size > size:
                    return True
                pos += box_size
        return b"moov" not in seen
    except OSError:
        return False


def unreadable(path, exc: BaseException, kind: str = "video") -> MediaError:
    """The message for an exception PyAV/FFmpeg raised while opening or decoding `path`."""
    import av

    what = label(path, kind)
    ffmpeg = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    tail = f"(FFmpeg: {ffmpeg})"
    is_file = isinstance(path, (str, Path)) and Path(path).is_file()
    if is_file and Path(path).stat().st_size == 0:
        return MediaError(f"{what} cannot be read: the file is empty (0 bytes). {CUT_FIX}")
    if isinstance(exc, av.error.DecoderNotFoundError):
        stream = "video" if kind == "video" else "audio"
        return MediaError(f"{what} cannot be read: its {stream} codec is not supported by FFmpeg {tail}. {_fix(kind)}")
    if isinstance(exc, av.error.PermissionError):
        return MediaError(f"{what} cannot be opened: permission denied {tail}. Check the file's permissions.")
    container = container_kind(path) if is_file else None
    if isinstance(exc, (av.error.InvalidDataError, av.error.EOFError)):
        if isinstance(exc, av.error.EOFError) or (container == "an MP4/MOV" and mp4_cut_off(path)):
            return MediaError(
                f"{what} cannot be read: the file is incomplete: it ends early, probably cut off while copying, "
                f"downloading or exporting {tail}. {CUT_FIX}"
            )
        if container:
            return MediaError(
                f"{what} cannot be read: the file is damaged (it starts like {container} file, but its "
                f"contents cannot be decoded) {tail}. {_fix(kind)}"
            )
        thing = "a video" if kind == "video" else "an audio or video file"
        return MediaError(f"{what} cannot be read: the file is damaged or is not {thing} {tail}. {_fix(kind)}")
    return MediaError(f"{what} cannot be read {tail}. {_fix(kind)}")


def no_video_stream(path, audio_tracks: int = 0) -> MediaError:
    has = (
        f"it holds only sound ({audio_tracks} audio track{'s' * (audio_tracks != 1)})"
        if audio_tracks
        else "it is not a video"
    )
    return MediaError(
        f"{label(path)} has no video stream: {has}. Choose a video that shows the speaker (e.g. an H.264 MP4)."
    )


def no_frames(path) -> MediaError:
    return MediaError(
        f"{label(path)} has no frames: its video stream is empty, or no frame of it could be decoded. {VIDEO_FIX}"
    )


def no_audio_track(path, kind: str = "audio") -> MediaError:
    """For callers that need sound (a video in the video role adds its own reason, e.g. Capture Style)."""
    return MediaError(
        f"{label(path, kind)} has no audio track (or an empty one). Choose a file with sound "
        "(WAV, MP3, or a video with sound)."
    )


@contextmanager
def reading(path, kind: str = "video"):
    """Turn PyAV/FFmpeg exceptions raised inside the block into `unreadable(path, e, kind)`."""
    import av

    try:
        yield
    except av.error.FFmpegError as e:
        raise unreadable(path, e, kind) from e


def check_video(path) -> None:
    """Open `path` as the nodes' VIDEO input does and raise the specific MediaError if it is not a usable
    video (cannot be read, no video stream, no decodable frame); returns when it is fine."""
    import av

    with reading(path, "video"), av.open(str(path)) as container:
        if not container.streams.video:
            raise no_video_stream(path, len(container.streams.audio))
        for _ in container.decode(container.streams.video[0]):
            return
    raise no_frames(path)
