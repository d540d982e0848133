"""`python -m omnitalker_core bench e2e` on a tiny random model and the bundled reference clip."""

from __future__ import annotations

import json
import time
from pathlib import Path

import av
import pytest
import torch

from omnitalker_core.__main__ import main
from omnitalker_core.bench import e2e
from omnitalker_core.checkpoints import OmniTalkerBundle, save_bundle
from omnitalker_core.model.config import named_config
from omnitalker_core.model.flow import FlowMatching
from omnitalker_core.text.espeak import phonemize
from omnitalker_core.text.phonemes import PhonemeVocab
from omnitalker_core.text.tokenizer import PhonemeTokenizer

TEXT = "Hello, I can talk."


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    ref_text = e2e.REFERENCE_TEXT.read_text(encoding="utf-8").strip()
    symbols = [p for text in (ref_text, TEXT) for p, _ in phonemize(text)]
    vocab = PhonemeVocab.from_symbols(symbols).to_list()
    torch.manual_seed(0)
    flow = FlowMatching(named_config("tiny", text_num_embeds=len(vocab) - 1, text_alignment="frames"))
    bundle = OmniTalkerBundle(flow=flow, tokenizer=PhonemeTokenizer(vocab), info={"griffin_lim_by_design": True})
    return save_bundle(bundle, tmp_path_factory.mktemp("bench_e2e") / "tiny.safetensors")


def _mp4_streams(path: Path) -> tuple[float, int]:
    """(seconds of sound, video frames) of an mp4, decoded with PyAV: measured on the file, not taken from the JSON."""
    with av.open(str(path)) as c:
        audio = c.streams.audio[0]
        seconds = sum(f.samples for f in c.decode(audio)) / audio.rate
    with av.open(str(path)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    return seconds, frames


def _import_pipeline() -> None:
    """Import what `run` imports before it starts its clocks, so the test's wall clock does not time imports."""
    from omnitalker_core import pipeline, style, video, vocoder  # noqa: F401
    from omnitalker_core.commands import bench  # noqa: F401
    from omnitalker_core.face import tracker  # noqa: F401


def test_bench_e2e_json_has_every_stage_and_a_consistent_rtf(tiny_model, tmp_path, capsys):
    torch.set_num_threads(1)
    video = tmp_path / "kept.mp4"
    argv = ["bench", "e2e", "--model", str(tiny_model), "--text", TEXT, "--steps", "2", "--resolution", "128",
            "--griffin-lim-iterations", "8", "--threads", "1", "--no-adapt", "--video", str(video), "--json"]  # fmt: skip
    _import_pipeline()
    t0 = time.perf_counter()
    assert main(argv) == 0
    wall = time.perf_counter() - t0
    result = json.loads(capsys.readouterr().out)
    assert list(result["stages"]) == ["capture", "generate", "vocode+render"]
    # against measurements of its own: the sound in the kept mp4 (AAC pads up to one 1024-sample frame)...
    file_seconds, file_frames = _mp4_streams(video)
    assert result["audio_seconds"] == pytest.approx(file_seconds, abs=1024 / 24000 + 0.01)
    assert 0.5 < file_seconds < 3.0, file_seconds  # "Hello, I can talk." at a human rate
    assert file_frames == result["frames"]
    # ...and the wall clock around the command: the timed parts (model load + the five stages) fit inside it
    # and cover all of it but argument parsing, the temporary folder and the copy of the mp4 (measured: all
    # but 5-7 ms of about 1 s)
    load = result["setup"]["load_model"]
    assert 0.95 * wall - 0.05 <= load + result["total_seconds"] <= wall + 1e-3, (result, wall)  # rounded to 0.1 ms
    # the RTF times the measured speech is that compute time (the file's AAC padding: up to 5 % more)
    from_rtf = load + result["rtf"] * file_seconds
    assert 0.95 * wall - 0.05 <= from_rtf <= 1.05 * wall, (result["rtf"], file_seconds, wall)
    assert result["total_seconds"] == pytest.approx(sum(result["stages"].values()), abs=1e-3)
    assert result["rtf"] == pytest.approx(result["total_seconds"] / result["audio_seconds"], rel=1e-3)
    assert result["rtf_cached_style"] == pytest.approx(
        (result["total_seconds"] - result["stages"]["capture"]) / result["audio_seconds"], rel=1e-3
    )
    assert result["frames"] == round(result["audio_seconds"] * 25)
    assert max(result["size"]) == 128
    assert video.is_file() and video.stat().st_size == result["runs"][-1]["mp4_bytes"]
    assert "omnitalker_core host bench" in result["host_command"] and str(tiny_model) in result["host_command"]


def test_bench_e2e_uses_workflow_a_settings():
    """WORKFLOW_A must stay what the example workflow (a) queues, so both measurements time the same job."""
    wf = json.loads(e2e.WORKFLOW.read_text())
    widgets = {n["type"]: n.get("widgets_values") for n in wf["nodes"]}
    text, seed, _control, steps, cfg_audio, cfg_motion, speed = widgets["OmniTalkerGenerate"]
    w = e2e.WORKFLOW_A
    assert (text, seed, steps, cfg_audio, cfg_motion, speed) == (
        w["text"], w["seed"], w["steps"], w["cfg_audio"], w["cfg_motion"], w["speed"]
    )  # fmt: skip
    _fps, transcript, max_seconds, adapt_to_face = widgets["OmniTalkerCaptureStyle"]
    assert max_seconds == w["max_seconds"] and adapt_to_face == w["adapt_to_face"]
    if e2e.REFERENCE_TEXT.is_file():
        assert transcript.strip() == e2e.REFERENCE_TEXT.read_text(encoding="utf-8").strip()
    assert widgets["OmniTalkerVocoder"][0] == w["griffin_lim_iterations"]
    assert widgets["OmniTalkerRenderVideo"][0] == w["resolution"]
    assert widgets["LoadVideo"][0] == e2e.REFERENCE_VIDEO.name


def test_bench_e2e_missing_model_says_what_to_do(tmp_path, caplog):
    assert main(["bench", "e2e", "--model", str(tmp_path / "absent.safetensors"), "--json"]) == 1
    assert "model not found" in caplog.text
