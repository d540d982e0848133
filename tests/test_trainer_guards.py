"""Trainer guards: a diverged run stops with a message instead of looping, and held-out evaluation does not
shift training's random stream."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from omnitalker_core.__main__ import main
from omnitalker_core.train.trainer import TrainConfig, Trainer

CORPUS_ARGS = ["--speakers", "9", "--hours", "0.005", "--shard-size", "20", "--heldout-sentences", "4",
               "--heldout-speaker-utts", "2", "--seed", "3", "--workers", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("guard_corpus")
    assert main(["corpus", "--out", str(out), *CORPUS_ARGS]) == 0
    return out


def _trainer(corpus: Path, out: Path, **overrides) -> Trainer:
    cfg = TrainConfig(model="tiny", batch_frames=1500, warmup_steps=2, eval_every=1000, save_every=1000, **overrides)
    return Trainer(cfg, corpus, out, device="cpu")


@pytest.mark.timeout(300)
def test_run_of_non_finite_gradients_stops_instead_of_looping(corpus, tmp_path):
    with torch.random.fork_rng():
        trainer = _trainer(corpus, tmp_path / "run", max_steps=5, max_bad_steps=3)
        with torch.no_grad():
            next(trainer.flow.parameters()).fill_(float("nan"))  # every batch now has a NaN loss and gradient
        with pytest.raises(RuntimeError, match=r"diverged at step 0: 3 batches in a row"):
            trainer.fit()
    assert trainer.step == 0, "no update may be applied from a non-finite gradient"
    assert not (tmp_path / "run" / "latest.safetensors").exists(), "a diverged model must not be exported"


def test_isolated_non_finite_gradient_is_skipped_and_training_goes_on(corpus, tmp_path, monkeypatch):
    with torch.random.fork_rng():
        trainer = _trainer(corpus, tmp_path / "run", max_steps=3, max_bad_steps=2)
        first = next(trainer.flow.parameters())
        good = first.detach().clone()
        calls = {"n": 0}
        original = torch.nn.utils.clip_grad_norm_

        def one_bad_norm(params, max_norm, *a, **k):  # the first batch reports a NaN norm, later ones are real
            calls["n"] += 1
            norm = original(params, max_norm, *a, **k)
            return torch.tensor(float("nan")) if calls["n"] == 1 else norm

        monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", one_bad_norm)
        trainer.fit()
    assert trainer.step == 3 and calls["n"] == 4, "the bad batch is skipped without counting as a step"
    assert not torch.equal(first.detach(), good), "the good batches updated the weights"


def test_evaluate_does_not_move_the_training_random_stream(corpus, tmp_path):
    with torch.random.fork_rng():
        trainer = _trainer(corpus, tmp_path / "run")
        torch.manual_seed(7)
        expected = torch.rand(8)
        torch.manual_seed(7)
        first = trainer.evaluate(max_batches=1)
        after = torch.rand(8)
        second = trainer.evaluate(max_batches=1)
    assert torch.equal(after, expected), "evaluation consumed or reseeded the training RNG"
    assert first == pytest.approx(second, rel=1e-6), "held-out loss uses fixed noise: two evaluations agree"


def test_learning_rate_decays_from_decay_start_to_the_final_scale_at_max_steps():
    """A constant-lr run resumed with --decay-start finishes on a cosine; without it the lr stays at its peak."""
    sched = Trainer.lr_at  # needs only .cfg
    flat = type("T", (), {"cfg": TrainConfig(lr=1e-3, warmup_steps=10, max_steps=1000)})()
    decay = type("T", (), {"cfg": TrainConfig(lr=1e-3, warmup_steps=10, max_steps=1000, decay_start=600,
                                              final_lr_scale=0.1)})()  # fmt: skip
    assert sched(flat, 4) == pytest.approx(5e-4) and sched(flat, 999) == pytest.approx(1e-3)
    assert sched(decay, 599) == pytest.approx(1e-3)
    assert sched(decay, 800) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))  # half way down the cosine
    assert sched(decay, 1000) == pytest.approx(1e-4)
    lrs = [sched(decay, s) for s in range(600, 1001)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:])), "the decay never rises"
    with pytest.raises(ValueError, match="decay_start"):
        TrainConfig(max_steps=100, decay_start=100)
