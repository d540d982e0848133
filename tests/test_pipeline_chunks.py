"""Long text: sentence chunks that fit the model, generated one after another with continuous motion."""

from __future__ import annotations

import random

import pytest
import torch
from test_model import VOCAB, synthetic_style, tiny_flow

from omnitalker_core import motion as motion_code
from omnitalker_core.checkpoints import OmniTalkerBundle
from omnitalker_core.pipeline import crossfade_concat, generate, split_sentences, video_frames_for
from omnitalker_core.text.tokenizer import CharTokenizer


def test_hard_cut_gives_chunks_of_exactly_max_chars():
    assert [len(c) for c in split_sentences("x" * 100, 40)] == [40, 40, 20]


def test_cut_prefers_comma_then_space_and_keeps_the_comma():
    text = "alpha beta gamma, delta epsilon zeta eta theta"
    assert split_sentences(text, 20) == ["alpha beta gamma,", "delta epsilon zeta", "eta theta"]


def test_sentences_are_grouped_greedily():
    assert split_sentences("One. Two! Three? Four.", 10) == ["One. Two!", "Three?", "Four."]
    assert split_sentences("line one\nline two", 100) == ["line one line two"]


@pytest.mark.parametrize("seed", range(20))
def test_chunks_fit_and_lose_no_text(seed):
    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 30))) for _ in range(rng.randint(1, 80))]
    text = " ".join(w + rng.choice(["", "", ",", ".", "!"]) for w in words)
    limit = rng.randint(10, 120)
    chunks = split_sentences(text, limit)
    assert all(0 < len(c) <= limit for c in chunks), [len(c) for c in chunks]
    assert "".join("".join(chunks).split()) == "".join(text.split()), "characters lost or reordered"


def test_crossfade_ramps_from_the_previous_chunk_into_the_next():
    a, b = torch.zeros(10, 3), torch.ones(10, 3)
    out = crossfade_concat([a, b], overlap=6)
    assert out.shape == (20, 3)
    ramp = out[10:16, 0]
    assert torch.all(ramp[1:] > ramp[:-1]) and 0 < ramp[0] < 0.2 and 0.8 < ramp[-1] < 1, ramp
    assert torch.equal(out[:10], a) and torch.equal(out[16:], b[6:])


def test_crossfade_of_a_chunk_shorter_than_the_overlap():
    out = crossfade_concat([torch.zeros(5, 2), torch.ones(2, 2)], overlap=6)
    assert out.shape == (7, 2) and torch.all((out[5:] > 0) & (out[5:] < 1))


def test_long_text_is_generated_in_chunks_with_one_progress_total():
    flow = tiny_flow(seed=4, text_num_embeds=len(VOCAB))
    bundle = OmniTalkerBundle(flow=flow, tokenizer=CharTokenizer(VOCAB))
    style = synthetic_style()
    sentence = "the quick brown fox jumps over the lazy dog again and again, " * 3
    text = " ".join(f"{sentence.strip()[:-1]}." for _ in range(4))  # ~750 characters, four sentences
    seen = []
    gen = generate(bundle, style, text, steps=2, callback=lambda i, n: seen.append((i, n)))
    assert len(gen.chunks) >= 2
    assert "".join("".join(gen.chunks).split()) == "".join(text.split())
    durations = [bundle.tokenizer.build(style.transcript, c, style.num_frames).duration - style.num_frames
                 for c in gen.chunks]  # fmt: skip
    assert gen.mel.shape == (sum(durations), 100)
    assert gen.motion.shape == (sum(video_frames_for(d) for d in durations), motion_code.MOTION_DIM)
    total = 2 * len(gen.chunks)
    assert seen == [(i, total) for i in range(1, total + 1)], "one monotonic progress over all chunks"
