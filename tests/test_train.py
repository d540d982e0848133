"""Trainer: runs, logs, exports a loadable model, resumes where it stopped, and trains under torchrun (DDP, gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from omnitalker_core.__main__ import main
from omnitalker_core.checkpoints import load_bundle
from omnitalker_core.text.tokenizer import CharTokenizer, PhonemeTokenizer
from omnitalker_core.train.trainer import TrainConfig

REPO = Path(__file__).resolve().parents[1]
CORPUS_ARGS = [
    "--speakers",
    "9",
    "--hours",
    "0.01",
    "--shard-size",
    "20",
    "--heldout-sentences",
    "4",
    "--heldout-speaker-utts",
    "2",
]
TRAIN_ARGS = [
    "--config",
    "tiny",
    "--batch-frames",
    "1500",
    "--save-every",
    "2",
    "--eval-every",
    "2",
    "--warmup-steps",
    "2",
    "--threads",
    "1",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train_corpus")
    assert main(["corpus", "--out", str(out), "--seed", "5", "--workers", "1", *CORPUS_ARGS]) == 0
    return out


def _steps(run: Path) -> list[int]:
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [r["step"] for r in lines if "loss" in r]


def _state_step(run: Path) -> int:
    with safe_open(str(run / "state.safetensors"), "pt") as f:
        return json.loads(f.metadata()["train_state"])["step"]


def _model_weights(run: Path) -> dict:
    """The raw (not EMA) model tensors of a run's resumable state."""
    with safe_open(str(run / "state.safetensors"), "pt") as f:
        return {k.removeprefix("model."): f.get_tensor(k).float() for k in f.keys() if k.startswith("model.")}


@pytest.mark.parametrize("alignment", ["frames", "filler"])
def test_train_exports_model_and_resumes(corpus, tmp_path, alignment):
    run, init = tmp_path / "run", tmp_path / "init"
    common = ["train", "--data", str(corpus), "--text-alignment", alignment, *TRAIN_ARGS]
    args = [*common, "--out", str(run)]
    assert main([*common, "--out", str(init), "--max-steps", "0"]) == 0  # the same seed: the initial weights
    assert main([*args, "--max-steps", "3"]) == 0
    assert _steps(run) == [1, 2, 3] and _state_step(run) == 3
    # the optimizer stepped: every weight tensor moved (all but the motion normalisation stats, fitted once),
    # none by more than AdamW moves a weight in three steps of lr/2, lr, lr (about lr per step; measured
    # 0.2-2.5 lr per tensor at most)
    before, after = _model_weights(init), _model_weights(run)
    assert before.keys() == after.keys()
    stats = {"motion_mean", "motion_std"}
    assert all(torch.equal(before[k], after[k]) for k in stats)
    change = {k: (after[k] - before[k]).abs() for k in before if k not in stats}
    lr = TrainConfig().lr
    unmoved = [k for k, d in change.items() if float((d > 0).float().mean()) <= 0.9]
    assert not unmoved, f"{len(unmoved)} of {len(change)} weight tensors never moved: {unmoved[:4]}"
    assert min(float(d.max()) for d in change.values()) > 0.05 * lr
    assert max(float(d.max()) for d in change.values()) < 1.5 * 2.5 * lr
    evals = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if '"eval"' in x]
    assert evals and all(set(e["eval"]) >= {"loss", "mel", "expression", "pose", "gaze"} for e in evals)

    bundle = load_bundle(run / "latest.safetensors")
    expected = PhonemeTokenizer if alignment == "frames" else CharTokenizer
    assert isinstance(bundle.tokenizer, expected)
    assert bundle.flow.model_cfg.text_alignment == alignment
    assert bundle.info["step"] == 3
    assert (bundle.flow.motion_std != 1).any(), "motion normalisation stats were not fitted"

    assert main([*args, "--max-steps", "5", "--resume"]) == 0
    assert _steps(run) == [1, 2, 3, 4, 5], "resume must continue at step 4, not restart"
    assert _state_step(run) == 5


def test_torchrun_ddp_gloo_two_processes(corpus, tmp_path):
    run = tmp_path / "ddp"
    # a rank that aborts (seen once, in gloo, at the end of a run) prints its threads' Python stacks in the message
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), PYTHONFAULTHANDLER="1")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "omnitalker_core", "train", "--data", str(corpus), "--out", str(run), "--device", "cpu",
        "--max-steps", "2", *TRAIN_ARGS,
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _steps(run) == [1, 2], "rank 0 logs each optimizer step once"
    assert _state_step(run) == 2
    assert load_bundle(run / "latest.safetensors").info["step"] == 2


def test_ema_warms_up_instead_of_keeping_the_initial_weights():
    import torch
    from torch.optim.swa_utils import AveragedModel

    from omnitalker_core.train.trainer import ema_update_fn

    net = torch.nn.Linear(4, 4, bias=False)
    ema = AveragedModel(net, multi_avg_fn=ema_update_fn(0.999), use_buffers=True)
    ema.update_parameters(net)  # first update copies
    for _ in range(20):
        with torch.no_grad():
            net.weight.add_(1.0)
        ema.update_parameters(net)
    lag = float((net.weight - ema.module.weight).detach().abs().max())
    # A constant 0.999 decay would still sit ~20 behind (almost at the initial weights); warm-up follows closely.
    assert lag < 5.0, f"EMA lags the weights by {lag:.2f}"
    assert lag > 0.5, "EMA must still average, not copy"


def test_init_from_copies_every_matching_tensor(corpus, tmp_path, capsys):
    """--init-from: a model of the same config starts as that model (all but the fitted motion statistics)."""
    first, second = tmp_path / "first", tmp_path / "second"
    common = ["train", "--data", str(corpus), "--text-alignment", "frames", *TRAIN_ARGS]
    assert main([*common, "--out", str(first), "--max-steps", "2"]) == 0
    assert main([*common, "--out", str(second), "--max-steps", "0", "--seed", "9",
                 "--init-from", str(first / "latest.safetensors")]) == 0  # fmt: skip
    source = load_bundle(first / "latest.safetensors").flow.state_dict()  # EMA weights, as exported
    started = _model_weights(second)
    assert all(torch.equal(started[k], source[k]) for k in source if k not in ("motion_mean", "motion_std"))
    capsys.readouterr()
    assert (
        main(
            [*common, "--out", str(tmp_path / "bad"), "--max-steps", "0", "--init-from", str(corpus / "manifest.json")]
        )
        != 0
    )
    assert "manifest.json: OmniTalker models are .safetensors files" in capsys.readouterr().err


def test_train_durations_adds_a_predictor(corpus, tmp_path):
    from omnitalker_core.model.duration import runs

    run = tmp_path / "run"
    assert main(["train", "--data", str(corpus), "--out", str(run), "--text-alignment", "frames", *TRAIN_ARGS,
                 "--max-steps", "1"]) == 0  # fmt: skip
    model = run / "latest.safetensors"
    before = model.read_bytes()
    assert main(["train-durations", "--data", str(corpus), "--model", str(model), "--max-steps", "150"]) == 0
    assert model.read_bytes() == before  # the input model is kept
    bundle = load_bundle(run / "latest_durations.safetensors")
    assert bundle.durations is not None and bundle.tokenizer.durations is bundle.durations
    report = bundle.info["durations"]
    assert report["steps"] == 150 and report["length_error"] < 0.5
    # the tokenizer now times the target with the predictor: its frames are the predictor's, not eSpeak's
    names = [p for p, _ in bundle.tokenizer.timed_phonemes("Seven green apples.")]
    seconds = bundle.durations.seconds(bundle.tokenizer.vocab.encode(names))
    assert [d for _, d in bundle.tokenizer.timed_phonemes("Seven green apples.")] == pytest.approx(seconds)
    ids, frames = runs([3, 3, 5, 1, 1, 1])
    assert ids.tolist() == [3, 5, 1] and frames.tolist() == [2, 1, 3]
