"""The paper's recipe end to end, at test size: videos made by the project's own tools (plus broken ones) ->
`prepare` in F5-TTS's mel -> `train --init-audio` (a tiny random F5-TTS converted with `convert f5`, audio branch
frozen) for 30 steps -> `eval` on the held-out speaker -> `generate` an mp4 with the trained model.
Each stage has its own detailed tests (test_prepare.py, test_init_audio.py, test_eval.py, test_generate_cli.py);
this one checks that what each writes is what the next reads."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from test_init_audio import f5_file  # noqa: F401  (a fixture: the tiny F5-TTS, converted)
from test_prepare import FPS, SAMPLE_RATE, _animate, _speech

from omnitalker_core.__main__ import main
from omnitalker_core.checkpoints import load_bundle
from omnitalker_core.corpus.dataset import load_manifest
from omnitalker_core.train.trainer import AUDIO_PREFIXES

SPEAKERS = {"alice": "f2", "bob": "m3", "carol": "f4"}  # folder (speaker) -> eSpeak voice variant


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """Three speakers (folders) with five one-sentence clips each, transcripts beside them, plus a broken file:
    eval needs a target, a reference, another speaker's reference and a centroid pool per held-out speaker."""
    from skimage import data

    from omnitalker_core.eval.sentences import HARVARD
    from omnitalker_core.face.render_geometric import GeometricRenderer
    from omnitalker_core.video import write_mp4

    root = tmp_path_factory.mktemp("recipe") / "videos"
    renderer = GeometricRenderer(np.ascontiguousarray(data.astronaut()[0:192, 128:320]))
    sentences = iter(HARVARD)
    for speaker, variant in SPEAKERS.items():
        (root / speaker).mkdir(parents=True)
        for i in range(5):
            text = next(sentences)
            wave = _speech([text], 0.0, variant)
            write_mp4(root / speaker / f"clip{i}.mp4", _animate(renderer, wave), FPS, wave, SAMPLE_RATE)
            (root / speaker / f"clip{i}.txt").write_text(text + "\n")
    (root / "alice" / "broken.mp4").write_bytes(b"\x00" * 5000)
    return root


@pytest.mark.slow
def test_videos_to_a_trained_model_that_talks(videos, f5_file, tmp_path):  # noqa: F811
    corpus = tmp_path / "corpus"
    common = ["--heldout-speakers", "2", "--workers", "2", "--mel-spec", "vocos_24k_100"]
    assert main(["prepare", str(videos), "--out", str(corpus), *common]) == 0
    manifest = load_manifest(corpus)
    assert manifest["mel_spec"] == "vocos_24k_100"
    report = json.loads((corpus / "report.json").read_text())
    assert report["videos"] == 16 and report["videos_kept"] == 15 and report["utterances"] == 15
    assert [e["reason"] for e in report["dropped"] if e["status"] == "dropped"] == ["undecodable"]

    run = tmp_path / "run"
    assert main(["train", "--data", str(corpus), "--out", str(run), "--init-audio", str(f5_file), "--freeze-audio",
                 "--max-steps", "30", "--batch-frames", "1500", "--warmup-steps", "2", "--save-every", "30",
                 "--eval-every", "30", "--threads", "2"]) == 0  # fmt: skip
    model = run / "latest.safetensors"
    trained, f5 = load_bundle(model), load_bundle(f5_file)
    info = trained.info or {}
    assert info["step"] == 30 and info["init_audio"]["frozen"] is True
    audio = {k: v for k, v in trained.flow.state_dict().items() if k.startswith(AUDIO_PREFIXES)}
    f5_audio = f5.flow.state_dict()
    assert audio and all(torch.equal(v, f5_audio[k]) for k, v in audio.items())  # frozen: still F5-TTS
    moved = [k for k, v in trained.flow.state_dict().items() if k.startswith("transformer.motion.")
             and not torch.equal(v, f5_audio[k])]  # fmt: skip
    assert moved, "the visual branch did not train"

    result = tmp_path / "eval.json"
    argv = ["eval", "--model", str(model), "--data", str(corpus), "--speakers", "heldout", "--targets", "corpus",
            "--max-items", "2", "--steps", "2", "--threads", "2", "--out", str(result)]  # fmt: skip
    assert main(argv) == 0
    heldout = json.loads(result.read_text())["speaker_sets"]["heldout"]
    assert heldout["speakers"] == sorted(
        {u["speaker"] for u in manifest["utterances"] if u["split"] == "heldout_speaker"}
    )
    model_row, truth = heldout["rows"]["model"], heldout["rows"]["ground_truth"]
    assert model_row["items"] == truth["items"] == 2
    # the speakers' own recordings are nearer their references than 30 steps of a tiny model are
    assert truth["sim_to_reference"] > model_row["sim_to_reference"]

    ref = videos / "alice" / "clip0.mp4"
    out = tmp_path / "talking.mp4"
    assert main(["generate", "--model", str(model), "--reference", str(ref), "--ref-text",
                 (ref.with_suffix(".txt")).read_text().strip(), "--text", "Hello from a model trained on video.",
                 "--out", str(out), "--steps", "2", "--threads", "2"]) == 0  # fmt: skip
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264" and c.streams.audio[0].codec_context.name == "aac"
        assert sum(1 for _ in c.decode(video=0)) > 10
    assert Path(out).stat().st_size > 10_000
