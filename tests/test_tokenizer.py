"""Text front-end: F5-TTS-compatible characters/pinyin and duration rule, input validation."""

from __future__ import annotations

import pytest
import torch

from omnitalker_core.text import tokenizer as tok
from omnitalker_core.text.tokenizer import (
    DEFAULT_VOCAB,
    CharTokenizer,
    chars_with_pinyin,
    check_text,
    estimate_duration,
)

MIXED = [
    "Hello, world.",
    "Hello,world! It's 5:30pm...really?!",
    "我们今天去北京, and then to Shanghai.",
    "OmniTalker是一个模型。",
    "他说：“不要走”；然后离开了",
    "混合English和中文text混排",
    "一会儿我们再说吧",
    "AI技术发展很快，GPT-4很强大。",
]
# where jieba and rjieba (F5-TTS's segmenter) cut ASCII differently
RJIEBA_ONLY = ["don't stop-me now", "The price is 3.5kg,ok?", "e-mail: a.b@c.com;ok"]


@pytest.fixture(scope="module")
def f5_tokenizer():
    return CharTokenizer.from_file(DEFAULT_VOCAB)


@pytest.fixture(scope="module")
def f5_utils():
    """The reference F5-TTS package (a test-only requirement): only the parity tests need it."""
    return pytest.importorskip("f5_tts.model.utils")


@pytest.mark.parametrize("text", MIXED + RJIEBA_ONLY)
def test_pinyin_matches_f5(f5_utils, text):
    assert chars_with_pinyin(text) == f5_utils.convert_char_to_pinyin([text])[0]


def test_jieba_fallback_agrees_on_common_text(f5_utils, monkeypatch):
    """Without rjieba we segment with jieba: identical on these strings (not on RJIEBA_ONLY)."""
    import jieba

    jieba.setLogLevel(60)
    monkeypatch.setattr(tok, "_jieba", lambda: jieba)
    for text in MIXED:
        assert chars_with_pinyin(text) == f5_utils.convert_char_to_pinyin([text])[0], text


def test_ids_and_duration_follow_f5(f5_utils, f5_tokenizer):
    vocab_map = {c: i for i, c in enumerate(f5_tokenizer.vocab)}
    ref_text, text, ref_frames = (
        "Some call me nature, others call me mother nature.",
        "我们今天去北京, and then to Shanghai.",
        310,
    )
    for speed in (1.0, 1.3, 0.7):
        got = f5_tokenizer.build(ref_text, text, ref_frames, speed=speed)
        # f5_tts/infer/utils_infer.py: the reference ends with ". ", then this rule
        f5_ref = ref_text + " "
        expected = ref_frames + int(ref_frames / len(f5_ref.encode("utf-8")) * len(text.encode("utf-8")) / speed)
        assert got.duration == expected, speed
        assert got.ref_frames == ref_frames
    f5_ids = f5_utils.list_str_to_idx(f5_utils.convert_char_to_pinyin([f5_ref + text]), vocab_map)[0]
    assert torch.equal(got.ids, f5_ids)
    assert got.ids.min() >= 0 and got.ids.max() < f5_tokenizer.num_embeds


def test_duration_grows_with_text_and_speed(f5_tokenizer):
    short = f5_tokenizer.build("A reference sentence.", "Hi there.", 200).duration
    long = f5_tokenizer.build("A reference sentence.", "Hi there, this one is a good deal longer.", 200).duration
    fast = f5_tokenizer.build(
        "A reference sentence.", "Hi there, this one is a good deal longer.", 200, speed=2.0
    ).duration
    assert 200 < short < fast < long
    assert estimate_duration(200, 20, 40) == 600 and estimate_duration(200, 20, 40, speed=2.0) == 400


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "...!?", "—，。"])
def test_nothing_speakable_names_the_input(f5_tokenizer, text):
    with pytest.raises(ValueError, match="^text"):
        f5_tokenizer.build("A fine reference.", text, 100)
    with pytest.raises(ValueError, match="^text"):
        check_text(text, "text")


@pytest.mark.parametrize("ref_text", [None, "", "  ", "?!"])
def test_missing_reference_transcript(f5_tokenizer, ref_text):
    with pytest.raises(ValueError, match="^reference transcript"):
        f5_tokenizer.build(ref_text, "Something to say.", 100)
    with pytest.raises(ValueError, match="reference transcript"):
        estimate_duration(100, 0, 10)


def test_text_too_long_is_a_clear_error(f5_tokenizer):
    with pytest.raises(ValueError, match="more than the model's 8192.*split"):
        f5_tokenizer.build("Short ref.", "word " * 3000, 900)
    with pytest.raises(ValueError, match="more than the model's 8192.*split"):
        estimate_duration(900, 10, 200)


def test_bad_speed_and_vocab(tmp_path, f5_tokenizer):
    with pytest.raises(ValueError, match="speed"):
        f5_tokenizer.build("A reference.", "Words.", 100, speed=10)
    with pytest.raises(ValueError, match="space character"):
        CharTokenizer(["a", " "])
    with pytest.raises(FileNotFoundError, match="vocab"):
        CharTokenizer.from_file(tmp_path / "vocab.txt")


def test_vocab_file_round_trip(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text(" \na\nb\nni3\n", encoding="utf-8")
    t = CharTokenizer.from_file(path)
    assert t.vocab == [" ", "a", "b", "ni3"] and t.num_embeds == 4
    assert t.encode("ab你z") == [1, 2, 0, 3, 0]  # pinyin; unknown characters -> 0 (space), as F5
    assert tok.tokenizer_from_metadata(t.to_metadata()).vocab == t.vocab
    with pytest.raises(ValueError, match="unknown tokenizer kind"):
        tok.tokenizer_from_metadata({"kind": "bpe"})


def test_text_in_a_script_the_model_cannot_speak_is_refused():
    from omnitalker_core.text.tokenizer import CharTokenizer, PhonemeTokenizer, check_language

    with pytest.raises(ValueError, match="Chinese characters .* English only"):
        check_language("你好，世界", PhonemeTokenizer.languages)
    with pytest.raises(ValueError, match="Cyrillic"):
        check_language("Привет, мир", CharTokenizer.languages)
    assert check_language("你好，世界", CharTokenizer.languages) is None  # F5 speaks Chinese
    assert check_language("I think it is fine, Kim. OK? Dr. Smith paid $3.50.", PhonemeTokenizer.languages) is None
    note = check_language("Grüß Gott, wie geht es?", PhonemeTokenizer.languages)
    assert note is not None and "ü" in note and "English rules" in note


def test_generate_refuses_chinese_for_an_english_model(tmp_path):
    from omnitalker_core.checkpoints import load_bundle
    from omnitalker_core.pipeline import generate
    from omnitalker_core.style import Style

    bundle = load_bundle()
    style = Style(torch.zeros(100, 100), None, "hello there", None, torch.zeros(24000))
    with pytest.raises(ValueError, match="English only"):
        generate(bundle, style, "你好，世界", steps=1)
