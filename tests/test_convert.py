"""nodes/convert.py: ComfyUI socket values <-> core tensors, and the messages its shape checks give.

The module imports nothing from ComfyUI, so it is loaded straight from its file (the `nodes` package
itself needs a running host; that side is covered by test_nodes_host.py and test_workflows.py)."""

from __future__ import annotations

import importlib.util
from fractions import Fraction

import pytest
import torch
from conftest import REPO

spec = importlib.util.spec_from_file_location("omnitalker_nodes_convert", REPO / "nodes" / "convert.py")
convert = importlib.util.module_from_spec(spec)
spec.loader.exec_module(convert)


def test_audio_round_trip_keeps_channels_and_rate():
    wave = torch.randn(2, 4800)
    host = convert.audio_to_host(wave, 24000)
    assert host["waveform"].shape == (1, 2, 4800) and host["sample_rate"] == 24000
    back, rate = convert.audio_from_host(host, "Node")
    assert rate == 24000 and torch.equal(back, wave)
    mono = convert.audio_to_host(torch.zeros(100), 16000)
    assert mono["waveform"].shape == (1, 1, 100)


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        ({"waveform": torch.zeros(2, 1, 10), "sample_rate": 24000}, "expected one audio clip, got a batch of 2"),
        ({"waveform": torch.zeros(1, 1, 0), "sample_rate": 24000}, "empty"),
        ({"waveform": torch.zeros(1, 1, 10), "sample_rate": 0}, "sample_rate must be positive"),
        ({"samples": torch.zeros(10)}, "expected an AUDIO input"),
        ({"waveform": torch.zeros(4), "sample_rate": 8000}, "must be [batch, channels, samples]"),
    ],
)
def test_audio_from_host_refuses_with_node_name(audio, message):
    with pytest.raises(ValueError) as err:
        convert.audio_from_host(audio, "My Node")
    assert str(err.value).startswith("My Node: ") and message in str(err.value)


def test_image_to_uint8_drops_alpha_and_rounds():
    img = torch.tensor([[[[0.0, 0.5, 1.0, 0.3]]]])  # 1 frame, 1x1, RGBA
    out = convert.image_to_uint8(img, "N")
    assert out.dtype == torch.uint8 and out.shape == (1, 1, 1, 3)
    assert out.flatten().tolist() == [0, 128, 255]
    back = convert.uint8_to_image(out)
    assert back.dtype == torch.float32 and abs(float(back[0, 0, 0, 1]) - 128 / 255) < 1e-6


def test_image_checks_shape():
    with pytest.raises(ValueError, match=r"N: IMAGE must be \[frames, height, width, 3\], got shape \(2, 5\)"):
        convert.image_to_uint8(torch.zeros(2, 5), "N")
    with pytest.raises(ValueError, match="has no frames"):
        convert.image_to_uint8(torch.zeros(0, 4, 4, 3), "N")
    assert convert.portrait_from_image(torch.ones(3, 4, 5, 3), "N").shape == (4, 5, 3)


def test_video_components_refuses_non_video():
    with pytest.raises(ValueError, match="expected a VIDEO input"):
        convert.video_components(torch.zeros(1), "N")


def test_fps_fraction():
    assert convert.fps_fraction(25.0) == Fraction(25)
    assert convert.fps_fraction(29.97) == Fraction(2997, 100)
