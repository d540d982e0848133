"""Evaluation metrics on synthetic signals whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnitalker_core import motion as motion_code
from omnitalker_core.eval import frechet, motion_style, nearest, protocol, report, sync, wer

# ---- WER ------------------------------------------------------------------------------------


def test_normalize_text_strips_case_punctuation_and_formatting():
    assert wer.normalize_text("  Don’t STOP—now!  Really, ok? ") == "do not stop now really ok"
    assert wer.normalize_text("well-known_fact.") == "well known fact"
    # numbers: an ASR writes digits or words; both must score the same
    assert wer.normalize_text("Ten cats, 21 dogs and 1,205 birds") == "10 cats 21 dogs and 1205 birds"
    assert wer.normalize_text("ten cats, twenty one dogs") == wer.normalize_text("10 cats, 21 dogs")
    assert wer.normalize_text("The colour of Mr. Smith's car") == wer.normalize_text("the color of mister smith's car")


def test_wer_identical_after_normalisation_is_zero():
    assert wer.word_error_rate("The cat sat on the mat.", "the cat, sat on THE mat") == 0.0


def test_wer_counts_substitutions_deletions_insertions():
    assert wer.word_error_rate("a b c d", "a x c") == pytest.approx(2 / 4)  # 1 sub + 1 del
    assert wer.word_error_rate("a b", "a b c d") == pytest.approx(2 / 2)  # 2 insertions
    assert wer.word_error_rate("one two three", "") == 1.0


def test_wer_is_corpus_level_over_lists():
    # 1 error in 1 word + 0 errors in 3 words = 1/4, not the mean of per-sentence rates (0.5)
    assert wer.word_error_rate(["yes", "red green blue"], ["no", "red green blue"]) == pytest.approx(0.25)


def test_wer_rejects_bad_input():
    with pytest.raises(ValueError, match="no words"):
        wer.word_error_rate("?!", "hello")
    with pytest.raises(ValueError):
        wer.word_error_rate(["a"], ["a", "b"])


# ---- audio-visual sync ------------------------------------------------------------------------


def _syllable_envelope(seconds: float, rate: float, seed: int) -> np.ndarray:
    """Irregular syllable-like bumps (3-7 Hz) on a `rate` Hz clock."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    env = np.zeros_like(t)
    c = 0.1
    while c < seconds - 0.1:
        env += rng.uniform(0.4, 1.0) * np.exp(-0.5 * ((t - c) / rng.uniform(0.03, 0.06)) ** 2)
        c += rng.uniform(0.14, 0.33)
    return env


@pytest.mark.parametrize("shift_ms", [80.0, -60.0, 0.0])
def test_sync_recovers_planted_shift(shift_ms):
    sr, fps, seconds = 24000, motion_code.VIDEO_FPS, 4.0
    fine = 1000.0  # build both signals from one envelope on a 1 ms clock
    env = _syllable_envelope(seconds, fine, seed=3)
    t = np.arange(int(seconds * sr)) / sr
    carrier = np.sin(2 * np.pi * 150 * t) + 0.5 * np.sin(2 * np.pi * 310 * t)
    wave = np.interp(t, np.arange(len(env)) / fine, env) * carrier
    # mouth = envelope delayed by shift_ms (positive: mouth after sound), sampled at 25 fps
    frames = int(seconds * fps)
    jaw = np.interp(np.arange(frames) / fps - shift_ms / 1000.0, np.arange(len(env)) / fine, env)
    codes = np.zeros((frames, motion_code.MOTION_DIM))
    codes[:, motion_code.CHANNEL["jawOpen"]] = jaw / jaw.max()
    res = sync.av_sync(codes, fps, wave.astype(np.float32), sr)
    assert abs(res.lag_ms - shift_ms) <= 10.0, res
    assert res.correlation > 0.97, res  # one envelope on both sides: measured 0.996-0.998


def test_best_lag_limits_and_errors():
    rate = sync.RATE
    a = _syllable_envelope(5.0, rate, seed=1)
    v = np.roll(a, 35)  # 350 ms: outside the ±200 ms window
    res = sync.best_lag(v, a)
    assert abs(res.lag_ms) <= sync.MAX_LAG_MS
    assert res.correlation < 0.6, res  # the true peak (r = 1) is not inside the window: measured 0.38
    with pytest.raises(ValueError, match="constant"):
        sync.best_lag(np.zeros(300), a[:300])


# ---- nearest speaker on separable statistics ----------------------------------------------------


def _speaker_features(rng, centres: dict[str, np.ndarray], n: int, noise: np.ndarray) -> dict[str, list[np.ndarray]]:
    return {s: [c + rng.normal(0, 1, c.shape) * noise for _ in range(n)] for s, c in centres.items()}


def test_nearest_speaker_on_separable_stats_uses_within_speaker_scale():
    rng = np.random.default_rng(0)
    # dim 0 separates speakers (spread 1 between, 0.05 within); dim 1 is sentence noise (spread 5 within)
    centres = {f"s{i}": np.array([float(i), 0.0]) for i in range(4)}
    noise = np.array([0.05, 5.0])
    train = _speaker_features(rng, centres, 10, noise)
    probes, intended = [], []
    for s, c in centres.items():
        for _ in range(5):
            probes.append(c + rng.normal(0, 1, 2) * noise)
            intended.append(s)
    scaled = nearest.build_centroids(train, metric="euclidean", within_scale=True)
    assert nearest.nearest_accuracy(scaled, np.array(probes), intended) == 1.0
    raw = nearest.build_centroids(train, metric="euclidean", within_scale=False)
    assert nearest.nearest_accuracy(raw, np.array(probes), intended) < 0.8  # the noisy dimension dominates


def test_nearest_cosine_and_wrong_speaker():
    cents = nearest.build_centroids({"a": [np.array([1.0, 0.0])], "b": [np.array([0.0, 1.0])]}, metric="cosine")
    assert cents.nearest(np.array([[3.0, 0.5], [0.1, 2.0]])) == ["a", "b"]
    assert nearest.nearest_accuracy(cents, np.array([[0.1, 2.0]]), ["a"]) == 0.0
    with pytest.raises(ValueError, match="at least 2 speakers"):
        nearest.build_centroids({"a": [np.ones(2)]})
    with pytest.raises(ValueError, match="without a centroid"):
        nearest.nearest_accuracy(cents, np.ones((1, 2)), ["zz"])


def test_motion_statistics_tell_speakers_apart():
    """Two synthetic 'speakers': different smile baseline, nod amplitude and blink rate."""
    rng = np.random.default_rng(1)
    fps = motion_code.VIDEO_FPS

    def clip(smile: float, nod: float, blink_every_s: float) -> np.ndarray:
        f = int(rng.uniform(3, 5) * fps)
        t = np.arange(f) / fps
        c = np.zeros((f, motion_code.MOTION_DIM))
        c[:, motion_code.CHANNEL["jawOpen"]] = np.clip(rng.normal(0.3, 0.2, f), 0, 1)  # text-driven noise
        c[:, motion_code.CHANNEL["mouthSmileLeft"]] = smile
        c[:, motion_code.CHANNEL["headPitch"]] = nod * np.sin(2 * np.pi * 0.8 * t + rng.uniform(0, 6))
        blink = (np.mod(t + rng.uniform(0, 1), blink_every_s) < 0.12).astype(float)
        c[:, motion_code.CHANNEL["eyeBlinkLeft"]] = c[:, motion_code.CHANNEL["eyeBlinkRight"]] = blink
        return c

    styles = {"calm": (0.05, 0.01, 4.0), "lively": (0.3, 0.06, 1.5)}
    pools = {s: [motion_style.motion_statistics(clip(*p)) for _ in range(6)] for s, p in styles.items()}
    cents = nearest.build_centroids(pools, metric="euclidean", within_scale=True)
    probes = [(s, motion_style.motion_statistics(clip(*p))) for s, p in styles.items() for _ in range(4)]
    assert nearest.nearest_accuracy(cents, np.array([p for _, p in probes]), [s for s, _ in probes]) == 1.0
    assert len(motion_style.feature_names()) == len(pools["calm"][0])


def test_blink_rate_counts_onsets():
    fps = motion_code.VIDEO_FPS
    c = np.zeros((250, motion_code.MOTION_DIM))  # 10 s
    for start in (20, 80, 150, 220):
        c[start : start + 4, [motion_code.CHANNEL["eyeBlinkLeft"], motion_code.CHANNEL["eyeBlinkRight"]]] = 1.0
    assert motion_style.blink_rate(c, fps) == pytest.approx(0.4)


# ---- Fréchet distances ------------------------------------------------------------------------


def test_frechet_zero_for_identical_positive_for_shifted():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(400, 6))
    assert frechet.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = a + np.array([0.5, 0, 0, 0, 0, 0])
    assert frechet.frechet_distance(a, shifted) == pytest.approx(0.25, rel=1e-3)  # |mu shift|^2
    # N(mu, C) against N(2 mu, 4 C): |mu|^2 + tr(C + 4C - 2 (4 C^2)^1/2) = |mu|^2 + tr(C), about 6 here
    wider = a * 2.0
    expected = float((a.mean(0) ** 2).sum() + np.trace(np.cov(a, rowvar=False)))
    assert 5.0 < expected < 7.0
    assert frechet.frechet_distance(a, wider) == pytest.approx(expected, rel=1e-2)


def test_expression_and_pose_fid_use_their_channels():
    rng = np.random.default_rng(3)
    codes = rng.uniform(0, 1, size=(300, motion_code.MOTION_DIM))
    moved = codes.copy()
    moved[:, motion_code.POSE] += 0.3
    assert frechet.expression_fid(codes, moved) == pytest.approx(0.0, abs=1e-6)
    assert frechet.pose_fid(codes, moved) == pytest.approx(6 * 0.09, rel=1e-3)
    with pytest.raises(ValueError):
        frechet.expression_fid(codes[:, :10], codes[:, :10])


# ---- protocol and report -----------------------------------------------------------------------


def _manifest(speakers: int = 3, per: int = 10) -> dict:
    utts = []
    for s in range(speakers):
        for j in range(per):
            utts.append({"id": f"u{s}_{j}", "speaker": f"spk{s}", "split": "heldout_speaker", "text": f"t {j}",
                         "num_frames": 300, "duration": 3.2})  # fmt: skip
    utts.append({"id": "x", "speaker": "train0", "split": "train", "text": "x", "num_frames": 300, "duration": 3.2})
    spk = {f"spk{s}": {"split": "heldout"} for s in range(speakers)} | {"train0": {"split": "train"}}
    return {"mel_fps": 93.75, "utterances": utts, "speakers": spk}


@pytest.mark.parametrize("targets", ["harvard", "corpus"])
def test_protocol_disjoint_roles_and_other_speaker(targets):
    p = protocol.build_protocol(_manifest(), max_items=6, pool_size=4, targets=targets)
    used = [u["id"] for it in p.items for u in (it.target, it.reference, it.other_reference)]
    assert len(used) == len(set(used))  # no utterance plays two roles
    for it in p.items:
        assert it.target["speaker"] == it.reference["speaker"] == it.speaker
        assert it.other_reference["speaker"] != it.speaker
    assert {it.speaker for it in p.items} == {"spk0", "spk1", "spk2"}
    assert {it.other_reference["speaker"] for it in p.items if it.speaker == "spk0"} == {"spk1", "spk2"}
    pooled = {u["id"] for us in p.pools.values() for u in us}
    assert not pooled & set(used) and all(len(us) == 4 for us in p.pools.values())
    with pytest.raises(ValueError, match="not enough"):
        protocol.build_protocol(_manifest(per=4), max_items=12, targets=targets)


def test_harvard_targets_keep_corpus_references_and_pools():
    from omnitalker_core.eval.sentences import HARVARD

    assert len(HARVARD) == 30 and len(set(HARVARD)) == 30
    h = protocol.build_protocol(_manifest(), max_items=6, pool_size=4, seed=3)
    c = protocol.build_protocol(_manifest(), max_items=6, pool_size=4, seed=3, targets="corpus")
    assert h.targets == "harvard" and c.targets == "corpus"
    assert h.pools == c.pools  # the set-aside corpus target keeps the centroid pools identical
    for hi, ci in zip(h.items, c.items):
        assert (hi.speaker, hi.reference, hi.other_reference) == (ci.speaker, ci.reference, ci.other_reference)
        assert hi.target["source"] == "harvard" and hi.target["speaker"] == hi.speaker
        assert hi.target["text"] == HARVARD[hi.target["harvard_index"]]
    assert len({it.target["text"] for it in h.items}) == 6  # distinct sentences while the 30 last
    assert len({it.target["render_index"] for it in h.items}) == 6
    with pytest.raises(ValueError, match="targets"):
        protocol.build_protocol(_manifest(), max_items=2, targets="lorem")


def test_harvard_ground_truth_is_rendered_by_the_corpus_generator():
    """A held-out speaker of a real corpus manifest says a Harvard sentence: text, voice, lengths."""
    import torch

    from omnitalker_core import audio as audio_lib
    from omnitalker_core.corpus.speakers import make_speakers
    from omnitalker_core.eval import samples
    from omnitalker_core.text.espeak import phonemize
    from omnitalker_core.text.phonemes import PhonemeVocab

    torch.set_num_threads(1)
    speakers = make_speakers(16, seed=5)  # speakers 7 and 15 are held out
    held = [s for s in speakers if s.split == "heldout"]
    m = _manifest(speakers=len(held))
    for u in m["utterances"]:  # the fake utterances belong to the generated speakers
        u["speaker"] = held[int(u["speaker"][3:])].id if u["split"] == "heldout_speaker" else speakers[0].id
    m["speakers"] = {s.id: s.to_manifest() for s in speakers}
    m["generator"] = {"seed": 5}
    item0 = protocol.build_protocol(m, max_items=1, pool_size=2).items[0]
    target = item0.target
    m["phoneme_vocab"] = PhonemeVocab.from_symbols([p for p, _ in phonemize(target["text"])]).to_list()
    gt = samples.render_target(m, target)
    assert gt["text"] == target["text"] and gt["speaker"] == item0.speaker == held[0].id
    n = gt["mel"].shape[0]
    assert gt["mel"].shape == (n, 100) and gt["motion"].shape == (n, motion_code.MOTION_DIM)
    assert gt["phonemes"].shape == (n,)
    assert n == gt["audio"].numel() // 256 + 1  # mel on the corpus's clock (hop 256 at 24 kHz)
    seconds = gt["audio"].numel() / audio_lib.SAMPLE_RATE
    assert 1.0 < seconds < 6.0 and float(gt["audio"].abs().max()) > 0.05  # a sentence was spoken
    assert torch.allclose(gt["mel"], audio_lib.log_mel(gt["audio"]).T, atol=0.05)  # mel of that audio
    sample = samples.ground_truth(gt)
    assert sample.motion.shape[0] == round(n / audio_lib.MEL_FPS * motion_code.VIDEO_FPS)


def _seen_manifest() -> dict:
    """_manifest() plus training speakers with heldout_sentence utterances: accents, rates and counts vary."""
    m = _manifest()
    train = {  # id: (voice, variant, rate, heldout_sentence utterances)
        "t_us": ("en-us", "m3", 160, 9),
        "t_en": ("en", "victor", 141, 7),
        "t_rp": ("en-gb-x-rp", "michel", 147, 7),
        "t_us2": ("en-us", "travis", 151, 6),
        "t_few": ("en", "Reed", 170, 5),  # fits the rule, but fewer references than the four above
        "t_fast": ("en-us", "shelby", 198, 12),  # too fast
        "t_klatt": ("en", "klatt6", 150, 12),  # klatt variant
        "t_wales": ("en-gb-x-gbcwmd", "caleb", 150, 12),  # accent Whisper misreads
    }
    for sid, (voice, variant, rate, n) in train.items():
        m["speakers"][sid] = {"split": "train", "voice": voice, "variant": variant, "rate": rate}
        for j in range(n):
            m["utterances"].append({"id": f"{sid}_h{j}", "speaker": sid, "split": "heldout_sentence",
                                    "text": f"h {j}", "num_frames": 300, "duration": 3.2})  # fmt: skip
        m["utterances"].append({"id": f"{sid}_tr", "speaker": sid, "split": "train", "text": "x",
                                "num_frames": 300, "duration": 3.2})  # fmt: skip
    m["utterances"].append({"id": "t_us_short", "speaker": "t_us", "split": "heldout_sentence", "text": "s",
                            "num_frames": 100, "duration": 1.0})  # fmt: skip
    return m


def test_seen_speakers_rule_accent_rate_and_references():
    m = _seen_manifest()
    assert protocol.seen_speakers(m) == ["t_en", "t_rp", "t_us", "t_us2"]
    assert protocol.seen_speakers(m, count=2) == ["t_en", "t_us"]  # most references first; ties by id
    assert protocol.heldout_speakers(m) == ["spk0", "spk1", "spk2"]  # the held-out set is unchanged
    m2 = _manifest()
    with pytest.raises(ValueError, match="seen-speaker evaluation needs"):
        protocol.seen_speakers(m2)


@pytest.mark.parametrize("targets", ["harvard", "corpus"])
def test_seen_protocol_uses_heldout_sentence_split_and_swapped_references(targets):
    m = _seen_manifest()
    p = protocol.build_protocol(m, max_items=8, pool_size=12, targets=targets, speaker_set="seen")
    assert p.speaker_set == "seen" and p.split == "heldout_sentence" and p.targets == targets
    assert sorted(p.pools) == ["t_en", "t_rp", "t_us", "t_us2"]
    split = {u["id"]: u["split"] for u in m["utterances"]}
    refs = {it.reference["id"] for it in p.items}
    for it in p.items:
        assert it.target["speaker"] == it.reference["speaker"] == it.speaker
        assert split[it.reference["id"]] == split[it.other_reference["id"]] == "heldout_sentence"
        assert it.other_reference["speaker"] != it.speaker
        assert it.other_reference["id"] in refs  # the wrong reference is another item's own reference
        assert 2.0 <= it.reference["duration"] <= 8.0
        if targets == "harvard":
            assert it.target["source"] == "harvard"
        else:
            assert split[it.target["id"]] == "heldout_sentence" and it.target["id"] not in refs
    assert len(refs) == 8  # 2 rounds x 4 speakers
    pooled = [u for us in p.pools.values() for u in us]
    used = refs | {it.target["id"] for it in p.items}
    assert not {u["id"] for u in pooled} & used
    assert all(split[u["id"]] == "heldout_sentence" for u in pooled)
    assert {s: len(us) for s, us in p.pools.items()}["t_us2"] == (4 if targets == "harvard" else 2)
    again = protocol.build_protocol(m, max_items=8, pool_size=12, targets=targets, speaker_set="seen")
    assert again == p  # deterministic
    with pytest.raises(ValueError, match="lower --max-items"):
        protocol.build_protocol(m, max_items=24, targets=targets, speaker_set="seen")


def test_seen_protocol_override_and_heldout_unchanged():
    m = _seen_manifest()
    p = protocol.build_protocol(m, max_items=3, pool_size=4, speaker_set="seen", speakers=["t_us", "t_fast"])
    assert sorted(p.pools) == ["t_fast", "t_us"] and [it.speaker for it in p.items] == ["t_fast", "t_us", "t_fast"]
    with pytest.raises(ValueError, match="training speakers"):
        protocol.build_protocol(m, max_items=2, speaker_set="seen", speakers=["spk0", "t_us"])
    with pytest.raises(ValueError, match="speaker_set"):
        protocol.build_protocol(m, max_items=2, speaker_set="train")
    # the held-out protocol ignores the extra speakers and utterances
    h = protocol.build_protocol(m, max_items=6, pool_size=4, seed=2)
    assert h == protocol.build_protocol(_manifest(), max_items=6, pool_size=4, seed=2, speaker_set="heldout")
    assert h.split == "heldout_speaker"


def test_speaker_sets_of_config():
    from omnitalker_core.eval.runner import EvalConfig

    assert EvalConfig().speakers == "both" and EvalConfig().speaker_sets == ("heldout", "seen")
    assert EvalConfig(speakers="seen").speaker_sets == ("seen",)
    with pytest.raises(ValueError, match="speakers"):
        EvalConfig(speakers="all")


def test_wer_target_taken_on_the_set_whose_ground_truth_asr_works():
    def rows(model_wer, gt_wer, voice):
        return {"rows": {
            "model": {"wer": model_wer, "voice_nearest": voice, "motion_nearest": 0.5, "sync_abs_lag_ms": 30.0,
                      "rtf": 0.7},
            "ground_truth": {"wer": gt_wer},
        }}  # fmt: skip

    sets = {"heldout": rows(1.0, 0.69, 0.25), "seen": rows(0.4, 0.3, 1.0)}
    t = report.check_targets_for_sets(sets)
    assert t["wer"]["speaker_set"] == "seen" and t["wer"]["met"] is True and t["wer"]["goal"] == pytest.approx(0.45)
    assert t["wer"]["ground_truth_wer_by_set"] == {"heldout": 0.69, "seen": 0.3} and "< 0.5" in t["wer"]["rule"]
    assert t["voice_nearest"]["speaker_set"] == "heldout" and t["voice_nearest"]["met"] is False
    sets["seen"]["rows"]["model"]["wer"] = 0.5
    assert report.check_targets_for_sets(sets)["wer"]["met"] is False
    sets["heldout"]["rows"]["ground_truth"]["wer"] = 0.4  # both readable: the held-out set first
    t = report.check_targets_for_sets(sets)
    assert t["wer"]["speaker_set"] == "heldout" and t["wer"]["met"] is False
    sets["heldout"]["rows"]["ground_truth"]["wer"] = 0.6
    sets["seen"]["rows"]["ground_truth"]["wer"] = 0.55  # 1.5 x 0.55 < 1, but Whisper misreads the ground truth
    t = report.check_targets_for_sets(sets)
    assert t["wer"]["met"] is None and t["wer"]["speaker_set"] is None and "0.55" in t["wer"]["note"]
    t = report.check_targets_for_sets({"seen": rows(0.3, 0.25, 0.95)})
    assert t["wer"]["speaker_set"] == t["voice_nearest"]["speaker_set"] == "seen" and t["voice_nearest"]["met"]
    table = report.markdown_sets_table(
        {"heldout": {"speakers": ["spk0"], **rows(1.0, 0.7, 0.25)}, "seen": {"speakers": ["t_us"], **rows(0.3, 0.2, 1)}}
    )
    assert "| held-out speakers (spk0) | model (reference = same speaker) |" in table
    assert "| seen speakers, new sentences (t_us) | ground truth" in table


def test_targets_checked_against_rules():
    rows = {
        "model": {"wer": 0.3, "voice_nearest": 0.95, "motion_nearest": 0.5, "sync_abs_lag_ms": 30.0, "rtf": 0.7},
        "ground_truth": {"wer": 0.2},
    }
    t = report.check_targets(rows)
    assert t["wer"]["met"] and t["voice_nearest"]["met"] and t["sync"]["met"] and t["realtime"]["met"]
    assert t["motion_nearest"]["met"] is False
    assert report.check_targets(rows, end_to_end_rtf=1.4)["realtime"]["met"] is False
    rows["model"]["wer"] = 0.31
    assert report.check_targets(rows)["wer"]["met"] is False
    rows["ground_truth"]["wer"] = 0.7  # 1.5 x 0.7 >= 1: even silence would pass, so it is not measurable
    assert report.check_targets(rows)["wer"]["met"] is None
    assert "model (reference = same speaker)" in report.markdown_table(
        {**rows, "ground_truth": {**rows["ground_truth"], "rtf": None}}
    )


def test_aggregate_counts_failed_sync_as_worst_lag_and_pools_wer():
    from types import SimpleNamespace

    from omnitalker_core.eval.runner import Scored, aggregate

    def scored(i, row, errors, words, lag, nearest_voice, nearest_motion):
        return Scored(item=i, row=row, speaker="a", target_id=f"t{i}", reference_id=None, text="x", hypothesis="x",
                      word_errors=errors, words=words, cosine_to_reference=0.5, voice_nearest=nearest_voice,
                      motion_nearest=nearest_motion, lag_ms=lag, sync_correlation=None if lag is None else 0.5,
                      rtf=0.5)  # fmt: skip

    rows = [scored(0, "model", 1, 10, 20.0, "a", "a"), scored(1, "model", 3, 2, None, "b", "a"),
            scored(2, "model", 0, 4, -30.0, "a", "b")]  # fmt: skip
    rng = np.random.default_rng(0)
    pools = SimpleNamespace(frames={"a": rng.uniform(0, 1, (200, motion_code.MOTION_DIM))})
    frames = {"model": {"a": [rng.uniform(0, 1, (100, motion_code.MOTION_DIM))]}}
    m = aggregate(rows, frames, pools)["model"]
    assert m["wer"] == pytest.approx(4 / 16)  # pooled over words, not averaged over sentences
    assert m["wer_by_speaker"] == {"a": pytest.approx(4 / 16)}
    assert m["sync_abs_lag_ms"] == 30.0  # median of 20, 200 (failed), 30
    assert m["sync_failed"] == 1 and m["sync_mean_lag_ms"] == pytest.approx(-5.0)
    assert m["voice_nearest"] == pytest.approx(2 / 3) and m["motion_nearest"] == pytest.approx(2 / 3)
    model_frames, pool = frames["model"]["a"][0], pools.frames["a"]
    assert m["e_fid"] == pytest.approx(frechet.expression_fid(model_frames, pool), rel=1e-9)
    assert m["p_fid"] == pytest.approx(frechet.pose_fid(model_frames, pool), rel=1e-9)
    assert m["e_fid"] > 10 * m["p_fid"] > 0  # 51 uniform channels against 6: the two were not swapped


def test_tracked_reference_motion_is_what_the_tracker_reads_back():
    """--reference-motion tracked: the reference's motion drawn onto a portrait and read back, on the mel clock."""
    from omnitalker_core import audio as audio_lib
    from omnitalker_core import motion as motion_code
    from omnitalker_core.eval.runner import EvalConfig
    from omnitalker_core.eval.samples import tracked_motion, tracking_portrait

    n = int(3 * audio_lib.MEL_FPS)
    t = torch.arange(n) / audio_lib.MEL_FPS
    codes = torch.zeros(n, motion_code.MOTION_DIM)
    codes[:, motion_code.CHANNEL["jawOpen"]] = 0.35 * (1 - torch.cos(2 * torch.pi * 1.3 * t))
    codes[:, motion_code.CHANNEL["headYaw"]] = 0.15 * torch.sin(2 * torch.pi * 0.4 * t)
    item = {"id": "x", "motion": codes, "mel": torch.zeros(n, 80)}
    back = tracked_motion(item, tracking_portrait(), size=256)
    assert back.shape == (n, motion_code.MOTION_DIM) and back.dtype == torch.float32
    for name in ("jawOpen", "headYaw"):
        c = motion_code.CHANNEL[name]
        r = np.corrcoef(codes[:, c].numpy(), back[:, c].numpy())[0, 1]
        assert r > 0.85, (name, r)
    with pytest.raises(ValueError, match="reference_motion"):
        EvalConfig(reference_motion="video")


def test_tracked_adapted_references_are_read_with_the_readers_adapted_to_the_portrait(monkeypatch):
    """--reference-motion tracked-adapted: the read-out is adapted once, on the portrait at rest at the references'
    size, and every reference is then read with those readers (here a stand-in whose head yaw reads half size)."""
    from dataclasses import replace
    from types import SimpleNamespace

    from PIL import Image

    from omnitalker_core import audio as audio_lib
    from omnitalker_core import motion as motion_code
    from omnitalker_core.eval.samples import adapted_readers, tracked_motion, tracking_portrait
    from omnitalker_core.face import adaptation
    from omnitalker_core.face.appearance import load_reader

    shipped = load_reader()
    halved = replace(shipped, used=(), readouts={}, pose={"headYaw": (2.0, 0.0)})
    adapted_on = []

    def fake_cached_adapt(frame, cfg, callback=None):
        adapted_on.append((frame, cfg))
        return SimpleNamespace(readers=(shipped, halved))

    monkeypatch.setattr(adaptation, "cached_adapt", fake_cached_adapt)
    portrait = tracking_portrait()
    readers = adapted_readers(portrait, size=256)
    assert len(adapted_on) == 1 and adapted_on[0][1] == adaptation.AdaptConfig()  # Capture Style's settings
    frame = adapted_on[0][0]
    assert frame.dtype == np.uint8 and max(frame.shape[:2]) == 256
    resized = np.asarray(Image.fromarray(portrait).resize(frame.shape[1::-1], Image.BILINEAR), np.float32)
    assert np.abs(frame.astype(np.float32) - resized).mean() < 3  # the portrait itself, at rest (0.57)

    n = int(3 * audio_lib.MEL_FPS)
    codes = torch.zeros(n, motion_code.MOTION_DIM)
    codes[:, motion_code.CHANNEL["headYaw"]] = 0.2 * torch.sin(2 * torch.pi * 0.5 * torch.arange(n) / audio_lib.MEL_FPS)
    item = {"id": "x", "motion": codes, "mel": torch.zeros(n, 80)}
    yaw = motion_code.CHANNEL["headYaw"]
    plain = tracked_motion(item, portrait, size=256)[:, yaw].numpy()
    read = tracked_motion(item, portrait, size=256, readers=readers)[:, yaw].numpy()
    assert np.corrcoef(codes[:, yaw].numpy(), plain)[0, 1] > 0.9
    slope = np.polyfit(plain, read, 1)[0]
    assert 0.4 < slope < 0.6, slope
