"""eSpeak NG front-end (ctypes on the espeakng-loader wheel), phoneme vocabulary and frame alignment."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from omnitalker_core.text import espeak
from omnitalker_core.text.espeak import SILENCE, phonemize, synthesize
from omnitalker_core.text.phonemes import PAD, PhonemeVocab, frame_align, spans_from_durations, target_alignment

TEXT = "The children walked along the river after school, then went home."


def test_synthesize_audio_and_contiguous_phonemes():
    syn = synthesize(TEXT)
    assert syn.sample_rate == 24000 and syn.audio.dtype == np.float32
    # audio length matches the duration the events report (resampled 22,050 -> 24,000 Hz)
    assert abs(len(syn.audio) / 24000 - syn.duration) < 2e-3, (len(syn.audio), syn.duration)
    assert 2.0 < syn.duration < 8.0
    ph = syn.phonemes
    assert ph[0].start == 0.0 and abs(ph[-1].end - syn.duration) < 1e-9
    for a, b in zip(ph, ph[1:]):
        assert a.end == pytest.approx(b.start) and a.end > a.start
        assert not (a.ipa == SILENCE and b.ipa == SILENCE), "consecutive pauses must merge"
    names = [p.ipa for p in ph]
    assert SILENCE in names[1:-1], "the comma should give a pause inside the sentence"
    assert any("ˈ" in n for n in names), "stressed vowels carry the stress mark"
    assert [w.text for w in syn.words] == [w.strip(",.") for w in TEXT.split()]
    assert all(w.end > w.start for w in syn.words)


def test_silence_frames_are_quiet():
    syn = synthesize(TEXT, rate=150)
    loud, quiet = [], []
    for p in syn.phonemes:
        seg = syn.audio[int(p.start * 24000) : int(p.end * 24000)]
        if len(seg) > 240:
            (quiet if p.ipa == SILENCE else loud).append(float(np.sqrt(np.mean(seg**2))))
    assert np.median(quiet) < 0.2 * np.median(loud), (quiet, loud)


def test_rate_pitch_and_variant_change_the_voice():
    slow, fast = synthesize(TEXT, rate=120), synthesize(TEXT, rate=240)
    assert slow.duration > 1.5 * fast.duration
    low, high = synthesize(TEXT, pitch=10), synthesize(TEXT, pitch=90)
    assert not np.array_equal(low.audio[:20000], high.audio[:20000])
    m, f = synthesize(TEXT, variant="m3"), synthesize(TEXT, variant="f3")
    assert m.voice == "en-us+m3" and f.voice == "en-us+f3"
    assert not np.allclose(m.audio[:20000], f.audio[:20000])


def test_phonemize_matches_synthesize():
    a = synthesize(TEXT, variant="f2")
    durs = phonemize(TEXT, variant="f2")
    # eSpeak carries pitch-cycle phase between calls: names equal, timings within a few ms
    assert [p for p, _ in durs] == [p.ipa for p in a.phonemes]
    assert sum(d for _, d in durs) == pytest.approx(a.duration, abs=0.02)
    for (_, d), p in zip(durs, a.phonemes):
        assert abs(d - (p.end - p.start)) < 0.02


_CHILD = (
    "import hashlib, sys; from omnitalker_core.text.espeak import synthesize;"
    "a = synthesize(sys.argv[1], variant='f2', seed=5).audio; b = synthesize(sys.argv[1], variant='m3', seed=6).audio;"
    "print(hashlib.sha256(a.tobytes() + b.tobytes()).hexdigest())"
)


def test_seeded_synthesis_is_bit_exact_in_a_fresh_process():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    runs = [
        subprocess.run(
            [sys.executable, "-c", _CHILD, TEXT], capture_output=True, text=True, check=True, cwd=root
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and len(runs[0].strip()) == 64


def test_threads_share_the_library_safely():
    texts = [f"Number {i} is a good number to say out loud." for i in range(6)]
    expected = [synthesize(t).phonemes for t in texts]
    got: dict[int, list] = {}

    def work(i: int) -> None:
        got[i] = synthesize(texts[i]).phonemes

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Same phonemes; timings within eSpeak's call-to-call drift. eSpeak carries state from one utterance to the
    # next, which shifts phoneme starts by up to ~20 ms late in a sentence (measured 20.1 ms once, so a 20 ms
    # bound flaked); a race between threads would scramble phonemes or move them by far more than 50 ms.
    for i, ref in enumerate(expected):
        assert [p.ipa for p in got[i]] == [p.ipa for p in ref]
        assert max(abs(a.start - b.start) for a, b in zip(got[i], ref)) < 0.05


@pytest.mark.parametrize("text", ["", "   ", "...", None])
def test_unspeakable_text_raises_value_error(text):
    with pytest.raises(ValueError, match="empty|nothing speakable"):
        synthesize(text)


def test_bad_parameters_raise_value_error():
    with pytest.raises(ValueError, match="unknown eSpeak voice"):
        synthesize("hello", voice="xx-nonexistent")
    with pytest.raises(ValueError, match="rate"):
        synthesize("hello", rate=10)
    with pytest.raises(ValueError, match="pitch"):
        synthesize("hello", pitch=150)


def test_list_variants():
    v = espeak.list_variants()
    assert {"m1", "f1", "klatt"} <= set(v) and len(v) > 50


# ---- vocabulary --------------------------------------------------------------------------------


def test_vocab_layout_and_json_roundtrip():
    vocab = PhonemeVocab.from_symbols(["ˈoʊ", "k", "_", "ə", "k"])
    assert vocab.to_list() == [PAD, "_", "k", "ə", "ˈoʊ"]
    again = PhonemeVocab.from_list(json.loads(json.dumps(vocab.to_list())))
    assert again == vocab and again.id("k") == 2 and vocab.pad_id == 0 and vocab.silence_id == 1
    with pytest.raises(ValueError, match="must start with"):
        PhonemeVocab(("a", "b"))
    with pytest.raises(ValueError, match="duplicate"):
        PhonemeVocab((PAD, "_", "a", "a"))


def test_vocab_fallback_never_raises():
    vocab = PhonemeVocab.from_symbols(["ɪ", "ˈaɪ", "a", "iː", "ə", "t"])
    assert vocab.id("ˈɪ") == vocab.id("ɪ")  # stress dropped
    assert vocab.id("aɪ") == vocab.id("ˈaɪ")  # stress added
    # no "iːː" / "i" / stressed forms in the vocabulary: a vowel letter -> the neutral vowel (rule 4), not "iː"
    assert vocab.id("iːː") == vocab.id("ə")
    assert vocab.id("ˌaʊ") == vocab.id("a")  # first sound of a diphthong
    assert vocab.id("ø") == vocab.id("ə")  # unknown vowel -> neutral vowel
    assert "ʘ" not in vocab._fallback_cache
    assert vocab.id("ʘ") == vocab.silence_id  # unknown non-vowel -> silence
    assert vocab._fallback_cache["ʘ"] == vocab.silence_id
    assert vocab.id("ʘ") == vocab.silence_id  # cached path: the same answer


def test_frame_align_assigns_frame_centres():
    vocab = PhonemeVocab.from_symbols(["a", "b"])
    spans = [("_", 0.0, 0.1), ("a", 0.1, 0.25), ("b", 0.25, 0.3)]
    ids = frame_align(spans, 40, vocab, fps=100.0)
    assert ids.dtype == torch.long and ids.shape == (40,)
    assert ids[:10].tolist() == [1] * 10  # 0.00 .. 0.09
    assert ids[10:25].tolist() == [vocab.id("a")] * 15
    assert ids[25:30].tolist() == [vocab.id("b")] * 5
    assert ids[30:].tolist() == [1] * 10  # after the last span: silence, never padding
    with pytest.raises(ValueError, match="num_frames"):
        frame_align(spans, -1, vocab)


def test_target_alignment_scales_with_rate():
    syn = synthesize(TEXT)
    vocab = PhonemeVocab.from_symbols(p.ipa for p in syn.phonemes)
    ids = target_alignment(TEXT, vocab)
    # N = eSpeak's phoneme durations at 93.75 frames/s, from target_alignment's own eSpeak call. eSpeak keeps
    # state between utterances: the same text with the same settings comes out up to ~13 ms (1.25 frames) longer
    # or shorter depending on what was spoken before (measured 3.488-3.502 s here), so a separate synthesis
    # agrees within 2 frames, not 1.
    assert abs(len(ids) - syn.duration * 93.75) <= 2
    assert (ids > 0).all(), "no padding inside the target"
    fast = target_alignment(TEXT, vocab, rate_scale=2.0)
    assert abs(len(fast) - len(ids) / 2) <= 2
    # the sequence of phonemes is eSpeak's, in its order, only stretched: every phoneme that lasts a mel frame
    # at that rate is there (a shorter one may fall between two frame centres)
    dedup = lambda x: [int(v) for i, v in enumerate(x) if i == 0 or v != x[i - 1]]  # noqa: E731
    spoken = phonemize(TEXT)
    for scale, aligned in ((1.0, ids), (2.0, fast)):
        got, want = dedup(aligned.tolist()), dedup([vocab.id(p) for p, _ in spoken])
        assert _is_subsequence(got, want), (scale, vocab.decode(got), vocab.decode(want))
        shorter_than_a_frame = sum(d / scale < 1 / 93.75 for _, d in spoken)
        assert len(want) - shorter_than_a_frame <= len(got) <= len(want), (scale, len(got), len(want))
    with pytest.raises(ValueError, match="rate_scale"):
        target_alignment(TEXT, vocab, rate_scale=0)
    spans = spans_from_durations([("a", 0.1), ("b", 0.2)], 2.0)
    assert [ipa for ipa, _, _ in spans] == ["a", "b"]
    assert [(start, end) for _, start, end in spans] == [pytest.approx((0.0, 0.2)), pytest.approx((0.2, 0.6))]


def _is_subsequence(short: list, long: list) -> bool:
    """`short` is `long` with some items left out, the order kept."""
    rest = iter(long)
    return all(any(x == y for y in rest) for x in short)
