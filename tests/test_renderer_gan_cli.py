"""The learned renderer, user-facing: `train-renderer` on a tiny clip (resumes), `convert renderer`
into a model file, and `render_frames(..., bundle=...)` rendering with those weights.

The clip is skimage's astronaut rendered with known codes (jaw, yaw) plus shading the geometric
warp cannot make, written as H.264 and tracked back like any user clip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch

from omnitalker_core import motion
from omnitalker_core.__main__ import main
from omnitalker_core.checkpoints import OmniTalkerBundle, load_bundle, save_bundle
from omnitalker_core.commands.convert import convert_renderer
from omnitalker_core.face.render_gan import GanRenderer, load_generator, read_generator_file
from omnitalker_core.face.render_geometric import GeometricRenderer
from omnitalker_core.model.config import named_config
from omnitalker_core.model.flow import FlowMatching
from omnitalker_core.pipeline import render_frames, renderer_kind, rest_codes
from omnitalker_core.text.tokenizer import CharTokenizer
from omnitalker_core.video import write_mp4

N = 12
SIZE = 64  # GAN working size: tiny, for speed
TRAIN = ["--size", str(SIZE), "--channels", "8", "--batch", "2", "--save-every", "2", "--threads", "1", "--json"]


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> dict:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # shared 2-core machine
    tmp = tmp_path_factory.mktemp("renderer_gan")
    head = np.ascontiguousarray(skimage.data.astronaut()[10:266, 110:366])
    codes = np.zeros((N, motion.MOTION_DIM), np.float32)
    codes[:, motion.CHANNEL["jawOpen"]] = np.abs(np.sin(np.arange(N) / 3))
    codes[:, motion.CHANNEL["headYaw"]] = np.linspace(-0.1, 0.1, N)
    frames = GeometricRenderer(head).render(codes).astype(np.float32)
    shade = (
        1 - 0.3 * codes[:, motion.CHANNEL["jawOpen"], None, None, None] * np.linspace(0, 1, 256)[None, :, None, None]
    )
    video = write_mp4(tmp / "clip.mp4", np.clip(frames * shade, 0, 255).astype(np.uint8), 25)
    model = save_bundle(
        OmniTalkerBundle(FlowMatching(named_config("tiny")), CharTokenizer([" ", "a"])), tmp / "m.safetensors"
    )
    yield {"dir": tmp, "video": video, "head": head, "codes": codes, "model": model}
    torch.set_num_threads(threads)


def _train(clip: dict, run: Path, steps: int, *extra: str) -> list[str]:
    return ["train-renderer", "--video", str(clip["video"]), "--out", str(run), "--steps", str(steps), *TRAIN, *extra]


def test_train_renderer_then_resume(clip, capsys):
    run = clip["dir"] / "resumed_run"  # its own run: the tests may run in any order (pytest-randomly)
    assert main(_train(clip, run, 4)) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (first["start_step"], first["step"], first["size"]) == (0, 4, SIZE)
    assert first["clips"][0]["frames"] == N and np.isfinite(first["psnr_gan"]) and np.isfinite(first["psnr_geometric"])
    print(f"PSNR after 4 steps: GAN {first['psnr_gan']:.2f} dB, geometric {first['psnr_geometric']:.2f} dB")
    # a second start on the same run is refused; --resume continues the step count
    assert main(_train(clip, run, 6)) == 1
    assert "--resume" in capsys.readouterr().err
    assert main(_train(clip, run, 6, "--resume")) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (second["start_step"], second["step"]) == (4, 6)
    cfg, _, extra = read_generator_file(run / "generator.safetensors")
    assert cfg.size == SIZE and cfg.channels == 8 and extra["step"] == 6
    assert main(_train(clip, run, 7, "--resume", "--size", "128")) == 1  # the run's size is fixed
    assert "--size" in capsys.readouterr().err
    # the underscore spelling of the verb works too; a fresh run needs no --resume
    assert (
        main(
            [
                "train_renderer",
                "--video",
                str(clip["video"]),
                "--out",
                str(clip["dir"] / "run2"),
                "--steps",
                "0",
                *TRAIN,
            ]
        )
        == 0
    )
    capsys.readouterr()


def test_convert_renderer_and_render_with_it(clip, capsys):
    run = clip["dir"] / "convert_run"
    if not (run / "generator.safetensors").is_file():
        assert main(_train(clip, run, 6)) == 0
    capsys.readouterr()
    generator = run / "generator.safetensors"
    model = clip["model"]
    before = _digest(model)
    assert main(["convert", "renderer", "--generator", str(generator), "--into", str(model)]) == 0
    assert _digest(model) == before, "--into without --overwrite must not touch the user's file"
    merged = model.with_name("m_renderer.safetensors")
    assert main(["convert", "renderer", "--generator", str(generator), "--into", str(model)]) == 1  # never silently
    out = clip["dir"] / "named.safetensors"
    assert convert_renderer(generator, model, out=out) == out
    with pytest.raises(FileExistsError):
        convert_renderer(generator, model, out=out)

    bundle = load_bundle(merged)
    assert bundle.renderer_state and bundle.renderer_config["kind"] == "gan"
    assert bundle.renderer_config["size"] == SIZE and renderer_kind(bundle) == "gan"
    assert renderer_kind(load_bundle(model)) == "geometric"

    head, codes = clip["head"], clip["codes"][:5]
    base = rest_codes(head)
    calls = []
    gan = render_frames(
        head, codes, base_codes=base, resolution=0, bundle=bundle, callback=lambda d, t: calls.append((d, t)), batch=2
    )
    geo = render_frames(head, codes, base_codes=base, resolution=0)
    assert gan.shape == geo.shape == (5, 256, 256, 3) and gan.dtype == np.uint8
    assert calls == [(2, 5), (4, 5), (5, 5)]
    diff = np.abs(gan.astype(int) - geo).mean()
    assert diff > 0.5, f"GAN output should differ from the geometric renderer's, mean abs diff {diff:.3f}"
    # it is the trained generator that renders: same frames as GanRenderer with the run's weights
    own = GanRenderer(load_generator(generator), head, base_codes=base, size=(256, 256)).render(codes)
    # batched (2) and one-call convolutions may differ in the last float bit, so a uint8 pixel by one level
    step = np.abs(own.astype(int) - gan)
    print(f"GanRenderer vs render_frames: max {step.max()}, {(step > 0).mean():.2e} of values differ")
    assert step.max() <= 1 and (step > 0).mean() < 1e-3, (step.max(), (step > 0).mean())
    # the resolution rule holds for the GAN too (longer side, even)
    assert render_frames(head[:, :200], codes[:2], base_codes=base, resolution=100, bundle=bundle).shape == (
        2,
        100,
        78,
        3,
    )


def test_convert_renderer_rejects_bad_inputs(clip):
    model, tmp = clip["model"], clip["dir"]
    missing = tmp / "no_run" / "generator.safetensors"
    with pytest.raises(ValueError, match="no_run/generator.safetensors"):
        convert_renderer(missing, model)
    with pytest.raises(ValueError, match=r"m\.safetensors is not a GAN renderer file"):
        convert_renderer(model, model, out=tmp / "x.safetensors")
    garbage = tmp / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01 not a safetensors file")
    with pytest.raises(ValueError, match="garbage.safetensors"):
        convert_renderer(garbage, model, out=tmp / "y.safetensors")
    assert not (tmp / "x.safetensors").exists() and not (tmp / "y.safetensors").exists()
    assert main(["convert", "renderer", "--generator", str(missing), "--into", str(model)]) == 1
    # renderer weights of a kind this version does not know are refused, not ignored
    bundle = load_bundle(model)
    bundle.renderer_state, bundle.renderer_config = {"w": torch.zeros(1)}, {"kind": "nerf"}
    with pytest.raises(ValueError, match="unknown kind 'nerf'"):
        render_frames(clip["head"], clip["codes"][:1], bundle=bundle)
