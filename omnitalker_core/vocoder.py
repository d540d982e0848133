"""Mel -> waveform. Vocos mel-24khz (the `vocos` package, weights from a local file or from inside an
OmniTalker model file) and a weightless Griffin-Lim fallback (torchaudio) for when no weights exist.

Vocos is built from an explicit whitelist of its classes instead of `Vocos.from_hparams`, which
imports whatever class path a config names.
"""

from __future__ import annotations

import logging
import warnings
from typing import Protocol

import torch
import torchaudio

from . import audio

log = logging.getLogger(__name__)

# The published charactr/vocos-mel-24khz config.yaml.
VOCOS_MEL_24KHZ = {
    "feature_extractor": {
        "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
        "init_args": {"sample_rate": 24000, "n_fft": 1024, "hop_length": 256, "n_mels": 100, "padding": "center"},
    },
    "backbone": {
        "class_path": "vocos.models.VocosBackbone",
        "init_args": {"input_channels": 100, "dim": 512, "intermediate_dim": 1536, "num_layers": 8},
    },
    "head": {
        "class_path": "vocos.heads.ISTFTHead",
        "init_args": {"dim": 512, "n_fft": 1024, "hop_length": 256, "padding": "center"},
    },
}


class Vocoder(Protocol):
    sample_rate: int

    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        """mel: b 100 n log-mel -> b T waveform in [-1, 1] at `sample_rate`."""


def _vocos_classes():
    from vocos.feature_extractors import MelSpectrogramFeatures
    from vocos.heads import ISTFTHead
    from vocos.models import VocosBackbone

    return {
        "vocos.feature_extractors.MelSpectrogramFeatures": MelSpectrogramFeatures,
        "vocos.models.VocosBackbone": VocosBackbone,
        "vocos.heads.ISTFTHead": ISTFTHead,
    }


def build_vocos(config: dict):
    """Vocos module from a config dict (yaml layout), only from whitelisted classes."""
    from vocos.pretrained import Vocos

    classes = _vocos_classes()
    parts = {}
    for part in ("feature_extractor", "backbone", "head"):
        try:
            spec = config[part]
            cls = classes[spec["class_path"]]
        except KeyError as e:
            raise ValueError(
                f"unsupported Vocos config: {part} must be one of {sorted(classes)} (mel-24khz layout); missing {e}"
            ) from e
        parts[part] = cls(**spec.get("init_args", {}))
    return Vocos(**parts)


class VocosVocoder:
    sample_rate = audio.SAMPLE_RATE

    def __init__(self, config: dict, state: dict[str, torch.Tensor], device: str | torch.device = "cpu"):
        self.model = build_vocos(config)
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("feature_extractor.")]  # mel filterbank buffers
        if missing or unexpected:
            raise ValueError(
                f"Vocos weights do not match the config: missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
        self.model.eval().to(device)

    @torch.inference_mode()
    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        p = next(self.model.parameters())
        return self.model.decode(mel.to(p.device, p.dtype)).float().clamp(-1, 1)


class GriffinLimVocoder:
    """Inverse mel filterbank + Griffin-Lim phase recovery: no weights, intelligible but buzzy.

    The loop is torchaudio's `griffinlim` (fast Griffin-Lim, momentum 0.99) with its random initial phase
    drawn from a generator of our own, so the output is deterministic without reseeding the process's RNG."""

    sample_rate = audio.SAMPLE_RATE
    momentum = 0.99  # torchaudio's default
    seed = 0

    def __init__(self, n_iter: int = 64, device: str | torch.device = "cpu"):
        n_stft = audio.N_FFT // 2 + 1
        self.n_iter = n_iter
        self.inverse_mel = torchaudio.transforms.InverseMelScale(
            n_stft=n_stft, n_mels=audio.N_MELS, sample_rate=audio.SAMPLE_RATE, norm=None, mel_scale="htk"
        ).to(device)
        self.window = torch.hann_window(audio.WIN_LENGTH, device=device)

    def _stft(self, wave: torch.Tensor) -> torch.Tensor:
        return torch.stft(
            wave, n_fft=audio.N_FFT, hop_length=audio.HOP_LENGTH, win_length=audio.WIN_LENGTH, window=self.window,
            center=True, pad_mode="reflect", normalized=False, onesided=True, return_complex=True,
        )  # fmt: skip

    def _istft(self, spec: torch.Tensor) -> torch.Tensor:
        return torch.istft(
            spec, n_fft=audio.N_FFT, hop_length=audio.HOP_LENGTH, win_length=audio.WIN_LENGTH, window=self.window
        )

    @torch.inference_mode()
    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        dev = self.inverse_mel.fb.device
        spec = self.inverse_mel(mel.float().to(dev).exp())  # b f n magnitude
        gen = torch.Generator(device=dev).manual_seed(self.seed)
        angles = torch.rand(spec.shape, dtype=torch.complex64, device=dev, generator=gen)
        previous = torch.zeros((), dtype=torch.complex64, device=dev)
        for _ in range(self.n_iter):
            rebuilt = self._stft(self._istft(spec * angles))
            angles = rebuilt - previous * (self.momentum / (1 + self.momentum))
            angles = angles / (angles.abs() + 1e-16)
            previous = rebuilt
        wave = self._istft(spec * angles)
        peak = wave.abs().amax(dim=-1, keepdim=True).clamp(min=1e-4)
        return (wave / peak * 0.9).where(peak > 0.9, wave).clamp(-1, 1)


def vocoder_for(bundle, device="cpu", griffin_lim_iters: int = 64) -> Vocoder:
    """The model file's own Vocos if it carries one, else Griffin-Lim with a visible warning."""
    if bundle.vocoder_state and bundle.vocoder_config:
        return VocosVocoder(bundle.vocoder_config, bundle.vocoder_state, device)
    if not (bundle.info or {}).get("griffin_lim_by_design"):
        warnings.warn(
            "no vocoder weights in this model file: using the Griffin-Lim fallback (buzzy audio). "
            "Add Vocos with `python -m omnitalker_core convert vocos --checkpoint pytorch_model.bin --into MODEL`.",
            stacklevel=2,
        )
    return GriffinLimVocoder(n_iter=griffin_lim_iters, device=device)
