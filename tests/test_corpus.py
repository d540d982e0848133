"""Synthetic corpus: generator (CLI), storage format, motion synthesis, and the reader/sampler."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors import safe_open

from omnitalker_core import motion as motion_code
from omnitalker_core.__main__ import main
from omnitalker_core.corpus.dataset import MEL_FLOOR, CorpusDataset, FrameBudgetSampler, collate, load_manifest
from omnitalker_core.corpus.prosody import analyse
from omnitalker_core.corpus.speakers import make_speakers
from omnitalker_core.corpus.styles import _segments, face_motion, sample_style
from omnitalker_core.corpus.visemes import mouth_motion, visemes_of
from omnitalker_core.motion import CHANNEL, MOTION_DIM
from omnitalker_core.text.espeak import synthesize

ARGS = [
    "--speakers",
    "9",
    "--hours",
    "0.02",
    "--shard-size",
    "15",
    "--heldout-sentences",
    "5",
    "--heldout-speaker-utts",
    "4",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    assert main(["corpus", "--out", str(out), "--seed", "3", "--workers", "2", *ARGS]) == 0
    return out


def _tensors(root, u):
    with safe_open(str(root / u["shard"]), "np") as f:
        return {k: f.get_tensor(f"{u['id']}/{k}") for k in ("mel", "motion", "phonemes", "audio")}


def test_manifest_and_shards_are_consistent(corpus):
    m = load_manifest(corpus)
    assert m["sample_rate"] == 24000 and m["mel_fps"] == 93.75 and "faker" in m["text_source"]
    vocab = m["phoneme_vocab"]
    assert vocab[:2] == ["<pad>", "_"] and len(vocab) > 40
    assert len(m["speakers"]) == 9 and {s["split"] for s in m["speakers"].values()} == {"train", "heldout"}
    utts = m["utterances"]
    assert len({u["id"] for u in utts}) == len(utts)
    for u in utts:
        t = _tensors(corpus, u)
        n = u["num_frames"]
        assert t["mel"].shape == (n, 100) and t["mel"].dtype == np.float16
        assert t["motion"].shape == (n, MOTION_DIM) and t["motion"].dtype == np.float16
        assert t["phonemes"].shape == (n,) and t["phonemes"].dtype == np.int16
        assert t["audio"].dtype == np.int16 and len(t["audio"]) // 256 + 1 == n  # alignment length == mel frames
        assert 0 < t["phonemes"].min() and t["phonemes"].max() < len(vocab)  # no padding inside an utterance
        assert np.isfinite(t["motion"].astype(np.float32)).all()
        spk_split = m["speakers"][u["speaker"]]["split"]
        assert (u["split"] == "heldout_speaker") == (spk_split == "heldout")
    # held-out sentences never occur in training text
    train_text = {u["text"] for u in utts if u["split"] == "train"}
    assert not train_text & {u["text"] for u in utts if u["split"] != "train"}
    stats = (corpus / "STATS.txt").read_text()
    assert "hours" in stats and "minutes" in stats
    with safe_open(str(corpus / utts[0]["shard"]), "np") as f:
        keys = set(f.keys())
    in_shard = {u["id"] for u in utts if u["shard"] == utts[0]["shard"]}
    assert keys == {f"{i}/{k}" for i in in_shard for k in ("mel", "motion", "phonemes", "audio")}


def test_deterministic_for_a_seed(corpus, tmp_path):
    """Same seed, different worker count -> identical manifest and tensors."""
    assert main(["corpus", "--out", str(tmp_path), "--seed", "3", "--workers", "1", *ARGS]) == 0
    a = json.loads((corpus / "manifest.json").read_text())
    b = json.loads((tmp_path / "manifest.json").read_text())
    assert a["utterances"] == b["utterances"] and a["speakers"] == b["speakers"]
    assert a["phoneme_vocab"] == b["phoneme_vocab"]
    for u in a["utterances"][:: max(1, len(a["utterances"]) // 6)]:
        x, y = _tensors(corpus, u), _tensors(tmp_path, u)
        for k in x:
            assert np.array_equal(x[k], y[k]), (u["id"], k)


def test_phonemes_follow_the_audio(corpus):
    """Silence frames are quiet and speech frames loud (alignment really follows the events)."""
    m = load_manifest(corpus)
    quiet, loud = [], []
    for u in m["utterances"][:12]:
        t = _tensors(corpus, u)
        energy = np.log(np.exp(t["mel"].astype(np.float32)).sum(1))
        quiet.append(energy[t["phonemes"] == 1].mean())
        loud.append(energy[t["phonemes"] > 1].mean())
    assert np.mean(np.array(loud) - np.array(quiet)) > 2.0, (loud, quiet)


def test_jaw_open_follows_speech_energy(corpus):
    m = load_manifest(corpus)
    corrs, lags = [], []
    for u in m["utterances"][:20]:
        t = _tensors(corpus, u)
        energy = np.log(np.exp(t["mel"].astype(np.float32)).sum(1))
        jaw = t["motion"][:, CHANNEL["jawOpen"]].astype(np.float32)
        corrs.append(np.corrcoef(energy, jaw)[0, 1])
        c = [np.corrcoef(np.roll(energy, k)[8:-8], jaw[8:-8])[0, 1] for k in range(-6, 7)]
        lags.append(int(np.argmax(c)) - 6)
    assert np.mean(corrs) > 0.25, corrs
    assert abs(np.median(lags)) <= 3, lags  # <= 32 ms between mouth opening and the envelope


def test_visemes_and_coarticulation():
    assert visemes_of("ˈaɪ") == ["AA", "IY"] and visemes_of("p") == ["PP"] and visemes_of("_") == ["rest"]
    assert visemes_of("tʃ") == ["SH"] and visemes_of("ʘ") == ["DD"]  # unknown -> weak consonant
    fps = 93.75
    n = 60
    energy = np.ones(n, np.float32)
    from omnitalker_core.corpus.visemes import MOUTH_CHANNELS

    # the bilabial shuts the lips (jawOpen - mouthClose = lip gap), the open vowel opens them
    ba = mouth_motion([("_", 0, 0.1), ("b", 0.1, 0.2), ("ˈɑː", 0.2, 0.5), ("_", 0.5, 0.64)], n, energy, fps)
    gap = ba[:, MOUTH_CHANNELS.index("jawOpen")] - ba[:, MOUTH_CHANNELS.index("mouthClose")]
    assert gap[int(0.15 * fps)] < 0.08 and gap[int(0.35 * fps)] > 0.35, gap
    # anticipatory rounding: /s/ before /u/ is already rounded, before /i/ it is not
    pk = MOUTH_CHANNELS.index("mouthPucker")
    su = mouth_motion([("_", 0, 0.1), ("s", 0.1, 0.2), ("uː", 0.2, 0.5), ("_", 0.5, 0.64)], n, energy, fps)
    si = mouth_motion([("_", 0, 0.1), ("s", 0.1, 0.2), ("iː", 0.2, 0.5), ("_", 0.5, 0.64)], n, energy, fps)
    frame_s = int(0.15 * fps)
    assert su[frame_s, pk] > si[frame_s, pk] + 0.05


def _style_features(motion: np.ndarray) -> np.ndarray:
    c = CHANNEL
    return np.array([
        motion[:, c["headYaw"]].mean(), motion[:, c["headRoll"]].mean(), motion[:, c["headPitch"]].mean(),
        motion[:, c["mouthSmileLeft"]].mean(), motion[:, c["browInnerUp"]].mean() - motion[:, c["browDownLeft"]].mean(),
        motion[:, c["eyeSquintLeft"]].mean(),
    ])  # fmt: skip


def test_speakers_differ_in_style_and_keep_it_across_utterances():
    """Nearest-centroid on simple motion statistics identifies the speaker of held-out utterances."""
    rng = np.random.default_rng(0)
    styles = [sample_style(rng) for _ in range(5)]
    texts = [
        "Pretty good idea, said the man.",
        "Where is the nearest river?",
        "Nobody wanted to build it today.",
        "Simple words are easy to say.",
    ]
    clips = [synthesize(t, rate=170) for t in texts]
    feats = np.zeros((len(styles), len(clips), 6))
    for i, st in enumerate(styles):
        for j, syn in enumerate(clips):
            n = len(syn.audio) // 256 + 1
            pros = analyse(syn.audio, syn.phonemes, n)
            mo = face_motion(st, syn.phonemes, pros, 93.75, np.random.default_rng([i, j]))
            assert mo.shape == (n, MOTION_DIM) and mo[:, :51].min() >= 0 and mo[:, :51].max() <= 1
            feats[i, j] = _style_features(mo)
    correct = 0
    for i in range(len(styles)):
        for j in range(len(clips)):
            centroids = np.stack([np.delete(feats[k], j, axis=0).mean(0) for k in range(len(styles))])
            correct += int(np.argmin(np.linalg.norm(centroids - feats[i, j], axis=1)) == i)
    assert correct / feats[:, :, 0].size >= 0.9, correct
    # style statistics are tied to prosody: brows rise on stressed, high-pitched syllables, so a speaker's brow
    # statistic differs between sentences by an amount that grows with the speaker's brow gain (measured
    # 0.063 x gain), and the sentences rank the same way for every speaker (it is the text's prosody, not noise)
    brows = feats[:, :, 4]
    gains = np.array([st.brow_gain for st in styles])
    assert (brows.std(axis=1) > 0.03 * gains).all(), (brows.std(axis=1), gains)
    ranks = np.argsort(brows, axis=1)
    assert (ranks == ranks[0]).all(), brows


def test_synthetic_speakers_move_as_the_rig_draws_their_codes():
    """The corpus writes codes in the code's own signs, as the rig draws them and the tracker reads a video: a
    nod on a stressed syllable dips the nose below the eyes in the image, and the upper lids follow the eyes
    (corpus version 1 nodded with the chin up and moved its lids against its eyes)."""
    from dataclasses import replace

    from omnitalker_core.face import canonical
    from omnitalker_core.face.rig import FaceRig

    style = replace(
        sample_style(np.random.default_rng(4)), nod_amp=0.08, nod_prob=1.0, pitch_follow=0.0, sway_amp=0.008,
        blink_rate=0.01, pause_blink_prob=0.0, squint_base=0.0, smile_base=0.0, gaze_spread=0.1, gaze_shift_rate=2.0,
    )  # fmt: skip
    syn = synthesize("Nobody wanted to build the bridge today, said the old man. Where is the river?", rate=150)
    n, fps = len(syn.audio) // 256 + 1, 93.75
    pros = analyse(syn.audio, syn.phonemes, n)
    mo = face_motion(style, syn.phonemes, pros, fps, np.random.default_rng(1))
    pts = FaceRig.default().landmarks(mo, scale=100.0, origin=(0.0, 0.0))  # f 478 3, image y down
    eyes = list(canonical.LEFT_EYE_UPPER + canonical.LEFT_EYE_LOWER)
    nose_below_eyes = pts[:, 1, 1] - pts[:, eyes, 1].mean(1)
    stressed = np.zeros(n, bool)
    for s, _e in _segments(pros.stress > 0.75):  # the stressed vowels, as face_motion finds them
        stressed[s + int(0.05 * fps) : s + int(0.35 * fps)] = True  # the dip peaks just after the vowel onset
    assert stressed.sum() > 20
    dip = nose_below_eyes[stressed].mean() - nose_below_eyes[~stressed].mean()
    assert dip > 0.7, dip  # pixels at 100 px per inter-ocular unit: measured 1.44 (version 1: -1.18)
    # the upper lid follows the iris up and down (the eyes' own motion, not the head's: both in the head frame)
    head = FaceRig.default().expression(mo)
    iris_y = head[:, 473, 1]
    lid_y = head[:, list(canonical.LEFT_EYE_UPPER), 1].mean(1)
    assert iris_y.std() > 0.01
    assert np.corrcoef(iris_y, lid_y)[0, 1] > 0.8  # measured 0.95 (version 1: -0.92)


def test_speakers_are_distinct_and_some_held_out():
    spk = make_speakers(32, seed=0)
    assert len({(s.voice, s.variant, s.pitch) for s in spk}) == 32
    assert len({s.variant for s in spk}) == 32
    assert sum(s.split == "heldout" for s in spk) == 4
    assert [s.to_manifest() for s in spk] == [s.to_manifest() for s in make_speakers(32, seed=0)]
    assert [s.to_manifest() for s in spk] != [s.to_manifest() for s in make_speakers(32, seed=1)]
    with pytest.raises(ValueError, match="speakers"):
        make_speakers(1, seed=0)


def test_dataset_hands_out_motion_from_each_utterances_rest_on_request(corpus):
    plain, rested = CorpusDataset(corpus, split="train"), CorpusDataset(corpus, split="train", motion_from_rest=True)
    a, b = plain[0]["motion"], rested[0]["motion"]
    assert torch.allclose(b, motion_code.from_rest(a))
    assert float(b[:, motion_code.BLENDSHAPES].quantile(0.05, dim=0).abs().max()) < 1e-3, "rest reads 0"
    assert not torch.allclose(a[:, motion_code.BLENDSHAPES], b[:, motion_code.BLENDSHAPES]), "the corpus has a rest"


def test_dataset_sampler_and_collate(corpus):
    ds = CorpusDataset(corpus, split="train")
    m = load_manifest(corpus)
    assert len(ds) == sum(u["split"] == "train" for u in m["utterances"])
    item = ds[0]
    n = item["mel"].shape[0]
    assert item["mel"].dtype == torch.float32 and item["motion"].shape == (n, 61)
    assert item["phonemes"].dtype == torch.long and item["phonemes"].shape == (n,)
    assert isinstance(item["speaker"], str) and isinstance(item["text"], str)
    assert len(CorpusDataset(corpus, split=["heldout_speaker", "heldout_sentence"])) == len(m["utterances"]) - len(ds)
    with pytest.raises(ValueError, match="unknown split"):
        CorpusDataset(corpus, split="test")

    budget = 2 * max(ds.lengths)
    sampler = FrameBudgetSampler(ds.lengths, max_frames=budget, shuffle=True, seed=1)
    batches = list(sampler)
    seen = sorted(i for b in batches for i in b)
    assert seen == list(range(len(ds)))  # every item exactly once
    assert all(len(b) * max(ds.lengths[i] for i in b) <= budget for b in batches)
    assert any(len(b) > 1 for b in batches)
    assert batches == list(FrameBudgetSampler(ds.lengths, budget, shuffle=True, seed=1))
    sampler.set_epoch(1)
    assert list(sampler) != batches or len(batches) == 1
    with pytest.raises(ValueError, match="max_frames"):
        FrameBudgetSampler(
            ds.lengths, max_frames=min(ds.lengths) - 1 if max(ds.lengths) == min(ds.lengths) else max(ds.lengths) - 1
        )

    big = max(batches, key=len)
    batch = collate([ds[i] for i in big])
    b = len(big)
    L = batch["lengths"]
    assert batch["mel"].shape == (b, int(L.max()), 100) and batch["phonemes"].shape == (b, int(L.max()))
    short = int(torch.argmin(L))
    if L[short] < L.max():
        assert torch.all(batch["mel"][short, L[short] :] == MEL_FLOOR)
        assert torch.all(batch["phonemes"][short, L[short] :] == 0)
        assert torch.all(batch["motion"][short, L[short] :] == 0)
    assert math.isclose(MEL_FLOOR, math.log(1e-5))
    # DataLoader with worker processes (datasets pickle without open shard handles)
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=collate, num_workers=1)
    assert sum(x["mel"].shape[0] for x in loader) == len(ds)


def test_cli_rejects_bad_arguments(tmp_path):
    from omnitalker_core.corpus.generate import CorpusConfig

    with pytest.raises(ValueError, match="hours"):
        CorpusConfig(out=tmp_path, hours=0)
    with pytest.raises(ValueError, match="speakers"):
        CorpusConfig(out=tmp_path, speakers=1)
