"""`prepare`: real talking-head videos -> a corpus `train` reads. The videos are made here with the project's own
tools (the astronaut portrait animated by the geometric renderer, eSpeak speech, the bundled reference clip) plus
broken ones (no audio, no face, two faces, a tiny face, variable frame rate, too short, corrupt): the report must
name each with its reason, the corpus must load with its shapes consistent, a rerun must do no work, a sharded
run merged must equal a single run, and `train` must run on the result."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from safetensors import safe_open

from omnitalker_core import motion as motion_code
from omnitalker_core.__main__ import main
from omnitalker_core.audio import SAMPLE_RATE, mel_spec
from omnitalker_core.corpus.dataset import CorpusDataset, load_manifest
from omnitalker_core.prepare import store
from omnitalker_core.prepare.features import FaceLimits, face_problem
from omnitalker_core.prepare.inputs import discover, parse_shard, shard_of
from omnitalker_core.prepare.process import REASONS
from omnitalker_core.prepare.report import format_report
from omnitalker_core.prepare.segment import SegmentConfig, Span, Word, cut, speech_regions, transcript_texts

ASSETS = Path(__file__).resolve().parents[1] / "omnitalker_core" / "assets"
FPS = 25.0
SIZE = 256
TWO = ["Please bring the red box to the kitchen.", "We will paint the fence on Sunday morning."]
LONG = [
    "The old man walked slowly down the quiet road.",
    "A small bird sang in the tall green tree.",
    "Children played happily near the cold river.",
    "The baker sold warm bread to every neighbour.",
]
BAD = {  # file -> the reason the report must give
    "bad/noaudio.mp4": "no_audio",
    "bad/noface.mp4": "no_face",
    "bad/twofaces.mp4": "several_faces",
    "bad/tiny.mp4": "face_too_small",
    "bad/vfr.mp4": "variable_frame_rate",
    "bad/short.mp4": "too_short",
    "bad/corrupt.mp4": "undecodable",
}
SAY = "Look at me when I am talking to you, please."
GOOD = {"speakers/alice/ref.mp4", "speakers/alice/two.mp4", "speakers/bob/long.mp4"}


# ---- test videos ------------------------------------------------------------------------------------------


def _speech(sentences: list[str], gap: float, variant: str) -> np.ndarray:
    """eSpeak sentences separated by `gap` s of silence, 0.3 s of silence around, 24 kHz float."""
    from omnitalker_core.text.espeak import synthesize

    pad = np.zeros(int(0.3 * SAMPLE_RATE), np.float32)
    parts = [pad]
    for i, s in enumerate(sentences):
        if i:
            parts.append(np.zeros(int(gap * SAMPLE_RATE), np.float32))
        parts.append(0.5 * synthesize(s, voice="en-us", variant=variant).audio)
    return np.concatenate([*parts, pad])


def _animate(renderer, wave: np.ndarray) -> np.ndarray:
    """Frames whose mouth follows the speech envelope and whose head sways."""
    frames = int(len(wave) / SAMPLE_RATE * FPS)
    per = SAMPLE_RATE // int(FPS)
    env = np.abs(wave[: frames * per].reshape(frames, per)).mean(axis=1)
    codes = np.zeros((frames, motion_code.MOTION_DIM), np.float32)
    codes[:, motion_code.CHANNEL["jawOpen"]] = 0.6 * env / max(env.max(), 1e-6)
    codes[:, motion_code.CHANNEL["headYaw"]] = 0.06 * np.sin(np.arange(frames) / 7.0)
    return renderer.render(codes)


def _write_vfr(path: Path, frames: np.ndarray, wave: np.ndarray) -> None:
    """H.264 whose frame intervals alternate 60 / 20 ms (variable frame rate, 25 fps on average), plus AAC."""
    from fractions import Fraction

    ms = Fraction(1, 1000)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        vs.codec_context.time_base = ms
        ast = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        t = 0
        for i, img in enumerate(frames):
            fr = av.VideoFrame.from_ndarray(img, format="rgb24")
            fr.pts, fr.time_base = t, ms
            t += 20 if i % 2 else 60
            for p in vs.encode(fr):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        for i in range(0, len(wave), 1024):
            fr = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(wave[None, i : i + 1024]), format="fltp", layout="mono"
            )
            fr.sample_rate, fr.pts = SAMPLE_RATE, i
            for p in ast.encode(fr):
                out.mux(p)
        for p in ast.encode():
            out.mux(p)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    import cv2
    from skimage import data

    from omnitalker_core.face.render_geometric import GeometricRenderer
    from omnitalker_core.video import write_mp4

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("prepare_inputs") / "videos"
    for d in ("speakers/alice", "speakers/bob", "bad"):
        (root / d).mkdir(parents=True)
    shutil.copy(ASSETS / "omnitalker_reference.mp4", root / "speakers/alice/ref.mp4")
    shutil.copy(ASSETS / "omnitalker_reference.txt", root / "speakers/alice/ref.txt")
    renderer = GeometricRenderer(np.ascontiguousarray(data.astronaut()[0:SIZE, 96 : 96 + SIZE]))

    two = _speech(TWO, 1.2, "f2")  # no transcript: offline ASR, cut at the 1.2 s pause
    write_mp4(root / "speakers/alice/two.mp4", _animate(renderer, two), FPS, two, SAMPLE_RATE)
    long = _speech(LONG, 0.5, "m3")  # > 10 s with a transcript: cut where the ASR words say
    write_mp4(root / "speakers/bob/long.mp4", _animate(renderer, long), FPS, long, SAMPLE_RATE)
    (root / "speakers/bob/long.txt").write_text(" ".join(LONG) + "\n")

    short = _speech(["Yes."], 0.0, "f2")[: int(0.9 * SAMPLE_RATE)]
    say = _speech([SAY], 0.0, "m3")
    face = _animate(renderer, say)
    n = len(face)
    write_mp4(root / "bad/noaudio.mp4", face, FPS)
    write_mp4(root / "bad/noface.mp4", np.full((n, SIZE, SIZE, 3), (90, 120, 150), np.uint8), FPS, say, SAMPLE_RATE)
    write_mp4(root / "bad/twofaces.mp4", np.concatenate([face, face], axis=2), FPS, say, SAMPLE_RATE)
    tiny = np.stack([cv2.resize(f, (96, 96), interpolation=cv2.INTER_AREA) for f in face])
    write_mp4(root / "bad/tiny.mp4", tiny, FPS, say, SAMPLE_RATE)
    write_mp4(root / "bad/short.mp4", face[: int(0.9 * FPS)], FPS, short, SAMPLE_RATE)
    _write_vfr(root / "bad/vfr.mp4", face, say)
    for name in ("noface", "twofaces", "tiny", "short", "vfr"):
        (root / f"bad/{name}.txt").write_text(SAY)
    (root / "bad/corrupt.mp4").write_bytes(np.random.default_rng(1).integers(0, 256, 30000, np.uint8).tobytes())
    return root


def _prepare(inputs, out: Path, *extra: str) -> int:
    return main(["prepare", str(inputs), "--out", str(out), "--heldout-speakers", "1", *extra])


@pytest.fixture(scope="module")
def corpus(inputs, tmp_path_factory) -> tuple[Path, dict, str]:
    """One full run with two worker processes: (out dir, report, printed text)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("prepared") / "corpus"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert _prepare(inputs, out, "--workers", "2") == 0
    return out, json.loads((out / "report.json").read_text()), buf.getvalue()


def _tensors(root: Path, u: dict) -> dict[str, np.ndarray]:
    with safe_open(str(root / u["shard"]), "np") as f:
        return {k: f.get_tensor(f"{u['id']}/{k}") for k in ("mel", "motion", "phonemes", "audio")}


def _records_mtimes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (out / "videos").iterdir()}


# ---- end to end -------------------------------------------------------------------------------------------


def test_report_names_each_bad_input_with_its_reason(corpus, inputs):
    out, report, printed = corpus
    assert report["kept_hours"] > 0 and report["utterances"] >= 4
    dropped = {e["input"].split("/", 1)[1]: e for e in report["dropped"] if e["status"] == "dropped"}
    assert {k: e["reason"] for k, e in dropped.items()} == BAD
    assert "has no audio track" in dropped["bad/noaudio.mp4"]["message"]
    assert "cannot be read: the file is damaged or is not a video" in dropped["bad/corrupt.mp4"]["message"]
    assert "frame intervals" in dropped["bad/vfr.mp4"]["message"]
    assert report["videos"] == len(BAD) + len(GOOD) and report["videos_kept"] == len(GOOD)
    assert report["reasons"]["no_audio"]["videos"] == 1 and report["reasons"]["no_face"]["hours"] > 0
    assert set(report["speakers"]) == {"alice", "bob", "bad"}
    assert report["speakers"]["bad"]["kept_hours"] == 0 and report["speakers"]["alice"]["kept_hours"] > 0
    assert sum(report["speakers"]["bad"]["dropped_hours"].values()) > 0
    for name, reason in BAD.items():  # the printed report names every bad file and why
        label = REASONS[reason]
        assert any(name in line and label in line for line in printed.splitlines()), (name, label)
    assert "no audio track" in printed and "variable frame rate" in printed
    assert printed.strip() == format_report(report)  # what is printed is report.json, summarised
    run = report["run"]  # (the fixture read report.json right after the run; other tests rerun into `out`)
    assert run["processed"] == len(BAD) + len(GOOD) and run["skipped"] == 0 and run["speed"] > 0
    # nothing was written next to the inputs
    assert sorted(p.relative_to(inputs).as_posix() for p in inputs.rglob("*") if p.is_file()) == sorted(
        [*GOOD, *BAD, "speakers/alice/ref.txt", "speakers/bob/long.txt"]
        + [f"bad/{n}.txt" for n in ("noface", "twofaces", "tiny", "short", "vfr")]
    )


def test_corpus_loads_and_shapes_agree(corpus):
    out, _, _ = corpus
    m = load_manifest(out)
    spec = mel_spec("hifigan_22k_80")  # the demo model's front-end, the default
    assert m["mel_spec"] == spec.name and m["mel_fps"] == pytest.approx(spec.fps)
    assert m["sample_rate"] == SAMPLE_RATE and m["phoneme_timing"] == "espeak_stretched"
    assert set(m["speakers"]) == {"alice", "bob"}
    assert sorted(s["split"] for s in m["speakers"].values()) == ["heldout", "train"]
    ds = CorpusDataset(out, split=["train", "heldout_speaker", "heldout_sentence"], with_audio=True)
    assert len(ds) == len(m["utterances"]) == m["stats"]["utterances"]
    vocab = len(m["phoneme_vocab"])
    for i in range(len(ds)):
        item, u = ds[i], ds.items[i]
        n = u["num_frames"]
        assert item["mel"].shape == (n, spec.n_mels) and item["motion"].shape == (n, motion_code.MOTION_DIM)
        assert item["phonemes"].shape == (n,) and 0 < int(item["phonemes"].max()) < vocab
        assert int(item["phonemes"].min()) >= 1  # silence or a phoneme on every frame, never padding
        assert abs(n - item["audio"].numel() * spec.fps / SAMPLE_RATE) <= 1.5  # center=True STFT: t / hop + 1
        assert 1.0 <= u["duration"] <= 10.0 + 2 * 0.15 and u["duration"] == pytest.approx(n / spec.fps, abs=0.05)
        assert torch.isfinite(item["mel"]).all() and torch.isfinite(item["motion"]).all()
        spk_split = m["speakers"][u["speaker"]]["split"]
        assert (u["split"] == "heldout_speaker") == (spk_split == "heldout")
        # the mouth moves with speech: the tracked jaw varies over the utterance
        assert float(item["motion"][:, motion_code.CHANNEL["jawOpen"]].std()) > 0.02
    by_source = {}
    for u in m["utterances"]:
        by_source.setdefault(u["source"].split("/", 1)[1], []).append(u)
    assert set(by_source) == GOOD
    ref = by_source["speakers/alice/ref.mp4"]
    assert len(ref) == 1 and ref[0]["text_source"] == "transcript"
    assert ref[0]["text"] == (ASSETS / "omnitalker_reference.txt").read_text().strip()
    two = by_source["speakers/alice/two.mp4"]  # ASR text, cut at the 1.2 s pause
    assert [u["text_source"] for u in two] == ["asr", "asr"]
    for u, said in zip(two, TWO):
        heard = {w.strip(".,").lower() for w in u["text"].split()}
        assert len(heard & {w.strip(".").lower() for w in said.split()}) >= 5, (u["text"], said)
    long = by_source["speakers/bob/long.mp4"]  # the user's transcript, cut at the middle pause via ASR words
    assert [u["text"] for u in long] == [" ".join(LONG[:2]), " ".join(LONG[2:])]
    assert [u["text_source"] for u in long] == ["transcript_asr_cut"] * 2
    assert long[0]["end"] <= long[1]["start"]


def test_motion_is_what_capture_style_reads(corpus):
    """The same road as a reference at inference: the stored motion of the bundled clip matches Capture Style's
    tracking of that clip (resampled to the same mel clock and instant)."""
    from omnitalker_core.style import capture_style
    from omnitalker_core.video import read_video

    out, _, _ = corpus
    m = load_manifest(out)
    u = next(u for u in m["utterances"] if u["source"].endswith("alice/ref.mp4"))
    stored = _tensors(out, u)["motion"].astype(np.float32)
    frames, fps, audio, sr = read_video(ASSETS / "omnitalker_reference.mp4")
    style = capture_style(torch.from_numpy(audio), sr, frames, fps, transcript="x")
    spec = mel_spec(m["mel_spec"])
    _, ref_motion = style.conditioning(spec)  # Capture Style's codes on this spec's frames, from t = 0
    offset = round(u["start"] * spec.fps)
    theirs = ref_motion.numpy()[offset : offset + len(stored)]
    k = min(len(theirs), len(stored))
    jaw = motion_code.CHANNEL["jawOpen"]
    corr = np.corrcoef(stored[:k, jaw], theirs[:k, jaw])[0, 1]
    assert corr > 0.9, corr
    assert np.abs(stored[:k, jaw] - theirs[:k, jaw]).mean() < 0.05


def test_rerun_does_no_work_and_a_partial_run_completes(corpus, inputs, tmp_path, capsys):
    out, report, _ = corpus
    before, manifest = _records_mtimes(out), (out / "manifest.json").read_text()
    assert _prepare(inputs, out, "--workers", "2") == 0
    rerun = json.loads((out / "report.json").read_text())
    assert rerun["run"]["processed"] == 0 and rerun["run"]["skipped"] == len(GOOD) + len(BAD)
    assert rerun["dropped"] == report["dropped"] and rerun["kept_hours"] == report["kept_hours"]
    assert _records_mtimes(out) == before and (out / "manifest.json").read_text() == manifest
    # a run cut short: half the videos finished (one shard's), a temp file and a shard without its record left
    part = tmp_path / "part"
    assert _prepare(inputs, part, "--shard", "0/2", "--workers", "1") == 0
    half = json.loads((part / "report.json").read_text())["run"]["processed"]
    (part / "videos" / ".x.safetensors.123.tmp").write_bytes(b"half a file")
    capsys.readouterr()
    assert _prepare(inputs, part, "--workers", "1") == 0
    done = json.loads((part / "report.json").read_text())["run"]
    assert done["skipped"] == half and done["processed"] == len(GOOD) + len(BAD) - half
    assert not list((part / "videos").glob(".*.tmp"))
    _same_corpus(out, part)


def _same_corpus(a: Path, b: Path) -> None:
    ma, mb = load_manifest(a), load_manifest(b)
    assert ma == mb  # ids, texts, splits, frame counts, stats: everything
    for u in ma["utterances"]:
        ta, tb = _tensors(a, u), _tensors(b, u)
        assert np.array_equal(ta["phonemes"], tb["phonemes"]) and np.array_equal(ta["audio"], tb["audio"])
        assert np.allclose(ta["mel"].astype(np.float32), tb["mel"].astype(np.float32), atol=1e-2)
        assert np.allclose(ta["motion"].astype(np.float32), tb["motion"].astype(np.float32), atol=1e-2)


def test_shards_merged_equal_a_single_run(corpus, inputs, tmp_path):
    out, _, _ = corpus
    parts = [tmp_path / "s0", tmp_path / "s1"]
    for i, p in enumerate(parts):
        assert _prepare(inputs, p, "--shard", f"{i}/2", "--workers", "1") == 0
    done = [json.loads((p / "report.json").read_text())["run"]["processed"] for p in parts]
    assert sum(done) == len(GOOD) + len(BAD) and min(done) > 0  # disjoint parts covering every input
    merged = tmp_path / "merged"
    assert main(["prepare", "--merge", *map(str, parts), "--out", str(merged), "--heldout-speakers", "1"]) == 0
    _same_corpus(out, merged)
    assert json.loads((merged / "report.json").read_text())["kept_hours"] == pytest.approx(
        json.loads((out / "report.json").read_text())["kept_hours"]
    )
    # a part prepared with other settings cannot be merged
    other = tmp_path / "other"
    shutil.copytree(parts[0], other)
    settings = json.loads((other / "prepare.json").read_text())
    settings["settings"]["face"]["min_face_px"] = 10.0
    (other / "prepare.json").write_text(json.dumps(settings))
    assert main(["prepare", "--merge", str(parts[1]), str(other), "--out", str(tmp_path / "bad")]) == 1


@pytest.mark.parametrize("alignment", ["frames", "filler"])
def test_train_runs_on_the_prepared_corpus(corpus, tmp_path, alignment):
    """Phoneme-per-frame text (the stretched eSpeak phonemes) and character text with filler (the transcript)."""
    out, _, _ = corpus
    run = tmp_path / "run"
    args = [
        "train",
        "--data",
        str(out),
        "--out",
        str(run),
        "--config",
        "tiny",
        "--batch-frames",
        "1500",
        "--max-steps",
        "2",
        "--save-every",
        "2",
        "--eval-every",
        "2",
        "--warmup-steps",
        "1",
        "--threads",
        "1",
        "--text-alignment",
        alignment,
    ]
    assert main(args) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert (run / "latest.safetensors").is_file()


def test_manifest_input_and_bad_arguments(inputs, tmp_path, capsys):
    table = tmp_path / "list.csv"
    with open(table, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "transcript", "speaker"])
        w.writerow([str(inputs / "bad/short.mp4"), "Yes.", "Carol Smith"])
        w.writerow(["missing/clip.mp4", "", ""])
    lines = tmp_path / "list.jsonl"
    lines.write_text(json.dumps({"path": str(inputs / "bad/noaudio.mp4"), "speaker": "dave"}) + "\n")
    out = tmp_path / "m"
    assert main(["prepare", str(table), str(lines), "--out", str(out), "--workers", "1"]) == 0
    rep = json.loads((out / "report.json").read_text())
    reasons = {e["input"]: (e["reason"], e["speaker"]) for e in rep["dropped"]}
    assert reasons[str(inputs / "bad/short.mp4")] == ("too_short", "Carol_Smith")
    assert reasons[str(inputs / "bad/noaudio.mp4")] == ("no_audio", "dave")
    assert reasons["missing/clip.mp4"][0] == "not_found"
    assert rep["kept_hours"] == 0 and load_manifest(out)["utterances"] == []
    # huge files are not even opened
    big = tmp_path / "big"
    assert main(["prepare", str(lines), "--out", str(big), "--max-file-gb", "1e-6"]) == 0
    assert [
        (e["reason"], "over --max-file-gb" in e["message"])
        for e in json.loads((big / "report.json").read_text())["dropped"]
    ] == [("huge_file", True)]
    capsys.readouterr()
    # bad arguments: one clear message each, exit code 1
    cases = [
        (["prepare", str(inputs), "--out", str(inputs / "speakers" / "out")], "inside the input folder"),
        (["prepare", str(tmp_path / "nothing"), "--out", str(tmp_path / "o1")], "input not found"),
        (["prepare", str(table), "--out", str(tmp_path / "o2"), "--shard", "2/2"], "--shard must be I/N"),
        (["prepare", str(inputs), "--out", str(tmp_path / "o3"), "--mel-spec", "nope"], "unknown mel feature"),
        (["prepare", "--merge", str(inputs), "--out", str(tmp_path / "o4")], "not a prepare output directory"),
        (["prepare", str(inputs), "--out", str(tmp_path / "o6"), "--asr-model", str(tmp_path)], "no CTranslate2"),
        (["prepare", str(table), "--out", str(out), "--min-face-px", "20"], "prepared with other settings"),
    ]
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "notes.txt").write_text("no videos here")
    cases.append((["prepare", str(empty), "--out", str(tmp_path / "o5")], "no videos found"))
    for argv, message in cases:
        assert main(argv) == 1, argv
        assert message in capsys.readouterr().err, argv
    assert not (inputs / "speakers" / "out").exists() and not (tmp_path / "o6").exists()


# ---- units ------------------------------------------------------------------------------------------------


def _tone_bursts(spans: list[tuple[float, float]], total: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    wave = 0.001 * rng.standard_normal(int(total * SAMPLE_RATE)).astype(np.float32)  # -60 dB noise floor
    t = np.arange(wave.size) / SAMPLE_RATE
    for a, b in spans:
        m = (t >= a) & (t < b)
        wave[m] += 0.3 * np.sin(2 * np.pi * 220 * t[m]) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t[m]))
    return wave


def test_segmentation_cuts_at_pauses():
    cfg = SegmentConfig()
    # 0.1 s gaps are inside speech, 1.0 s is a sentence pause, a 0.5 s click-free blip is too short alone
    bursts = [(0.5, 2.0), (2.1, 3.5), (4.5, 6.0), (8.0, 8.5)]
    regions = speech_regions(_tone_bursts(bursts, 10.0), SAMPLE_RATE, cfg)
    assert [(round(r.start, 1), round(r.end, 1)) for r in regions] == [(0.5, 3.5), (4.5, 6.0), (8.0, 8.5)]
    spans = cut(regions, 10.0, cfg)
    assert [s.reason for s in spans] == ["", "", "too_short"]
    assert spans[0].start == pytest.approx(0.35, abs=0.03) and spans[0].end == pytest.approx(3.65, abs=0.03)
    assert spans[1].start == pytest.approx(4.35, abs=0.03)  # margin: 0.15 s of the pause, not more
    whole = cut(regions, 10.0, cfg, whole=True)  # a clip with its own transcript that fits: kept in one piece
    assert len(whole) == 1 and not whole[0].reason and whole[0].seconds == pytest.approx(8.3, abs=0.05)
    # 14 s of speech with short pauses: split at the longest pause, both parts <= 10 s
    long = [(0.3, 3.0), (3.4, 6.0), (6.9, 9.5), (9.9, 14.0)]
    spans = cut(speech_regions(_tone_bursts(long, 14.5), SAMPLE_RATE, cfg), 14.5, cfg)
    assert [s.reason for s in spans] == ["", ""]
    assert spans[0].end < 6.9 and spans[1].start > 6.0 and all(s.seconds <= 10.3 for s in spans)
    # 12 s without any pause cannot be cut
    spans = cut(speech_regions(_tone_bursts([(0.2, 12.2)], 12.5), SAMPLE_RATE, cfg), 12.5, cfg)
    assert [s.reason for s in spans] == ["no_pause"]
    assert speech_regions(np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE, cfg) == []


def test_transcript_is_cut_where_the_asr_words_fall():
    words = [Word(0.1 * i, 0.1 * i + 0.08, w) for i, w in enumerate("the cat sat on a mat then it ran off".split())]
    spans = [Span(0.0, 0.55), Span(0.6, 1.0)]
    texts, agreement = transcript_texts("The cat sat on the mat. Then it ran away!", words, spans)
    assert texts == ["The cat sat on the mat.", "Then it ran away!"]
    assert agreement == pytest.approx(8 / 10)
    texts, agreement = transcript_texts("Completely different words here.", words, spans)
    assert agreement < 0.5


def test_face_checks():
    limits = FaceLimits()
    f = 50
    found = np.ones(f, bool)
    lm = np.zeros((f, 478, 3), np.float32)
    lm[:, :, 1] = np.linspace(0, 100, 478)  # a face 100 px high
    angles = np.zeros((f, 3), np.float32)
    assert face_problem(found, lm, angles, 1.0, f, limits) is None
    assert face_problem(np.zeros(f, bool), lm, angles, 1.0, f, limits)[0] == "no_face"
    lost = found.copy()
    lost[:15] = False
    assert face_problem(lost, lm, angles, 1.0, f, limits)[0] == "face_lost"
    assert face_problem(found, lm, angles, 1.0, 2 * f, limits)[0] == "face_lost"  # frames missing altogether
    assert face_problem(found, lm, angles, 2.0, f, limits)[0] == "face_too_small"  # decoded at 2x: 50 px
    turned = angles.copy()
    turned[:20, 1] = np.radians(60)
    assert face_problem(found, lm, turned, 1.0, f, limits)[0] == "face_turned"
    turned[:, 1], turned[:20, 0] = 0, np.radians(-40)
    assert face_problem(found, lm, turned, 1.0, f, limits)[0] == "face_turned"
    turned[:5, 0] = 0
    turned[5:20, 0] = 0
    assert face_problem(found, lm, turned, 1.0, f, limits) is None


def test_discovery_keys_speakers_and_shards(inputs, tmp_path):
    sources, missing = discover([inputs], tmp_path / "out")
    assert not missing and {s.key.split("/", 1)[1] for s in sources} == GOOD | set(BAD)
    by_key = {s.key.split("/", 1)[1]: s for s in sources}
    assert by_key["speakers/alice/two.mp4"].speaker == "alice" and by_key["speakers/alice/two.mp4"].transcript is None
    assert by_key["speakers/bob/long.mp4"].transcript == " ".join(LONG)
    assert by_key["speakers/bob/long.mp4"].transcript_from == "txt"
    per_video, _ = discover([inputs], tmp_path / "out", speaker_from="video")
    assert len({s.speaker for s in per_video}) == len(per_video)
    assert parse_shard("1/3") == (1, 3)
    for bad in ("3/3", "x", "1/0", "-1/2"):
        with pytest.raises(ValueError):
            parse_shard(bad)
    keys = [s.key for s in sources]
    parts = [[k for k in keys if shard_of(k, 3) == i] for i in range(3)]
    assert sorted(sum(parts, [])) == sorted(keys)  # disjoint and complete
    # the split is deterministic, independent of order, and keeps a training speaker
    spk = ["a", "b", "c", "d", "e"]
    ids = {s: [f"{s}{i}" for i in range(40)] for s in spk}
    one = store.assign_splits(spk, ids, 7, 2, 0.1)
    assert one == store.assign_splits(spk[::-1], ids, 7, 2, 0.1)
    assert sum(v == "heldout" for v in one[0].values()) == 2
    assert 0 < sum(v == "heldout_sentence" for v in one[1].values()) < 40
    assert store.heldout_count(0.1, 3) == 1 and store.heldout_count(5, 3) == 2 and store.heldout_count(0, 9) == 0
    assert store.assign_splits(spk, ids, 8, 2, 0.1) != one  # another seed, another choice


def test_duration_training_refuses_estimated_timing(corpus, tmp_path):
    """Real speech has no teacher durations: the stretched eSpeak labels must not train the duration model."""
    from omnitalker_core.checkpoints import DEMO_CHECKPOINT

    out, _, _ = corpus
    with pytest.raises(SystemExit, match="'espeak_stretched', an estimate"):
        main(["train-durations", "--data", str(out), "--model", str(DEMO_CHECKPOINT), "--out", str(tmp_path / "d.st")])
    assert not (tmp_path / "d.st").exists()
