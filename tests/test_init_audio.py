"""train --init-audio (the paper's recipe: the audio branch starts from F5-TTS), --freeze-audio, --audio-lr-scale,
the paper's loss weights on that path, --grad-accum, resume, and torchrun (DDP, gloo) with these options.

The F5-TTS checkpoint is a tiny randomly initialised `f5_tts` DiT (as in test_parity_f5.py) written the way F5
releases are (`ema_model.transformer.*`) and converted with `convert f5`; the corpus is test_train.py's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from omnitalker_core.__main__ import main
from omnitalker_core.checkpoints import load_bundle
from omnitalker_core.corpus.dataset import MEL_FLOOR, collate
from omnitalker_core.model import flow as flow_module
from omnitalker_core.train.trainer import AUDIO_PREFIXES, PAPER_LOSS_WEIGHTS, TrainConfig, Trainer

REPO = Path(__file__).resolve().parents[1]
CORPUS_ARGS = ["--speakers", "9", "--hours", "0.01", "--shard-size", "20", "--heldout-sentences", "4",
               "--heldout-speaker-utts", "2", "--seed", "5", "--workers", "1"]  # fmt: skip
TRAIN_ARGS = ["--batch-frames", "1500", "--warmup-steps", "2", "--threads", "1", "--save-every", "10",
              "--eval-every", "10"]  # fmt: skip
# F5-TTS v1 layout at test size; the default vocab (2545 characters) as F5 v1 Base's
TINY_F5 = dict(
    dim=64, depth=3, heads=2, dim_head=32, ff_mult=2, text_dim=32, conv_layers=2, text_num_embeds=2545, mel_dim=100
)
LR = TrainConfig().lr
PAPER = dict(zip(("mel", "expression", "pose", "gaze"), PAPER_LOSS_WEIGHTS))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("init_audio_corpus")
    assert main(["corpus", "--out", str(out), *CORPUS_ARGS]) == 0
    return out


@pytest.fixture(scope="module")
def f5_file(tmp_path_factory) -> Path:
    """`convert f5` of a random F5-TTS DiT (+1 identity audio block, a narrower visual branch)."""
    from f5_tts.model import DiT  # the reference package, a test requirement (requirements-test.txt)

    folder = tmp_path_factory.mktemp("f5")
    dit = DiT(**TINY_F5)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in dit.parameters():  # random everywhere (F5 zero-inits some layers): every tensor matters
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    ckpt = folder / "model_1250000.safetensors"
    save_file({f"ema_model.transformer.{k}": v.contiguous() for k, v in dit.state_dict().items()}, str(ckpt))
    out = folder / "omnitalker_f5.safetensors"
    argv = ["convert", "f5", "--checkpoint", str(ckpt), "--out", str(out), "--dim-head", "32", "--motion-width", "32"]
    assert main([*argv, "--extra-blocks", "1"]) == 0
    return out


def _generator(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), "pt") as f:
        return {k.removeprefix("generator."): f.get_tensor(k) for k in f.keys() if k.startswith("generator.")}


def _state(run: Path) -> tuple[dict[str, torch.Tensor], dict, dict[str, torch.Tensor]]:
    """A run's raw (not EMA) model tensors, its metadata and its optimizer tensors."""
    with safe_open(str(run / "state.safetensors"), "pt") as f:
        meta = json.loads(f.metadata()["train_state"])
        model = {k.removeprefix("model."): f.get_tensor(k) for k in f.keys() if k.startswith("model.")}
        optim = {k: f.get_tensor(k) for k in f.keys() if k.startswith("optim.")}
    return model, meta, optim


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def _split(weights: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    """(audio branch + text embedding, visual branch + fusion gates); motion statistics left out."""
    audio = {k: v for k, v in weights.items() if k.startswith(AUDIO_PREFIXES)}
    visual = {k: v for k, v in weights.items() if k.startswith(("transformer.motion.", "transformer.fusion."))}
    assert len(audio) + len(visual) + 2 == len(weights)  # + motion_mean, motion_std
    return audio, visual


def _moved(before: dict, after: dict) -> list[str]:
    return [k for k in before if not torch.equal(before[k], after[k])]


def _optimized(meta: dict) -> set[str]:
    return {name for group in meta["param_names"] for name in group}


def test_frozen_audio_stays_f5_bit_for_bit_and_resumes_frozen(corpus, f5_file, tmp_path):
    f5 = _generator(f5_file)
    f5_audio, _ = _split(f5)
    start, plain, run = tmp_path / "start", tmp_path / "plain", tmp_path / "run"
    common = ["train", "--data", str(corpus), *TRAIN_ARGS]
    init = ["--init-audio", str(f5_file)]
    assert main([*common, *init, "--freeze-audio", "--out", str(start), "--max-steps", "0"]) == 0
    assert main([*common, "--config", str(f5_file), "--out", str(plain), "--max-steps", "0"]) == 0
    # before training: audio branch + text embedding are F5's, the rest is what a new model of the seed has
    begin_audio, begin_visual = _split(_state(start)[0])
    plain_audio, plain_visual = _split(_state(plain)[0])
    assert len(begin_audio) == len(f5_audio) > 50
    assert all(torch.equal(begin_audio[k], f5_audio[k]) for k in f5_audio)
    assert all(torch.equal(begin_visual[k], plain_visual[k]) for k in plain_visual)
    from_f5 = [k for k in plain_audio if not k.startswith("transformer.audio.blocks.3.")]  # block 3: convert's own
    assert _moved(plain_audio, begin_audio) == from_f5, "without --init-audio the audio branch is fresh"

    assert main([*common, *init, "--freeze-audio", "--out", str(run), "--max-steps", "30"]) == 0
    model, meta, optim = _state(run)
    audio, visual = _split(model)
    assert all(torch.equal(audio[k], f5_audio[k]) for k in f5_audio), "a frozen audio branch changed"
    exported = _generator(run / "latest.safetensors")  # the EMA weights
    assert all(torch.equal(exported[k], f5_audio[k]) for k in f5_audio), "the exported (EMA) audio branch changed"
    assert _moved(begin_visual, visual) == list(begin_visual), "every visual and fusion tensor must train"
    gates = [k for k in visual if k.startswith("transformer.fusion.") and k.endswith(".audio")]
    assert gates and all(float(visual[k].abs().max()) > 0 for k in gates), "audio fusion gates open from zero"
    # not in the optimizer: no parameter group and no AdamW moments for the audio branch
    assert _optimized(meta) == set(begin_visual)
    assert len(optim) == 3 * len(begin_visual)  # step, exp_avg, exp_avg_sq per trained tensor
    records = [r for r in _log(run) if "loss" in r]
    assert [r["step"] for r in records] == list(range(1, 31))
    for r in records:  # the paper's loss weights by default on this path
        assert r["loss"] == pytest.approx(sum(PAPER[k] * r[k] for k in PAPER), rel=1e-4)
    bundle = load_bundle(run / "latest.safetensors")
    assert bundle.flow.flow_cfg.loss_weights == PAPER
    assert bundle.flow.model_cfg.depth == 4 and bundle.flow.model_cfg.dim == 64  # the config convert f5 wrote
    assert bundle.info["init_audio"]["file"] == str(f5_file.resolve())
    assert bundle.info["init_audio"]["source"] == "model_1250000.safetensors" and bundle.info["init_audio"]["frozen"]

    # resumed without repeating the options: still frozen, the same parameter group, steps go on
    assert main(["train", "--data", str(corpus), "--out", str(run), "--resume", "--max-steps", "33"]) == 0
    model2, meta2, _ = _state(run)
    audio2, visual2 = _split(model2)
    assert [r["step"] for r in _log(run) if "loss" in r] == list(range(1, 34))
    assert meta2["step"] == 33 and meta2["train_config"]["freeze_audio"] is True
    assert all(torch.equal(audio2[k], f5_audio[k]) for k in f5_audio), "the resumed run unfroze the audio branch"
    assert _optimized(meta2) == set(begin_visual)
    assert _moved(visual, visual2), "the resumed run did not train"
    assert load_bundle(run / "latest.safetensors").flow.flow_cfg.loss_weights == PAPER

    # unfrozen on a later resume, at a tenth of the rate: the audio branch joins with fresh AdamW moments
    assert main(["train", "--data", str(corpus), "--out", str(run), "--resume", "--max-steps", "35",
                 "--no-freeze-audio", "--audio-lr-scale", "0.1"]) == 0  # fmt: skip
    model3, meta3, optim3 = _state(run)
    audio3, _ = _split(model3)
    assert _moved(f5_audio, audio3) == list(f5_audio)
    assert [g["name"] for g in meta3["param_groups"]] == ["main", "audio"] and meta3["step"] == 35
    first_audio = len(meta3["param_names"][0])
    assert float(optim3[f"optim.{first_audio}.step"]) == 2, "moments of the audio branch start at the unfreezing"
    assert float(optim3["optim.0.step"]) == 35, "the visual branch keeps its moments"
    lr_audio = [r.get("lr_audio") for r in _log(run) if "loss" in r]
    assert lr_audio[:33] == [None] * 33 and lr_audio[33:] == pytest.approx([0.1 * LR, 0.1 * LR])


def test_unfrozen_audio_trains_and_audio_lr_scale_sets_its_rate(corpus, f5_file, tmp_path):
    f5_audio, _ = _split(_generator(f5_file))
    common = ["train", "--data", str(corpus), *TRAIN_ARGS, "--init-audio", str(f5_file)]
    runs = {name: tmp_path / name for name in ("start", "free", "zero", "half")}
    assert main([*common, "--out", str(runs["start"]), "--max-steps", "0"]) == 0
    assert main([*common, "--out", str(runs["free"]), "--max-steps", "4"]) == 0
    assert main([*common, "--out", str(runs["zero"]), "--max-steps", "4", "--audio-lr-scale", "0"]) == 0
    assert main([*common, "--out", str(runs["half"]), "--max-steps", "1", "--audio-lr-scale", "0.5",
                 "--loss-weights", "1", "2", "3", "4"]) == 0  # fmt: skip
    _, begin_visual = _split(_state(runs["start"])[0])

    free_audio, free_visual = _split(_state(runs["free"])[0])
    assert _moved(f5_audio, free_audio) == list(f5_audio), "without --freeze-audio every audio tensor trains"
    assert _moved(begin_visual, free_visual) == list(begin_visual)

    # learning rate 0: in the optimizer (gradients and moments) but never moved, bit for bit
    model, meta, optim = _state(runs["zero"])
    zero_audio, zero_visual = _split(model)
    assert all(torch.equal(zero_audio[k], f5_audio[k]) for k in f5_audio)
    assert _moved(begin_visual, zero_visual) == list(begin_visual)
    assert [g["name"] for g in meta["param_groups"]] == ["main", "audio"]
    assert set(meta["param_names"][1]) == set(f5_audio)
    first_audio = len(meta["param_names"][0])  # flat index of the first audio tensor's moments
    assert float(optim[f"optim.{first_audio}.exp_avg"].abs().max()) > 0, "the audio branch got no gradient"
    records = [r for r in _log(runs["zero"]) if "loss" in r]
    assert all(r["lr_audio"] == 0.0 and r["lr"] > 0 for r in records)

    # scale 0.5: half the rate, through the warm-up; AdamW's first step moves each weight by about its rate
    records = [r for r in _log(runs["half"]) if "loss" in r]
    assert [r["step"] for r in records] == [1] and records[0]["lr"] == pytest.approx(LR / 2)  # warm-up 1/2
    assert records[0]["lr_audio"] == pytest.approx(LR / 4)
    half_audio, half_visual = _split(_state(runs["half"])[0])
    step_audio = max(float((half_audio[k] - f5_audio[k]).abs().max()) for k in f5_audio)
    step_visual = max(float((half_visual[k] - begin_visual[k]).abs().max()) for k in begin_visual)
    assert step_visual == pytest.approx(LR / 2, rel=0.02)
    assert step_audio == pytest.approx(LR / 4, rel=0.02)
    # explicit loss weights replace the paper's default
    assert records[0]["loss"] == pytest.approx(sum(w * records[0][k] for k, w in zip(PAPER, (1, 2, 3, 4))), rel=1e-4)
    assert load_bundle(runs["half"] / "latest.safetensors").flow.flow_cfg.loss_weights == dict(
        zip(PAPER, (1.0, 2.0, 3.0, 4.0))
    )


def test_loss_weight_defaults():
    assert TrainConfig().resolved_loss_weights == dict(zip(PAPER, (1.0, 1.0, 0.5, 0.5)))  # from scratch: unchanged
    assert TrainConfig(init_audio="f5.safetensors").resolved_loss_weights == PAPER
    given = TrainConfig(init_audio="f5.safetensors", loss_weights=(0.2, 1.0, 1.0, 1.0)).resolved_loss_weights
    assert given == dict(zip(PAPER, (0.2, 1.0, 1.0, 1.0)))
    with pytest.raises(ValueError, match="give 4 numbers"):
        TrainConfig(loss_weights=(1.0, 2.0))
    with pytest.raises(ValueError, match="grad_accum must be >= 1"):
        TrainConfig(grad_accum=0)


def test_mismatched_file_names_the_mismatches_and_the_way_out(corpus, f5_file, tmp_path, capsys):
    common = ["train", "--data", str(corpus), "--init-audio", str(f5_file), "--max-steps", "0"]
    capsys.readouterr()
    assert main([*common, "--out", str(tmp_path / "a"), "--config", "demo"]) == 1
    err = capsys.readouterr().err
    assert f"--init-audio {f5_file.name} does not fit the model of config 'demo'" in err
    assert "transformer.text_embed.text_embed.weight: file (2546, 32), model" in err  # the first mismatch
    assert "dim 64, depth 4" in err and "dim 256, depth 8" in err  # the file's and the model's sizes
    assert "leave out --config" in err and f"--config {f5_file}" in err
    assert not (tmp_path / "a" / "state.safetensors").exists()
    assert main([*common, "--out", str(tmp_path / "b"), "--text-alignment", "frames"]) == 1
    err = capsys.readouterr().err
    assert "text alignment: file filler, model frames" in err and "Leave out --text-alignment" in err


class _DeterministicTorch:
    """`torch` as flow.py sees it in the accumulation test: no noise (x0 = 0) and flow time 0.5 for every
    sample, so a sample's loss does not depend on which batch it is in."""

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def randn_like(x, **kwargs):
        return torch.zeros_like(x)

    @staticmethod
    def rand(*size, generator=None, **kwargs):
        return torch.full(size, 0.5, **kwargs)


def _same_length(item: dict, frames: int) -> dict:
    """An utterance extended to `frames` (silence, still face): batches of such items need no padding, which
    would change a sample's loss with its batch (the text embedding's response norm sees the padded length)."""
    extra = frames - item["mel"].shape[0]
    pad = torch.nn.functional.pad
    return dict(item, mel=pad(item["mel"], (0, 0, 0, extra), value=MEL_FLOOR), motion=pad(item["motion"], (0, 0, 0, extra)),
                phonemes=pad(item["phonemes"], (0, extra)))  # fmt: skip


def test_grad_accum_of_two_micro_batches_is_one_step_on_their_union(corpus, f5_file, tmp_path, monkeypatch):
    monkeypatch.setattr(flow_module, "torch", _DeterministicTorch())
    trainers = []
    for accum in (2, 1):
        cfg = TrainConfig(init_audio=str(f5_file), grad_accum=accum, grad_clip=1e9, max_steps=1, warmup_steps=1,
                          save_every=1000, eval_every=1000)  # fmt: skip
        t = Trainer(cfg, corpus, tmp_path / f"accum{accum}", device="cpu")
        t.flow.flow_cfg = replace(t.flow.flow_cfg, frac_lengths_mask=(1.0, 1.0))  # every frame is in the loss
        for m in t.flow.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
        trainers.append(t)
    accumulated, union = trainers
    ds = accumulated.train_set
    n = max(ds[i]["mel"].shape[0] for i in range(3))
    items = [_same_length(ds[i], n) for i in range(3)]
    frames = [2 * n, n]  # micro-batches of 2 and 1 utterances: a plain mean of their losses would be wrong
    accumulated._batches = lambda: iter([collate(items[:2]), collate(items[2:])])
    union._batches = lambda: iter([collate(items)])
    assert all(torch.equal(a, b) for a, b in zip(accumulated.flow.parameters(), union.flow.parameters()))
    accumulated.fit()
    union.fit()
    assert accumulated.step == union.step == 1
    log_a, log_u = [[r for r in _log(t.out) if "loss" in r] for t in trainers]
    assert log_a[0]["frames"] == log_u[0]["frames"] == sum(frames)
    assert log_a[0]["loss"] == pytest.approx(log_u[0]["loss"], rel=1e-5)
    # the gradient of the step, as AdamW's first moment holds it (1 - beta1) * g: the same within float error
    names = [n for n, _ in accumulated.flow.named_parameters()]
    state_a = [accumulated.opt.state[p]["exp_avg"] for p in accumulated.flow.parameters()]
    state_u = [union.opt.state[p]["exp_avg"] for p in union.flow.parameters()]
    g_a, g_u = torch.cat([s.flatten() for s in state_a]), torch.cat([s.flatten() for s in state_u])
    assert float(g_u.norm()) > 0
    assert float((g_a - g_u).norm() / g_u.norm()) < 1e-4
    worst = max(range(len(names)), key=lambda i: float((state_a[i] - state_u[i]).norm() / (state_u[i].norm() + 1e-12)))
    rel = float((state_a[worst] - state_u[worst]).norm() / (state_u[worst].norm() + 1e-12))
    assert rel < 1e-3, f"{names[worst]}: relative gradient difference {rel:.2e}"


def test_torchrun_ddp_gloo_with_init_audio_grad_accum_and_resume(corpus, f5_file, tmp_path):
    run = tmp_path / "ddp"
    # a rank that aborts (seen once, in gloo, at the end of a run) prints its threads' Python stacks in the message
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), PYTHONFAULTHANDLER="1")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
                "omnitalker_core", "train", "--data", str(corpus), "--out", str(run), "--device", "cpu"]  # fmt: skip
    first = [*torchrun, "--init-audio", str(f5_file), "--freeze-audio", "--grad-accum", "2", "--max-steps", "2",
             *TRAIN_ARGS, "--save-every", "2", "--eval-every", "2"]  # fmt: skip
    for cmd in (first, [*torchrun, "--resume", "--max-steps", "3"]):  # the resumed run keeps its options
        proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
    log = _log(run)
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3], "rank 0 logs each optimizer step once"
    assert [r["step"] for r in log if "eval" in r] == [2]
    bundle = load_bundle(run / "latest.safetensors")
    assert bundle.info["step"] == 3 and bundle.info["train_config"]["grad_accum"] == 2
    f5_audio, _ = _split(_generator(f5_file))
    exported = _generator(run / "latest.safetensors")
    assert all(torch.equal(exported[k], f5_audio[k]) for k in f5_audio)
    model, meta, _ = _state(run)
    audio, visual = _split(model)
    assert meta["step"] == 3 and all(torch.equal(audio[k], f5_audio[k]) for k in f5_audio)
    assert _optimized(meta) == set(visual)  # the frozen branch is not in either process's optimizer
