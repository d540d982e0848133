"""`python -m omnitalker_core generate` end to end on a tiny random model and a synthetic reference clip."""

from __future__ import annotations

import json
import time
import wave
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from omnitalker_core import audio as audio_lib
from omnitalker_core import motion as motion_code
from omnitalker_core.__main__ import main
from omnitalker_core.checkpoints import DEMO_CHECKPOINT, OmniTalkerBundle, save_bundle
from omnitalker_core.commands import generate as generate_cmd
from omnitalker_core.model.config import named_config
from omnitalker_core.model.flow import FlowMatching
from omnitalker_core.text.espeak import phonemize, synthesize
from omnitalker_core.text.phonemes import PhonemeVocab
from omnitalker_core.text.tokenizer import PhonemeTokenizer

REF_TEXT = "Hello there, this is my short reference clip."
TARGET = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict[str, Path]:
    from skimage import data

    from omnitalker_core.face.render_geometric import GeometricRenderer
    from omnitalker_core.video import write_mp4

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("generate_cli")
    # reference: the astronaut's face, mouth following an eSpeak voice, head swaying
    syn = synthesize(REF_TEXT, voice="en-us", variant="f2")
    frames = int(syn.duration * motion_code.VIDEO_FPS)
    per = syn.sample_rate // int(motion_code.VIDEO_FPS)
    env = np.abs(syn.audio[: frames * per].reshape(frames, per)).mean(axis=1)
    codes = np.zeros((frames, motion_code.MOTION_DIM), np.float32)
    codes[:, motion_code.CHANNEL["jawOpen"]] = 0.6 * env / env.max()
    codes[:, motion_code.CHANNEL["headYaw"]] = 0.05 * np.sin(np.arange(frames) / 8.0)
    portrait = np.ascontiguousarray(data.astronaut()[0:256, 96:352])
    video = GeometricRenderer(portrait).render(codes)
    ref = write_mp4(tmp / "reference.mp4", video, motion_code.VIDEO_FPS, syn.audio, syn.sample_rate)
    # model: tiny, random, phoneme-aligned (vocabulary from the phonemes it will see)
    symbols = [p for text in (REF_TEXT, TARGET) for p, _ in phonemize(text)]
    vocab = PhonemeVocab.from_symbols(symbols).to_list()
    torch.manual_seed(0)
    flow = FlowMatching(named_config("tiny", text_num_embeds=len(vocab) - 1, text_alignment="frames"))
    bundle = OmniTalkerBundle(flow=flow, tokenizer=PhonemeTokenizer(vocab), info={"griffin_lim_by_design": True})
    model = save_bundle(bundle, tmp / "tiny.safetensors")
    return {"dir": tmp, "reference": ref, "model": model}


def _generate(assets, out: Path, *extra: str) -> list[str]:
    return ["generate", "--model", str(assets["model"]), "--reference", str(assets["reference"]), "--ref-text", REF_TEXT,
            "--text", TARGET, "--out", str(out), "--steps", "2", "--threads", "1", "--json", *extra]  # fmt: skip


def _probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        info = {"video_codec": v.codec_context.name, "audio_codec": a.codec_context.name, "fps": float(v.average_rate)}
        info["frames"] = sum(1 for _ in c.decode(video=0))
    with av.open(str(path)) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
        info["audio_seconds"] = samples / c.streams.audio[0].rate
    return info


def test_generate_writes_h264_aac_of_expected_duration(assets, capsys):
    out, wav = assets["dir"] / "out.mp4", assets["dir"] / "out.wav"
    from omnitalker_core import pipeline, style, video, vocoder  # noqa: F401  (imports are not timed below)

    t0 = time.perf_counter()
    assert main(_generate(assets, out, "--wav", str(wav))) == 0
    wall = time.perf_counter() - t0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # the length the model must produce: eSpeak durations of the target at the reference's speaking rate
    ref_audio, rate = audio_lib.load_audio(assets["reference"])
    ref_frames = audio_lib.log_mel(audio_lib.prepare(ref_audio, rate)).shape[-1]
    tok = PhonemeTokenizer(_vocab_of(assets["model"]))
    expected = (
        (tok.build(REF_TEXT, TARGET, ref_frames).duration - ref_frames) * audio_lib.HOP_LENGTH / audio_lib.SAMPLE_RATE
    )
    assert result["seconds"] == pytest.approx(expected, abs=0.05)
    info = _probe(out)
    assert info["video_codec"] == "h264" and info["audio_codec"] == "aac"
    assert info["fps"] == pytest.approx(25.0)
    assert info["frames"] == result["frames"] == round(result["seconds"] * 25)
    assert info["audio_seconds"] == pytest.approx(result["seconds"], abs=0.1)
    with wave.open(str(wav)) as w:
        assert w.getframerate() == 24000 and abs(w.getnframes() / 24000 - result["seconds"]) < 0.01
    stages = result["stages"]
    assert {"load model", "read reference", "capture style", "generate", "vocode+render"} <= set(stages)
    assert result["rtf"] == pytest.approx(
        sum(stages[k] for k in ("generate", "vocode+render")) / result["seconds"], rel=0.02
    )
    assert "rtf_wall" not in result  # called in-process: the process's age is not this command's
    # against the test's own measurements: the speech decoded from the mp4 and the wall clock around the
    # command. The stages cover the whole run but argument checks and the JSON (measured: all but 3-4 ms),
    # so RTF x speech is the time of the per-clip stages, and rtf_total x speech all of the wall time.
    speech = info["audio_seconds"]  # AAC pads up to one 1024-sample frame: up to 5 % more than the samples
    assert 0.95 * wall - 0.05 <= sum(stages.values()) <= wall + 0.004, (stages, wall)  # 5 stages rounded to ms
    assert 0.95 * wall - 0.05 <= result["rtf_total"] * speech <= 1.05 * wall, (result["rtf_total"], speech, wall)
    per_clip = wall - sum(stages[k] for k in ("load model", "read reference", "capture style"))
    assert 0.95 * per_clip - 0.05 <= result["rtf"] * speech <= 1.05 * per_clip, (result["rtf"], speech, per_clip)
    assert result["size"] == [256, 256]


def test_generate_refuses_to_overwrite(assets, capsys):
    out = assets["dir"] / "existing.mp4"
    out.write_bytes(b"precious")
    assert main(_generate(assets, out)) == 1
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert main(_generate(assets, out, "--overwrite", "--steps", "1")) == 0
    assert _probe(out)["video_codec"] == "h264"


def test_generate_defaults_and_missing_bundled_reference(monkeypatch, tmp_path, capsys):
    import argparse

    p = argparse.ArgumentParser()
    generate_cmd.add_arguments(p)
    args = p.parse_args(["--text", "hi", "--out", "x.mp4"])
    assert Path(args.model) == DEMO_CHECKPOINT and args.reference is None and args.ref_text is None
    monkeypatch.setattr(generate_cmd, "REFERENCE_VIDEO", tmp_path / "absent.mp4")
    with pytest.raises(ValueError, match="--reference"):
        generate_cmd.resolve_reference(None, None)
    with pytest.raises(ValueError, match="not found"):
        generate_cmd.resolve_reference(str(tmp_path / "nope.mp4"), "text")
    assert main(["generate", "--text", "hi", "--out", str(tmp_path / "x.avi")]) == 1
    assert ".mp4" in capsys.readouterr().err


def test_generate_with_no_other_argument_uses_bundled_assets(tmp_path, capsys):
    out = tmp_path / "demo.mp4"
    assert main(["generate", "--text", "Good morning.", "--out", str(out), "--steps", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert Path(result["model"]) == DEMO_CHECKPOINT and Path(result["reference"]) == generate_cmd.REFERENCE_VIDEO
    info = _probe(out)
    assert info["video_codec"] == "h264" and info["audio_codec"] == "aac" and info["frames"] == result["frames"]


def _vocab_of(model: Path) -> list[str]:
    from omnitalker_core.checkpoints import read_metadata

    return json.loads(read_metadata(model)["tokenizer"])["vocab"]


def test_generate_as_its_own_process_reports_the_whole_wait(assets, tmp_path):
    """Run as a command, `rtf_wall` covers the process from its start: Python start-up and imports too."""
    import subprocess
    import sys

    out = tmp_path / "own_process.mp4"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "omnitalker_core", *_generate(assets, out)], capture_output=True, text=True, timeout=300
    )
    outside = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sum(result["stages"].values()) < result["wall_seconds"] <= outside + 0.02, (result, outside)
    assert result["rtf_wall"] * result["seconds"] == pytest.approx(result["wall_seconds"], rel=0.01, abs=0.02)
