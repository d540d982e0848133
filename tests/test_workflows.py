"""Every bundled workflow queued through the real host (converted from its UI JSON via /object_info), outputs
checked; then bad inputs: each must end its prompt with an actionable error on the right node, the server
must keep running, and the next prompt must succeed."""

from __future__ import annotations

import csv
import itertools
import time
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import REPO

from omnitalker_core.checkpoints import REFERENCE_CLIP
from omnitalker_core.host import ExecutionFailed, HostEvents, PromptRejected, load_workflow

WORKFLOWS = REPO / "workflows"
DEMO = REPO / "omnitalker_core" / "assets" / "omnitalker_demo.safetensors"
FPS = 25

pytestmark = pytest.mark.slow
needs_demo = pytest.mark.skipif(not DEMO.is_file(), reason=f"demo checkpoint {DEMO.name} not built yet (issue 5)")
TIMINGS: dict[str, float] = {}
_RUNS = itertools.count()


def node_id(workflow: dict, ntype: str) -> str:
    (nid,) = [str(n["id"]) for n in workflow["nodes"] if n["type"] == ntype]
    return nid


def run(host, name: str, edit=None, timeout: float = 1500) -> tuple[dict, dict, dict]:
    """Queue workflows/<name>.json (optionally edited in API form); -> (workflow, prompt, history entry)."""
    wf = load_workflow(WORKFLOWS / f"{name}.json")
    prompt = host.ui_to_api(wf)
    if edit:
        edit(prompt, wf)
    t0 = time.monotonic()
    entry = host.run(prompt, wf, timeout)
    TIMINGS[name] = time.monotonic() - t0
    return wf, prompt, entry


def decode(path: Path) -> dict:
    with av.open(str(path)) as c:
        out = {"vcodec": None, "acodec": None}
        if c.streams.video:
            v = c.streams.video[0]
            out.update(vcodec=v.codec_context.name, fps=float(v.average_rate))
            out["frames"] = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
            c.seek(0)
        if c.streams.audio:
            a = c.streams.audio[0]
            out.update(acodec=a.codec_context.name, rate=a.rate)
            chunks = [f.to_ndarray() for f in c.decode(audio=0)]
            x = np.concatenate(chunks, axis=1).astype(np.float32)
            out["audio"] = x.mean(axis=0) if x.ndim == 2 else x
    return out


def decode_tags(path: Path) -> dict:
    with av.open(str(path)) as c:
        return dict(c.metadata)


def mouth_box(frame: np.ndarray) -> tuple[slice, slice]:
    """The mouth's bounding box (with margin) from the face landmarker on one frame."""
    from omnitalker_core.face.canonical import LOWER_LIP_OUTER, UPPER_LIP_OUTER
    from omnitalker_core.face.landmarks import FaceLandmarker

    pts = FaceLandmarker()(np.ascontiguousarray(frame), "output frame")
    assert pts is not None, "no face in the rendered video"
    lips = pts[list(UPPER_LIP_OUTER + LOWER_LIP_OUTER), :2]
    (x0, y0), (x1, y1) = lips.min(0), lips.max(0)
    m = 0.25 * (x1 - x0)
    return slice(int(max(0, y0 - m)), int(y1 + m)), slice(int(max(0, x0 - m)), int(x1 + m))


def assert_talking_mp4(path: Path) -> dict:
    info = decode(path)
    assert info["vcodec"] == "h264" and info["acodec"] == "aac", info
    assert info["fps"] == pytest.approx(FPS)
    frames, audio = info["frames"], info["audio"]
    audio_frames = len(audio) / info["rate"] * FPS
    # AAC adds up to one 1024-sample frame of padding at the end: allow that on top of one video frame
    assert abs(len(frames) - audio_frames) <= 1 + 1024 / info["rate"] * FPS, (len(frames), audio_frames)
    rms = float(np.sqrt(np.mean(audio**2)))
    assert rms > 0.01, f"silent audio (rms {rms:.4f})"
    ys, xs = mouth_box(frames[0])
    mouth = frames[:, ys, xs].astype(np.float32)
    corner = frames[:, :16, :16].astype(np.float32)  # background
    mouth_change = float(mouth.std(axis=0).mean())
    assert mouth_change > 3.0, f"the mouth region barely changes (temporal std {mouth_change:.2f})"
    assert mouth_change > 3 * float(corner.std(axis=0).mean()), "the whole frame flickers, not the mouth"
    return {"frames": len(frames), "seconds": len(audio) / info["rate"], "rms": rms, "mouth_std": mouth_change}


def test_a_text_to_talking_video(comfy_host, test_output):
    wf, prompt, entry = run(comfy_host, "Text to talking video")
    video = node_id(wf, "OmniTalkerRenderVideo")  # streamed render + encode: the workflow's only output
    (mp4,) = comfy_host.output_files(entry, node_id=video, suffix=".mp4")
    stats = assert_talking_mp4(mp4)
    shown = entry["outputs"][video]["omnitalker_video"][0]
    assert shown["type"] == "output" and shown["frames"] == stats["frames"]
    assert "prompt" in decode_tags(mp4), "the mp4 does not carry the prompt, as Save Video's would"
    (test_output / "timings.txt").open("a").write(
        f"workflow a: {TIMINGS['Text to talking video']:.1f} s for {stats['seconds']:.2f} s of speech\n"
    )


def test_b_voice_only(comfy_host):
    wf, prompt, entry = run(comfy_host, "Text to speech (voice only)")
    (flac,) = comfy_host.output_files(entry, node_id=node_id(wf, "SaveAudio"))
    info = decode(flac)
    assert info["vcodec"] is None and info["acodec"] is not None
    seconds = len(info["audio"]) / info["rate"]
    # the text spoken at a human rate, 1.5-5 words per second (not cut short, not the reference prepended)
    words = len(prompt[node_id(wf, "OmniTalkerGenerate")]["inputs"]["text"].split())
    assert words / 5 <= seconds <= words / 1.5, (words, seconds)
    assert float(np.sqrt(np.mean(info["audio"] ** 2))) > 0.01


def test_c_motion_to_arkit_csv(comfy_host):
    wf, _, entry = run(comfy_host, "Text to ARKit blendshape CSV")
    (csv_path,) = comfy_host.output_files(entry, node_id=node_id(wf, "OmniTalkerMotionToCSV"), suffix=".csv")
    rows = list(csv.reader(csv_path.open()))
    header, body = rows[0], rows[1:]
    assert header[0] == "Timecode" and "JawOpen" in header and "MouthClose" in header, header[:8]
    assert len(body) > FPS  # more than a second of motion
    jaw = np.array([float(r[header.index("JawOpen")]) for r in body])
    assert jaw.max() - jaw.min() > 0.05, "the jaw never moves"
    (png,) = comfy_host.output_files(entry, node_id=node_id(wf, "PreviewImage"))
    assert png.is_file() and png.stat().st_size > 5000


def test_d_stock_nodes_chain(comfy_host):
    wf, _, entry = run(comfy_host, "Talking portrait with stock nodes")
    (mp4,) = comfy_host.output_files(entry, node_id=node_id(wf, "SaveVideo"), suffix=".mp4")
    assert_talking_mp4(mp4)


# -- bad input: the error names the node and says what to do; the server keeps going -----------------------


def _reference_variant(host, name: str, with_audio: bool, blank: bool) -> str:
    """A copy of the reference clip in the host's input folder: without its audio, or with grey frames."""
    from omnitalker_core.video import read_video, write_mp4

    frames, fps, audio, rate = read_video(REFERENCE_CLIP)
    if blank:
        frames = np.full_like(frames, 128)
    write_mp4(host.input_dir() / name, frames, fps, audio if with_audio else None, rate, overwrite=True)
    return name


def _capture_only(host, video_file: str) -> tuple[dict, str]:
    """Load Video -> Capture Style -> Preview Image (portrait): workflow (a)'s first half, no model needed."""
    wf = load_workflow(WORKFLOWS / "Text to talking video.json")
    full = host.ui_to_api(wf)
    load, capture = node_id(wf, "LoadVideo"), node_id(wf, "OmniTalkerCaptureStyle")
    prompt = {load: full[load], capture: full[capture]}
    prompt[load] = {**full[load], "inputs": {**full[load]["inputs"], "file": video_file}}
    prompt[capture]["inputs"]["adapt_to_face"] = False  # decoding and errors are tested here, not the tracker
    prompt["preview"] = {"class_type": "PreviewImage", "inputs": {"images": [capture, 1]}}
    return prompt, capture


def assert_next_prompt_succeeds(host) -> None:
    """The server still runs prompts after an error: capture the good reference clip."""
    prompt, _ = _capture_only(host, REFERENCE_CLIP.name)
    capture = next(k for k, v in prompt.items() if v["class_type"] == "OmniTalkerCaptureStyle")
    prompt[capture]["inputs"]["max_seconds"] = 2.0 + 0.25 * next(_RUNS)  # a new input each time: no cache hit
    entry = host.run(prompt, timeout=300)
    assert host.output_files(entry, node_id="preview"), entry


def test_bad_empty_text(comfy_host):
    def edit(prompt, wf):
        prompt[node_id(wf, "OmniTalkerGenerate")]["inputs"]["text"] = "   "

    with pytest.raises(PromptRejected) as err:
        run(comfy_host, "Text to talking video", edit)
    wf = load_workflow(WORKFLOWS / "Text to talking video.json")
    assert list(err.value.node_errors) == [node_id(wf, "OmniTalkerGenerate")]
    assert "text is empty" in str(err.value) and "type the words to speak" in str(err.value)
    assert comfy_host.alive()
    assert_next_prompt_succeeds(comfy_host)


def test_bad_ten_minute_text(comfy_host):
    sentence = "This sentence is part of a very long speech that nobody should render in one go. "
    text = sentence * (9000 // len(sentence) + 1)  # ~9,000 characters: about ten minutes of speech

    def edit(prompt, wf):
        prompt[node_id(wf, "OmniTalkerGenerate")]["inputs"]["text"] = text

    with pytest.raises(PromptRejected) as err:
        run(comfy_host, "Text to talking video", edit)
    wf = load_workflow(WORKFLOWS / "Text to talking video.json")
    assert list(err.value.node_errors) == [node_id(wf, "OmniTalkerGenerate")]
    assert "minutes" in str(err.value) and "split the text" in str(err.value)
    assert comfy_host.alive()
    assert_next_prompt_succeeds(comfy_host)


def test_bad_video_without_audio(comfy_host):
    prompt, capture = _capture_only(comfy_host, _reference_variant(comfy_host, "bad_no_audio.mp4", False, False))
    comfy_host.object_info(refresh=True)
    with pytest.raises(ExecutionFailed) as err:
        comfy_host.run(prompt, timeout=300)
    assert err.value.node_id == capture
    assert "no audio track" in err.value.exception_message and "Use a clip with sound" in err.value.exception_message
    assert comfy_host.alive()
    assert_next_prompt_succeeds(comfy_host)


def test_bad_corrupt_and_truncated_video(comfy_host):
    """Load Video accepts any file in input/ (it decodes nothing); Capture Style is where decoding fails,
    and its message names the file, what is wrong and what to do, not FFmpeg's errno."""
    rng = np.random.default_rng(3)
    (comfy_host.input_dir() / "bad_corrupt.mp4").write_bytes(rng.integers(0, 256, 30000, dtype=np.uint8).tobytes())
    clip = REFERENCE_CLIP.read_bytes()
    (comfy_host.input_dir() / "bad_truncated.mp4").write_bytes(clip[: int(len(clip) * 0.3)])
    comfy_host.object_info(refresh=True)
    expected = {
        "bad_corrupt.mp4": "the video 'bad_corrupt.mp4' cannot be read: the file is damaged or is not a video",
        "bad_truncated.mp4": "the video 'bad_truncated.mp4' cannot be read: the file is incomplete: it ends early",
    }
    for name, text in expected.items():
        prompt, capture = _capture_only(comfy_host, name)
        with pytest.raises(ExecutionFailed) as err:
            comfy_host.run(prompt, timeout=300)
        msg = err.value.exception_message
        assert err.value.node_id == capture, (err.value.node_id, msg)
        assert text in msg and "Errno" not in msg, msg
        assert "Re-export it from your editor as H.264 MP4" in msg or "Copy or export it again" in msg, msg
    assert comfy_host.alive()
    assert_next_prompt_succeeds(comfy_host)


def test_bad_video_without_face(comfy_host):
    prompt, capture = _capture_only(comfy_host, _reference_variant(comfy_host, "bad_no_face.mp4", True, True))
    with pytest.raises(ExecutionFailed) as err:
        comfy_host.run(prompt, timeout=300)
    assert err.value.node_id == capture
    assert "no face found" in err.value.exception_message and "one face" in err.value.exception_message
    assert comfy_host.alive()
    assert_next_prompt_succeeds(comfy_host)


def test_bad_missing_model_file(comfy_host):
    def edit(prompt, wf):
        prompt[node_id(wf, "OmniTalkerLoadModel")]["inputs"]["model_name"] = "not_there.safetensors"

    with pytest.raises(ExecutionFailed) as err:  # e.g. a workflow from another machine names a file not here
        run(comfy_host, "Text to talking video", edit)
    wf = load_workflow(WORKFLOWS / "Text to talking video.json")
    assert err.value.node_id == node_id(wf, "OmniTalkerLoadModel")
    msg = err.value.exception_message
    assert "'not_there.safetensors' not found in" in msg and "models/omnitalker" in msg and "(bundled)" in msg, msg
    assert comfy_host.alive()
    assert_next_prompt_succeeds(comfy_host)


def test_bad_corrupt_model_file(comfy_host):
    corrupt = comfy_host.base / "models" / "omnitalker" / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00\x01not a safetensors file" * 64)

    def edit(prompt, wf):
        prompt[node_id(wf, "OmniTalkerLoadModel")]["inputs"]["model_name"] = "corrupt.safetensors"

    with pytest.raises(ExecutionFailed) as err:
        run(comfy_host, "Text to talking video", edit)
    wf = load_workflow(WORKFLOWS / "Text to talking video.json")
    assert err.value.node_id == node_id(wf, "OmniTalkerLoadModel")
    msg = err.value.exception_message
    assert "corrupt.safetensors" in msg and "models/omnitalker" in msg and "(bundled)" in msg, msg
    assert comfy_host.alive()
    assert_next_prompt_succeeds(comfy_host)


@needs_demo
def test_cancel_stops_generation_between_steps(comfy_host):
    """Cancel (POST /interrupt) while Text -> Audio + Motion samples: the prompt ends within a few steps.

    Interrupts once the host reported the generator's first sampling step on the websocket, so it does not
    depend on timing or on earlier tests having cached the model and the style (works alone, in any order)."""
    wf = load_workflow(WORKFLOWS / "Text to talking video.json")
    prompt = comfy_host.ui_to_api(wf)
    gen = node_id(wf, "OmniTalkerGenerate")
    prompt[gen]["inputs"].update(steps=128, seed=777, text="A long answer, sampled slowly. " * 20)
    with HostEvents(comfy_host) as events:  # connected before queueing: messages are not replayed
        assert events.available, "no websocket connection to the host"
        pid = comfy_host.queue(prompt, wf)
        events.wait_for_progress(pid, gen, value=1, timeout=600)  # Load Model and Capture Style may run first
        t0 = time.monotonic()
        comfy_host.interrupt()
    with pytest.raises(ExecutionFailed) as err:
        comfy_host.wait(pid, timeout=120)
    assert err.value.node_type == "OmniTalkerGenerate", err.value.info
    assert time.monotonic() - t0 < 30, "Cancel took effect only after the node finished"
    assert comfy_host.alive()
    assert_next_prompt_succeeds(comfy_host)


def test_next_prompt_after_bad_inputs_and_cancel_succeeds(comfy_host):
    # random test order: the bad-input and cancel tests may not have run yet, so fail two prompts here first
    def empty_text(prompt, wf):
        prompt[node_id(wf, "OmniTalkerGenerate")]["inputs"]["text"] = "   "

    def missing_model(prompt, wf):
        prompt[node_id(wf, "OmniTalkerLoadModel")]["inputs"]["model_name"] = "not_there.safetensors"

    with pytest.raises(PromptRejected):
        run(comfy_host, "Text to talking video", empty_text)
    with pytest.raises(ExecutionFailed):
        run(comfy_host, "Text to talking video", missing_model)

    def edit(prompt, wf):
        prompt[node_id(wf, "OmniTalkerGenerate")]["inputs"]["seed"] = 12345
        prompt[node_id(wf, "OmniTalkerGenerate")]["inputs"]["text"] = "Still working after all those errors."

    wf, _, entry = run(comfy_host, "Text to talking video", edit)
    (mp4,) = comfy_host.output_files(entry, node_id=node_id(wf, "OmniTalkerRenderVideo"), suffix=".mp4")
    assert_talking_mp4(mp4)
