"""Griffin-Lim fallback: torchaudio's algorithm exactly, deterministic, and the process RNG left alone."""

from __future__ import annotations

import torch
import torchaudio

from omnitalker_core import audio
from omnitalker_core.vocoder import GriffinLimVocoder


def _mel(seed: int = 0, frames: int = 60) -> torch.Tensor:
    wave = torch.sin(torch.linspace(0, 2000, frames * audio.HOP_LENGTH)) * 0.3
    wave = wave + 0.01 * torch.randn(wave.shape, generator=torch.Generator().manual_seed(seed))
    return audio.log_mel(wave)[None]  # 1 100 n


def test_decode_matches_torchaudio_griffinlim_from_the_same_initial_phase():
    mel = _mel()
    voc = GriffinLimVocoder(n_iter=12)
    ours = voc.decode(mel)
    reference = torchaudio.transforms.GriffinLim(
        n_fft=audio.N_FFT, win_length=audio.WIN_LENGTH, hop_length=audio.HOP_LENGTH, power=1.0, n_iter=12
    )
    with torch.random.fork_rng():
        torch.manual_seed(GriffinLimVocoder.seed)  # torchaudio draws its initial phase from the global RNG
        ref = reference(voc.inverse_mel(mel.exp()))
    peak = ref.abs().amax(dim=-1, keepdim=True).clamp(min=1e-4)
    ref = (ref / peak * 0.9).where(peak > 0.9, ref).clamp(-1, 1)
    assert ours.shape == ref.shape
    assert torch.allclose(ours, ref, atol=1e-5), f"max diff {(ours - ref).abs().max():.2e}"


def test_decode_is_deterministic_and_leaves_the_global_rng_alone():
    mel = _mel(1)
    with torch.random.fork_rng():
        torch.manual_seed(1234)
        before = torch.get_rng_state()
        a = GriffinLimVocoder(n_iter=8).decode(mel)
        after = torch.get_rng_state()
        b = GriffinLimVocoder(n_iter=8).decode(mel)
    assert torch.equal(before, after), "decode reseeded or consumed the process-wide RNG"
    assert torch.equal(a, b)


def test_decode_recovers_a_tone_at_its_pitch():
    rate, f0 = audio.SAMPLE_RATE, 440.0
    t = torch.arange(rate) / rate
    mel = audio.log_mel(0.5 * torch.sin(2 * torch.pi * f0 * t))[None]
    wave = GriffinLimVocoder(n_iter=32).decode(mel)[0]
    spectrum = torch.fft.rfft(wave).abs()
    peak_hz = float(spectrum.argmax()) * rate / wave.numel()
    assert abs(peak_hz - f0) < 15, peak_hz
    assert 0.1 < float(wave.abs().max()) <= 1.0
