"""A user's media that FFmpeg cannot decode: every failure is one message that names the file, says what is
wrong and what to do (omnitalker_core.media_errors), through read_video / read_audio / load_audio, the CLI
and the nodes' VIDEO conversion. The broken files are real files built here, not mocks of PyAV."""

from __future__ import annotations

import importlib.util

import av
import numpy as np
import pytest
from conftest import REPO

from omnitalker_core.__main__ import main
from omnitalker_core.audio import load_audio, read_audio
from omnitalker_core.media_errors import MediaError
from omnitalker_core.video import read_video, write_mp4

SR = 24000
FIX = "Re-export it from your editor as H.264 MP4, or choose another file."


def _good(path, audio=True):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (12, 64, 64, 3), dtype=np.uint8)
    wave = (0.3 * np.sin(np.arange(SR) / 10)).astype(np.float32) if audio else None
    return write_mp4(path, frames, 25, wave, SR)


def _audio_stream(out) -> None:
    s = out.add_stream("aac", rate=SR, layout="mono")
    wave = (0.3 * np.sin(np.arange(SR) / 10)).astype(np.float32)
    for i in range(0, SR, 1024):
        fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave[None, i : i + 1024]), format="fltp", layout="mono")
        fr.sample_rate, fr.pts = SR, i
        for p in s.encode(fr):
            out.mux(p)
    for p in s.encode():
        out.mux(p)


@pytest.fixture
def broken(tmp_path):
    """name -> path of each kind of broken file."""
    files = {}
    files["random"] = tmp_path / "random.mp4"
    files["random"].write_bytes(np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    good = _good(tmp_path / "good.mp4").read_bytes()
    files["truncated"] = tmp_path / "truncated.mp4"
    files["truncated"].write_bytes(good[: int(len(good) * 0.3)])
    files["empty"] = tmp_path / "empty.mp4"
    files["empty"].write_bytes(b"")
    # the H.264 sample entry renamed to a codec FFmpeg has no decoder for (the audio track stays fine)
    entry = good.index(b"avc1", good.index(b"stsd"))  # the sample entry (not the 'avc1' brand in ftyp)
    files["codec"] = tmp_path / "codec.mp4"
    files["codec"].write_bytes(good[:entry] + b"zzzz" + good[entry + 4 :])
    files["audio_only"] = tmp_path / "voice.m4a"
    with av.open(str(files["audio_only"]), "w", format="mp4") as out:
        _audio_stream(out)
    files["no_frames"] = tmp_path / "no_frames.mkv"  # a video stream that never gets a packet, plus sound
    with av.open(str(files["no_frames"]), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
        _audio_stream(out)
    files["silent"] = _good(tmp_path / "silent.mp4", audio=False)
    return files


def _message(fn, path) -> str:
    with pytest.raises(MediaError) as err:
        fn(path)
    assert isinstance(err.value, ValueError)  # the CLI and the nodes report ValueErrors as messages
    return str(err.value)


def test_corrupt_file(broken):
    msg = _message(read_video, broken["random"])
    assert msg == (
        "the video 'random.mp4' cannot be read: the file is damaged or is not a video "
        f"(FFmpeg: Invalid data found when processing input). {FIX}"
    )
    msg = _message(load_audio, broken["random"])
    assert msg.startswith("the audio file 'random.mp4' cannot be read: the file is damaged or is not an audio")
    assert "Re-export it as WAV or MP3" in msg and "Errno" not in msg


def test_truncated_file(broken):
    msg = _message(read_video, broken["truncated"])
    assert msg.startswith("the video 'truncated.mp4' cannot be read: the file is incomplete: it ends early"), msg
    assert "cut off while copying, downloading or exporting" in msg and "Copy or export it again" in msg
    assert "incomplete" in _message(read_audio, broken["truncated"])


def test_empty_file(broken):
    assert "the video 'empty.mp4' cannot be read: the file is empty (0 bytes)" in _message(read_video, broken["empty"])


def test_unsupported_codec(broken):
    msg = _message(read_video, broken["codec"])
    assert msg == (
        "the video 'codec.mp4' cannot be read: its video codec is not supported by FFmpeg "
        f"(FFmpeg: Decoder not found). {FIX}"
    )


def test_no_video_stream(broken):
    msg = _message(read_video, broken["audio_only"])
    assert msg == (
        "the video 'voice.m4a' has no video stream: it holds only sound (1 audio track). "
        "Choose a video that shows the speaker (e.g. an H.264 MP4)."
    )
    wave, rate = load_audio(broken["audio_only"])  # as audio it is fine
    assert rate == SR and wave.shape[-1] > SR // 2


def test_no_frames(broken):
    msg = _message(read_video, broken["no_frames"])
    assert msg == (
        f"the video 'no_frames.mkv' has no frames: its video stream is empty, or no frame of it could be decoded. {FIX}"
    )


def test_no_audio_track(broken):
    assert read_audio(broken["silent"]) == (None, 0)
    msg = _message(load_audio, broken["silent"])
    assert msg == (
        "the audio file 'silent.mp4' has no audio track (or an empty one). "
        "Choose a file with sound (WAV, MP3, or a video with sound)."
    )


def test_cli_verbs_print_the_message_not_a_traceback(broken, tmp_path, capsys):
    assert main(["track", str(broken["random"]), "--out", str(tmp_path / "m.csv")]) == 1
    err = capsys.readouterr().err
    assert "error: the video 'random.mp4' cannot be read: the file is damaged or is not a video" in err
    assert "Traceback" not in err
    assert main(["track", str(broken["audio_only"]), "--out", str(tmp_path / "m.csv")]) == 1
    assert "error: the video 'voice.m4a' has no video stream" in capsys.readouterr().err


def test_node_conversion_of_a_host_video(broken):
    """nodes/convert.video_components with a stand-in for Load Video's VideoFromFile (same two methods)
    whose decoding fails the way the host's does (PyAV, same file): the node's message is ours."""
    spec = importlib.util.spec_from_file_location("omnitalker_nodes_convert_media", REPO / "nodes" / "convert.py")
    convert = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(convert)

    class FileVideo:  # the part of comfy_api's VideoFromFile that video_components uses
        def __init__(self, path):
            self.path = str(path)

        def get_stream_source(self):
            return self.path

        def get_components(self):
            with av.open(self.path) as c:
                return list(c.decode(video=0))  # raises like VideoFromFile.get_components_internal

    for kind, expect in [
        ("random", "the video 'random.mp4' cannot be read: the file is damaged or is not a video"),
        ("truncated", "the video 'truncated.mp4' cannot be read: the file is incomplete"),
        ("codec", "the video 'codec.mp4' cannot be read: its video codec is not supported"),
        ("audio_only", "the video 'voice.m4a' has no video stream: it holds only sound"),
    ]:
        with pytest.raises(ValueError) as err:
            convert.video_components(FileVideo(broken[kind]), "Capture Style")
        assert str(err.value).startswith(f"Capture Style: {expect}"), str(err.value)
