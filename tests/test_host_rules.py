"""The pack plays by the host's rules: the host's own range checks stay on, errors land on the input they
concern, "Unload models" frees the generator, and --disable-metadata keeps the prompt out of mp4s."""

from __future__ import annotations

import itertools
import re

import av
import pytest
from conftest import requires_pack
from test_nodes_host import _mux_prompt

from omnitalker_core.checkpoints import REFERENCE_TRANSCRIPT
from omnitalker_core.host import ExecutionFailed, HostEvents, PromptRejected, start_host

pytestmark = requires_pack
LOADED = re.compile(r"Requested to load OmniTalkerGenerator")
_SEEDS = itertools.count(1000)


def _voice_prompt(seed: int, adapt: bool = False, **generate) -> dict:
    """Voice from the bundled clip; adapting the tracker to its face (~10 min on 2 cores, once per host) only where a
    test asks for it: these test the host's rules, not the tracker."""
    return {
        "1": {"class_type": "OmniTalkerLoadModel",
              "inputs": {"model_name": "omnitalker_demo (bundled)", "device": "auto", "dtype": "auto"}},
        "2": {"class_type": "LoadVideo", "inputs": {"file": "omnitalker_reference.mp4"}},
        "3": {"class_type": "OmniTalkerCaptureStyle",
              "inputs": {"video": ["2", 0], "fps": 25.0, "max_seconds": 10.0,
                         "transcript": REFERENCE_TRANSCRIPT.read_text(encoding="utf-8").strip(),
                         "adapt_to_face": adapt}},
        "4": {"class_type": "OmniTalkerGenerate",
              "inputs": {"model": ["1", 0], "style": ["3", 0], "text": "Hello there.", "seed": seed, "steps": 2,
                         "cfg_audio": 2.0, "cfg_motion": 2.5, "speed": 1.0, **generate}},
        "5": {"class_type": "OmniTalkerVocoder", "inputs": {"model": ["1", 0], "mel": ["4", 0], "griffin_lim_iterations": 8}},
        "6": {"class_type": "PreviewAudio", "inputs": {"audio": ["5", 0]}},
    }  # fmt: skip


def _rejected(host, prompt) -> list[dict]:
    with pytest.raises(PromptRejected) as err:
        host.queue(prompt)
    assert list(err.value.node_errors) == ["4"], err.value.node_errors
    return err.value.node_errors["4"]["errors"]


@pytest.mark.parametrize(
    "name, value, kind",
    [("steps", 1000, "value_bigger_than_max"), ("cfg_audio", -5.0, "value_smaller_than_min"),
     ("speed", 10.0, "value_bigger_than_max"), ("speed", 0.1, "value_smaller_than_min")],
)  # fmt: skip
def test_host_range_checks_stay_on_for_generate(comfy_host, name, value, kind):
    errors = _rejected(comfy_host, _voice_prompt(0, **{name: value}))
    assert [(e["type"], e["extra_info"]["input_name"]) for e in errors] == [(kind, name)]


def test_text_error_is_reported_once_on_the_text_input(comfy_host):
    errors = _rejected(comfy_host, _voice_prompt(0, text="   "))
    assert [e["extra_info"]["input_name"] for e in errors] == ["text"]
    assert "text is empty" in errors[0]["details"]


def test_unload_models_frees_the_generator(comfy_host):
    def loads() -> int:
        return len(LOADED.findall(comfy_host.log()))

    comfy_host.run(_voice_prompt(next(_SEEDS)), timeout=600)
    base = loads()
    assert base >= 1, "the generator is loaded through comfy.model_management"
    comfy_host.run(_voice_prompt(next(_SEEDS)), timeout=600)  # a new seed re-runs Generate, model stays loaded
    assert loads() == base, "a loaded generator must be reused, not loaded again"

    status, _ = comfy_host.request("POST", "/free", {"unload_models": True})
    assert status == 200
    # The host applies the flag between prompts; the next Generate must load the generator again.
    for _ in range(3):
        comfy_host.run(_voice_prompt(next(_SEEDS)), timeout=600)
        if loads() > base:
            break
    assert loads() == base + 1, "after 'Unload models' the generator was still loaded"


def _mp4_metadata(host, entry) -> dict:
    (path,) = [p for p in host.output_files(entry) if p.suffix == ".mp4"]
    with av.open(str(path)) as c:
        return dict(c.metadata)


def test_mux_embeds_the_prompt_by_default(comfy_host):
    entry = comfy_host.run(_mux_prompt(prefix="omnitalker/metadata_on"), timeout=120)
    assert "prompt" in _mp4_metadata(comfy_host, entry)


@pytest.mark.slow
def test_mux_honours_disable_metadata(tmp_path):
    host = start_host(tmp_path / "base", extra_args=("--disable-metadata",))
    try:
        entry = host.run(_mux_prompt(prefix="omnitalker/metadata_off"), timeout=120)
        metadata = _mp4_metadata(host, entry)
        streamed = host.run(_render_video_prompt(next(_SEEDS), None, "omnitalker/metadata_off_streamed"), timeout=600)
        streamed_metadata = _mp4_metadata(host, streamed)
    finally:
        host.stop()
    assert "prompt" not in metadata and "workflow" not in metadata, metadata
    assert "prompt" not in streamed_metadata and "workflow" not in streamed_metadata, streamed_metadata


def test_long_text_shows_chunks_and_time_left_on_the_node(comfy_host):
    text = " ".join(["The quick brown fox jumps over the lazy dog near the quiet river bank."] * 5)  # ~360 chars
    with HostEvents(comfy_host) as events:
        pid = comfy_host.queue(_voice_prompt(next(_SEEDS), text=text))
        comfy_host.wait(pid, timeout=600)
        texts = [d["text"] for _, kind, d in events.events if kind == "progress_text" and d["node"] == "4"]
    assert texts, "Generate sent no progress text"
    n = int(texts[0].split(" of ")[1].split(",")[0])
    assert n >= 2 and texts[0].startswith("sentence chunk 1 of"), texts[0]
    assert texts[-1].startswith(f"sentence chunk {n} of {n}, step 2/2"), texts[-1]
    assert any("left" in t for t in texts[:-1]), "an estimate of the time left while it runs"


def _render_video_prompt(seed: int, portrait: dict | None, prefix: str, adapt: bool = False) -> dict:
    prompt = _voice_prompt(seed, adapt)
    del prompt["6"]
    prompt["8"] = {"class_type": "OmniTalkerRenderVideo",
                   "inputs": {"motion": ["4", 1], "audio": ["5", 0], "style": ["3", 0], "resolution": 128,
                              "save_mp4": True, "filename_prefix": prefix}}  # fmt: skip
    if portrait is not None:
        prompt["7"] = portrait
        prompt["8"]["inputs"]["portrait"] = ["7", 0]
    return prompt


@pytest.mark.parametrize(
    "size, reason",
    [((1, 1), "the portrait is 1x1 pixels: too small"), ((96, 80), "no face found in the portrait (96x80)")],
)
def test_render_video_refuses_a_faceless_portrait_before_generating(comfy_host, size, reason):
    blank = {
        "class_type": "EmptyImage",
        "inputs": {"width": size[0], "height": size[1], "batch_size": 1, "color": 0x808080},
    }
    with pytest.raises(ExecutionFailed) as err:
        comfy_host.run(_render_video_prompt(next(_SEEDS), blank, "omnitalker/faceless"), timeout=600)
    assert err.value.node_id == "8" and reason in err.value.exception_message, err.value.exception_message
    # The portrait is checked first: the generator (4) and the vocoder (5) never ran for this prompt.
    assert "4" not in err.value.info["executed"] and "5" not in err.value.info["executed"], err.value.info["executed"]


def test_render_video_streams_an_mp4_with_the_prompt(comfy_host):
    # the one host prompt that adapts the tracker to the clip's face, as Capture Style does by default
    entry = comfy_host.run(_render_video_prompt(next(_SEEDS), None, "omnitalker/streamed", adapt=True), timeout=1800)
    (path,) = [p for p in comfy_host.output_files(entry, node_id="8") if p.suffix == ".mp4"]
    with av.open(str(path)) as c:
        assert "prompt" in c.metadata
        assert c.streams.video[0].codec_context.name == "h264" and c.streams.audio[0].codec_context.name == "aac"
        frames = sum(1 for _ in c.decode(video=0))
    assert entry["outputs"]["8"]["omnitalker_video"][0]["frames"] == frames > 10
