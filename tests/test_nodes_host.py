"""The pack's nodes that need no model, run in the real host with stock nodes around them."""

from __future__ import annotations

import av
import pytest

from omnitalker_core.host import PromptRejected


def _mux_prompt(
    fps=25, duration=1.6, frames=30, length="match video to audio", save=True, prefix="omnitalker/mux_test"
):
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 96, "height": 64, "batch_size": frames, "color": 0x3366CC}},
        "2": {"class_type": "EmptyAudio", "inputs": {"duration": duration, "sample_rate": 24000, "channels": 1}},
        "3": {"class_type": "OmniTalkerMux", "inputs": {"images": ["1", 0], "audio": ["2", 0], "fps": fps,
                                                       "length": length, "save_mp4": save, "filename_prefix": prefix}},
    }  # fmt: skip


def _streams(path):
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        info = {"vcodec": v.codec_context.name, "acodec": a.codec_context.name, "fps": float(v.average_rate)}
        info["frames"] = sum(1 for _ in c.decode(video=0))
        c.seek(0)
        info["audio_seconds"] = sum(f.samples for f in c.decode(audio=0)) / a.rate
    return info


def test_mux_writes_h264_aac_matching_lengths_and_never_overwrites(comfy_host):
    first = comfy_host.run(_mux_prompt(), timeout=120)
    second = comfy_host.run(_mux_prompt(duration=1.61), timeout=120)  # changed input: runs again, new file
    (f1,) = comfy_host.output_files(first, suffix=".mp4")
    (f2,) = comfy_host.output_files(second, suffix=".mp4")
    assert f1 != f2 and f1.is_file() and f2.is_file()
    assert f1.parent == comfy_host.base / "output" / "omnitalker"
    info = _streams(f1)
    assert info["vcodec"] == "h264" and info["acodec"] == "aac"
    assert info["fps"] == pytest.approx(25)
    assert info["frames"] == 40  # 30 frames held to the audio's 1.6 s at 25 fps
    assert abs(info["audio_seconds"] - info["frames"] / 25) <= 1 / 25 + 0.03  # AAC pads up to one 1024-sample frame
    ui = first["outputs"]["3"]["omnitalker_video"][0]
    assert ui["type"] == "output" and ui["frames"] == 40


def test_mux_match_audio_to_video_and_temp_preview(comfy_host):
    entry = comfy_host.run(_mux_prompt(duration=3.0, frames=20, length="match audio to video", save=False), timeout=120)
    (path,) = comfy_host.output_files(entry, suffix=".mp4")
    assert path.parent.parent == comfy_host.base / "temp" or path.parent == comfy_host.base / "temp"
    info = _streams(path)
    assert info["frames"] == 20
    # 3 s of audio trimmed to the 20 frames' 0.8 s (AAC pads up to one 1024-sample frame)
    assert abs(info["audio_seconds"] - 20 / 25) <= 1 / 25 + 0.03, info


def test_mux_out_of_range_fps_is_rejected_on_the_mux_node(comfy_host):
    prompt = _mux_prompt()
    prompt["3"]["inputs"]["fps"] = 0.5  # below the schema's minimum
    with pytest.raises(PromptRejected) as err:
        comfy_host.queue(prompt)
    assert list(err.value.node_errors) == ["3"]
    assert comfy_host.alive()


def test_save_style_then_load_style(comfy_host):
    transcript = "The children walked along the river after school."
    capture = {
        "1": {"class_type": "LoadVideo", "inputs": {"file": "omnitalker_reference.mp4"}},
        "2": {"class_type": "OmniTalkerCaptureStyle",
              "inputs": {"video": ["1", 0], "fps": 25.0, "transcript": transcript, "max_seconds": 3.0,
                         "adapt_to_face": False}},
        "3": {"class_type": "OmniTalkerSaveStyle", "inputs": {"style": ["2", 0], "filename_prefix": "test/ref"}},
    }  # fmt: skip
    first = comfy_host.run(capture, timeout=300)
    capture["2"]["inputs"]["max_seconds"] = 2.5  # a new style, same prefix: a second file, the first one kept
    second = comfy_host.run(capture, timeout=300)
    (saved,) = first["outputs"]["3"]["omnitalker_style"]
    (again,) = second["outputs"]["3"]["omnitalker_style"]
    path = comfy_host.base / "output" / saved["subfolder"] / saved["filename"]
    path2 = comfy_host.base / "output" / again["subfolder"] / again["filename"]
    assert path.is_file() and path2.is_file() and path != path2

    name = saved["name"].removeprefix("omnitalker_styles/")
    assert (
        name
        in comfy_host.object_info(refresh=True)["OmniTalkerLoadStyle"]["input"]["required"]["style_name"][1]["options"]
    )
    load = {
        "1": {"class_type": "OmniTalkerLoadStyle", "inputs": {"style_name": name}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 2]}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["1", 1]}},
    }
    entry = comfy_host.run(load, timeout=120)
    assert entry["outputs"]["2"]["text"] == [transcript]
    (png,) = comfy_host.output_files(entry, node_id="3")
    from PIL import Image

    assert Image.open(png).size == (256, 256)  # the reference clip's portrait
