"""The harness itself, proven with stock nodes only, plus: the pack's nodes register in the real host."""

from __future__ import annotations

import socket
import subprocess
import sys

import av
import numpy as np
import pytest
from conftest import EXPECTED_NODE_IDS, requires_pack

from omnitalker_core.host import ExecutionFailed, PromptRejected, process, start_host, ui_to_api, workflow_assets

# A UI-format workflow as the frontend saves it: EmptyImage + EmptyAudio -> CreateVideo(25 fps) -> SaveVideo(mp4,
# h264), with a Note node that must not be sent.
STOCK_WORKFLOW = {
    "last_node_id": 5,
    "last_link_id": 3,
    "nodes": [
        {"id": 1, "type": "EmptyImage", "mode": 0, "inputs": [],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}],
         "widgets_values": [64, 48, 50, 16711680]},
        {"id": 2, "type": "EmptyAudio", "mode": 0, "inputs": [],
         "outputs": [{"name": "AUDIO", "type": "AUDIO", "links": [2]}],
         "widgets_values": [2.0, 44100, 2]},
        {"id": 3, "type": "CreateVideo", "mode": 0,
         "inputs": [{"name": "images", "type": "IMAGE", "link": 1}, {"name": "audio", "type": "AUDIO", "link": 2}],
         "outputs": [{"name": "VIDEO", "type": "VIDEO", "links": [3]}],
         "widgets_values": [25]},
        {"id": 4, "type": "SaveVideo", "mode": 0,
         "inputs": [{"name": "video", "type": "VIDEO", "link": 3}],
         "outputs": [], "widgets_values": ["video/harness", "mp4", "h264"]},
        {"id": 5, "type": "Note", "mode": 0, "inputs": [], "outputs": [], "widgets_values": ["a note, not sent"]},
    ],
    "links": [[1, 1, 0, 3, 0, "IMAGE"], [2, 2, 0, 3, 1, "AUDIO"], [3, 3, 0, 4, 0, "VIDEO"]],
    "groups": [], "config": {}, "extra": {}, "version": 0.4,
}  # fmt: skip


def test_object_info_lists_stock_media_nodes(comfy_host):
    info = comfy_host.object_info()
    for node in ("LoadVideo", "CreateVideo", "SaveVideo", "GetVideoComponents", "LoadAudio", "SaveAudio", "EmptyImage"):
        assert node in info, f"{node} missing from /object_info"
    assert len(info) > 400


def test_ui_to_api_maps_widgets_links_and_skips_notes(comfy_host):
    prompt = comfy_host.ui_to_api(STOCK_WORKFLOW)
    assert set(prompt) == {"1", "2", "3", "4"}, "the Note node must not be sent"
    assert prompt["1"]["inputs"] == {"width": 64, "height": 48, "batch_size": 50, "color": 16711680}
    assert prompt["2"]["inputs"] == {"duration": 2.0, "sample_rate": 44100, "channels": 2}
    assert prompt["3"]["inputs"] == {"images": ["1", 0], "fps": 25, "audio": ["2", 0]}
    assert prompt["4"]["inputs"] == {
        "video": ["3", 0],
        "filename_prefix": "video/harness",
        "format": "mp4",
        "codec": "h264",
    }


def test_ui_to_api_seed_control_value_is_skipped():
    # KSampler: seed is followed by its hidden "control_after_generate" value in widgets_values.
    info = {
        "KSampler": {
            "input": {"required": {
                "model": ["MODEL", {}], "seed": ["INT", {"default": 0, "control_after_generate": True}],
                "steps": ["INT", {}], "cfg": ["FLOAT", {}], "sampler_name": [["euler", "ddim"], {}],
                "scheduler": [["normal"], {}], "positive": ["CONDITIONING", {}], "negative": ["CONDITIONING", {}],
                "latent_image": ["LATENT", {}], "denoise": ["FLOAT", {}]}},
            "input_order": {"required": ["model", "seed", "steps", "cfg", "sampler_name", "scheduler",
                                         "positive", "negative", "latent_image", "denoise"]},
        },
        "PrimitiveInt": {"input": {"required": {"value": ["INT", {}]}}, "input_order": {"required": ["value"]}},
    }  # fmt: skip
    wf = {
        "nodes": [
            {"id": 7, "type": "KSampler", "inputs": [
                {"name": "model", "type": "MODEL", "link": None},
                {"name": "steps", "type": "INT", "widget": {"name": "steps"}, "link": 11},
                {"name": "cfg", "type": "FLOAT", "widget": {"name": "cfg"}, "link": 12}],
             "widgets_values": [1234, "randomize", 20, 8.0, "ddim", "normal", 0.75]},
            {"id": 8, "type": "PrimitiveNode", "outputs": [{"type": "INT", "links": [11]}], "widgets_values": [30, "fixed"]},
            {"id": 9, "type": "PrimitiveInt", "outputs": [{"type": "INT", "links": [13]}], "widgets_values": [5]},
            {"id": 10, "type": "Reroute", "inputs": [{"name": "", "type": "*", "link": 13}], "outputs": [{"links": [12]}]},
            {"id": 11, "type": "MarkdownNote", "widgets_values": ["# doc"]},
        ],
        "links": [[11, 8, 0, 7, 2, "INT"], [13, 9, 0, 10, 0, "INT"], [12, 10, 0, 7, 3, "FLOAT"]],
    }  # fmt: skip
    prompt = ui_to_api(wf, info)
    assert set(prompt) == {"7", "9"}
    assert prompt["7"]["inputs"] == {
        "seed": 1234, "steps": 30, "cfg": ["9", 0], "sampler_name": "ddim", "scheduler": "normal", "denoise": 0.75,
    }  # fmt: skip


def test_ui_to_api_names_missing_node_types(comfy_host):
    wf = {"nodes": [{"id": 1, "type": "NoSuchNodeAnywhere", "widgets_values": []}], "links": []}
    with pytest.raises(KeyError, match="NoSuchNodeAnywhere"):
        comfy_host.ui_to_api(wf)


def test_stock_video_with_audio_is_h264_aac(comfy_host):
    entry = comfy_host.run_workflow(STOCK_WORKFLOW, timeout=120)
    files = comfy_host.output_files(entry, suffix=".mp4")
    assert len(files) == 1 and files[0].is_file(), entry.get("outputs")
    with av.open(str(files[0])) as c:
        video = c.streams.video[0]
        audio = c.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert audio.codec_context.name == "aac"
        assert float(video.average_rate) == pytest.approx(25)
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 50
    assert frames[0].shape == (48, 64, 3)
    # EmptyImage colour 0xFF0000 -> red frames (allow for yuv420 rounding)
    mean = np.mean(frames[10].reshape(-1, 3), axis=0)
    assert mean[0] > 200 and mean[1] < 60 and mean[2] < 60, mean


def test_validation_error_is_reported_and_server_keeps_running(comfy_host):
    prompt = comfy_host.ui_to_api(STOCK_WORKFLOW)
    prompt["1"]["inputs"]["width"] = -5
    with pytest.raises(PromptRejected, match="width"):
        comfy_host.queue(prompt)
    assert comfy_host.alive()


def test_execution_error_names_the_node(comfy_host):
    # SplitAudioChannels raises inside execute() on mono audio: a runtime error, not a validation error.
    prompt = {
        "1": {"class_type": "EmptyAudio", "inputs": {"duration": 0.5, "sample_rate": 16000, "channels": 1}},
        "2": {"class_type": "SplitAudioChannels", "inputs": {"audio": ["1", 0]}},
        "3": {"class_type": "PreviewAudio", "inputs": {"audio": ["2", 0]}},
    }
    with pytest.raises(ExecutionFailed) as err:
        comfy_host.run(prompt, timeout=60)
    assert err.value.node_id == "2" and err.value.node_type == "SplitAudioChannels"
    assert "one channel" in err.value.exception_message
    assert comfy_host.alive()
    entry = comfy_host.run_workflow(STOCK_WORKFLOW, timeout=120)  # the next prompt still works
    assert comfy_host.output_files(entry, suffix=".mp4")


@requires_pack
def test_pack_nodes_register_in_host(comfy_host):
    info = comfy_host.object_info()
    missing = [n for n in EXPECTED_NODE_IDS if n not in info]
    assert not missing, f"not registered: {missing}\n{comfy_host.log_tail()}"
    for node_id in EXPECTED_NODE_IDS:
        assert info[node_id]["category"].startswith("OmniTalker"), node_id
    log = comfy_host.log()
    assert "Cannot import" not in log and "Error while calling comfy_entrypoint" not in log, log[-4000:]


def test_host_library_imports_no_comfyui_and_no_torch():
    code = "import sys, omnitalker_core.host; print(sorted(m for m in sys.modules if m.split('.')[0] in ('comfy', 'torch')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_reference_clip_from_the_package_is_copied_into_input(comfy_host):
    from omnitalker_core.checkpoints import REFERENCE_CLIP

    assert REFERENCE_CLIP.is_file() and REFERENCE_CLIP in workflow_assets()
    assert (comfy_host.input_dir() / REFERENCE_CLIP.name).is_file()


def test_start_up_retries_on_a_new_port_when_the_chosen_one_was_taken(tmp_path, monkeypatch):
    """The free-port race: another process binds the port `free_port` chose before the server does."""
    real_free_port = process.free_port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        chosen = iter([taken])
        monkeypatch.setattr(process, "free_port", lambda: next(chosen, None) or real_free_port())
        host = start_host(tmp_path / "base", link_pack=False)
        try:
            assert host.port != taken and host.alive()
            log = host.log()
            assert f"--port {taken}" in log and "address already in use" in log.lower(), log[-3000:]
        finally:
            host.stop()
