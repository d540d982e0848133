"""One motion space: what the renderer draws for a code, the tracker reads back at the same size (issue 11)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import skimage.data

from omnitalker_core import motion, pipeline
from omnitalker_core.face.calibration import (
    FACE_PHOTOS,
    KEY_CHANNELS,
    Calibration,
    agreement_table,
    calibration_portraits,
    certainty_table,
    channel_agreement,
    fit_calibration,
    portrait_code,
    random_codes,
    render_and_track,
    round_trip,
    table_columns,
    target_chance,
)
from omnitalker_core.face.tracker import track_frames

JAW, YAW = motion.CHANNEL["jawOpen"], motion.CHANNEL["headYaw"]


def test_fit_calibration_inverts_a_shrunk_read_out_and_leaves_noise_alone():
    rng = np.random.default_rng(0)
    true = rng.uniform(0, 1, (2000, motion.MOTION_DIM))
    raw = true.copy()
    raw[:, JAW] = 0.5 * true[:, JAW] + 0.1 + rng.normal(0, 0.02, 2000)  # read at half size, a tenth open at rest
    raw[:, YAW] = 0.7 * true[:, YAW] + rng.normal(0, 0.01, 2000)  # pose: read small, zero is zero
    raw[:, 0] = rng.uniform(0, 1, 2000)  # a channel the tracker cannot read: pure noise
    cal = fit_calibration(raw, true)
    assert cal.weight[JAW, JAW] == pytest.approx(2.0, rel=0.05) and cal.bias[JAW] == pytest.approx(-0.2, abs=0.02)
    assert cal.weight[YAW, YAW] == pytest.approx(1 / 0.7, rel=0.05) and cal.bias[YAW] == 0.0
    assert cal.weight[0, 0] == 1.0 and cal.bias[0] == 0.0, "an unreadable channel must not be amplified"
    ag = channel_agreement(true, cal.apply(raw))
    assert ag["jawOpen"]["slope"] == pytest.approx(1.0, abs=0.05)


def test_agreement_table_has_every_channel_and_a_column_per_held_out_portrait():
    """Raw and calibrated columns for the detailed portrait, the tracker's for each held-out one; a raw read-out
    that equals the truth scores slope 1, r 1."""
    rng = np.random.default_rng(0)
    true = rng.uniform(0, 1, (60, motion.MOTION_DIM))
    crops = rng.integers(0, 255, (60, 112, 112, 3), dtype=np.uint8)
    runs = {
        f"{name}/320": {"true": true, "raw": true.copy(), "held_out": held, "crops": crops}
        for name, held in (("astronaut_mirrored_crop", True), ("hopper", True), ("astronaut", False))
    }
    cal = Calibration(np.eye(motion.MOTION_DIM), np.zeros(motion.MOTION_DIM))
    lines = agreement_table(table_columns(runs, cal)).splitlines()
    assert lines[0].split(" | ")[1:4] == [
        "astronaut_mirrored_crop raw fit slope / r", "astronaut_mirrored_crop calibrated fit slope / r",
        "astronaut_mirrored_crop tracker slope / r",
    ]  # fmt: skip
    assert "hopper tracker" in lines[0] and "astronaut raw" not in lines[0].replace("mirrored_crop raw", "")
    assert len(lines) == 2 + motion.MOTION_DIM
    jaw = next(line for line in lines if line.startswith("| **jawOpen**"))
    assert jaw.split(" | ")[1] == "1.00 / 1.00"

    funnel = motion.CHANNEL["mouthFunnel"]

    class HalfFunnel:  # an adapted reader that reads mouthFunnel at half its size and nothing else
        used, readouts = ("mouthFunnel",), {}

        def read(self, crops, codes, fit=None):
            out = codes.copy()
            out[:, funnel] *= 0.5
            return out

    adapted = {"hopper": SimpleNamespace(readers=(HalfFunnel(),))}
    columns = table_columns(runs, cal, adapted=adapted)
    lines = agreement_table(columns).splitlines()
    cols = [c.strip(" |") for c in lines[0].split(" | ")]
    assert cols.index("hopper adapted slope / r") == cols.index("hopper tracker slope / r") + 1
    assert "astronaut_mirrored_crop adapted" not in lines[0], "only portraits with an adapted reader get a column"
    row = [c.strip(" |") for c in next(line for line in lines if line.startswith("| **mouthFunnel**")).split(" | ")]
    slope, r = map(float, row[cols.index("hopper adapted slope / r")].split(" / "))
    assert slope == pytest.approx(0.5, abs=0.03) and r > 0.98
    # the key cells' certainty: tracker and adapted columns only, a row per key channel
    sure = certainty_table(columns).splitlines()
    assert len(sure) == 2 + len(KEY_CHANNELS) and "raw fit" not in sure[0] and "hopper adapted r [90%], met" in sure[0]
    row = {line.split(" | ")[0].strip("| "): [c.strip(" |") for c in line.split(" | ")[1:]] for line in sure[2:]}
    assert row["headYaw"] == ["1.00 [1.00, 1.00], 100%"] * 3  # read as rendered everywhere
    assert row["mouthFunnel"][2] == "1.00 [1.00, 1.00], 0%"  # the adapted read: r 1, but at half its size


def test_balanced_codes_move_every_shape_as_often_and_over_its_whole_range():
    """A check set sizes each channel's read (`adaptation_codes`): drawn balanced, every shape is active in as many
    keyframes as every other (to one) at amplitudes spread over the four quarters of 0-1 (to one), where the same
    number of keyframes drawn by chance leaves some shapes with a handful of moves, all small."""
    from omnitalker_core.face.calibration import DRAWN_SHAPES, FREQUENT, KEYFRAME_EVERY

    shapes = [c for c in DRAWN_SHAPES if motion.BLENDSHAPE_NAMES[c] not in FREQUENT]  # those also drawn by chance

    def spread(codes: np.ndarray) -> tuple[int, int]:
        keys = codes[::KEYFRAME_EVERY][:, shapes]  # the keyframes, exactly as drawn
        counts = (keys > 0).sum(0)
        quarters = [np.bincount((keys[keys[:, i] > 0, i] * 4).astype(int), minlength=4) for i in range(len(shapes))]
        return int(counts.max() - counts.min()), max(int(q.max() - q.min()) for q in quarters)

    for seed in (0, 1):
        balanced = random_codes(np.random.default_rng([seed, 1234, 1]), 2000, balanced=True)
        assert balanced.shape == (2000, motion.MOTION_DIM) and balanced.min() >= -1 and balanced.max() <= 1
        shapes_spread, quarters_spread = spread(balanced)
        assert shapes_spread <= 1 and quarters_spread <= 1, (shapes_spread, quarters_spread)
        shapes_spread, quarters_spread = spread(random_codes(np.random.default_rng([seed, 1234, 1]), 2000))
        assert shapes_spread >= 10 and quarters_spread >= 4, (shapes_spread, quarters_spread)


def test_how_sure_a_cell_is_comes_from_resampling_whole_keyframe_blocks():
    """`target_chance`: a read far above the target meets it in every resample, one far below in none, one at its
    edge in some; frames that share keyframes are resampled together, so a sparse channel's interval is as wide as
    its few moves make it (resampled frame by frame it would look several times surer)."""
    rng = np.random.default_rng(3)
    codes = random_codes(rng, 4000)
    true, est = codes.astype(np.float64), codes.astype(np.float64)
    for name, noise in (("jawOpen", 0.05), ("mouthClose", 0.045), ("mouthPucker", 0.3)):
        c = motion.CHANNEL[name]
        est[:, c] = true[:, c] + np.interp(np.arange(4000) / 6, np.arange(700), rng.normal(0, noise, 700))
    chance = target_chance(true, est)
    agree = channel_agreement(true, est)
    assert chance["jawOpen"]["met"] == 1.0 and agree["jawOpen"]["r"] > 0.95
    assert chance["mouthPucker"]["met"] == 0.0 and agree["mouthPucker"]["r"] < 0.8
    edge = chance["mouthClose"]
    assert 0.05 < edge["met"] < 0.95 and edge["r_low"] < 0.9 < edge["r_high"], (agree["mouthClose"], edge)
    assert edge["r_low"] < agree["mouthClose"]["r"] < edge["r_high"]
    framewise = target_chance(true, est, block=1)["mouthClose"]
    assert edge["r_high"] - edge["r_low"] > 2 * (framewise["r_high"] - framewise["r_low"])
    short = target_chance(true[:40], est[:40], names=("jawOpen",))["jawOpen"]  # shorter than a block: one block
    assert (
        short["r_low"]
        == pytest.approx(short["r_high"])
        == pytest.approx(channel_agreement(true[:40], est[:40])["jawOpen"]["r"])
    )
    still = target_chance(np.zeros_like(true), est, names=("mouthClose",))["mouthClose"]  # a channel never drawn
    assert np.isnan(still["r_low"]) and still["met"] == 0.0


def test_bundled_face_photos_load_and_the_held_out_ones_train_nothing():
    portraits = calibration_portraits()
    for name, held in FACE_PHOTOS.items():
        img, flag = portraits[name]
        assert flag == held and img.dtype == np.uint8 and img.ndim == 3 and min(img.shape[:2]) >= 256
        assert img.flags.writeable
    assert FACE_PHOTOS["hopper"], "the one face neither model sees must stay held out"


def test_calibration_file_round_trips(tmp_path):
    cal = Calibration(np.diag(np.linspace(1, 2, motion.MOTION_DIM)), np.full(motion.MOTION_DIM, 0.1))
    cal.save(tmp_path / "c.npz", {"seed": 1})
    back = Calibration.load(tmp_path / "c.npz")
    np.testing.assert_allclose(back.weight, cal.weight, rtol=1e-6)
    with pytest.raises(FileNotFoundError, match="calibration"):
        Calibration.load(tmp_path / "missing.npz")


def test_random_codes_move_the_lids_with_the_eyes():
    """The codes the tracker is calibrated and judged on are codes a capture could hold: the eyeLook* lids follow
    the gaze, as in the tracker's, the corpus's and ARKit's (codes revision 1 moved irises under still lids)."""
    from omnitalker_core.face import canonical
    from omnitalker_core.face.rig import FaceRig

    codes = random_codes(np.random.default_rng(7), 300)
    ahead = codes.copy()  # the same faces looking straight ahead
    ahead[:, motion.GAZE] = 0.0
    ahead[:, list(motion.EYE_LOOK)] = motion.look_from_gaze(ahead[:, motion.GAZE])
    rig = FaceRig.default()
    moved = rig.expression(codes) - rig.expression(ahead)  # f 478 3, what the gaze moves (y down)
    for iris, lid in ((473, canonical.LEFT_EYE_UPPER), (468, canonical.RIGHT_EYE_UPPER)):
        lid_y, iris_y = moved[:, list(lid), 1].mean(1), moved[:, iris, 1]
        assert lid_y.std() > 0.1 * iris_y.std(), "the lids stay put while the eyes move"  # 0.19; revision 1: 0
        assert np.corrcoef(iris_y, lid_y)[0, 1] > 0.9  # the same way: 0.99


@pytest.fixture(scope="module")
def held_out_round_trip():
    portrait, held = calibration_portraits()["astronaut_mirrored_crop"]
    assert held, "this portrait is not used to fit the shipped calibration"
    codes = random_codes(np.random.default_rng(123), 150)
    return round_trip(portrait, codes, size=384, calibrated=False), round_trip(portrait, codes, 384, calibrated=True)


def test_round_trips_move_the_head_about_the_portrait_s_own_pose():
    """A person's head moves about where they hold it. Hopper's photo rests at a head pitch of +0.24 rad (chin
    down), and the calibration's, the table's and the adaptation's renders move it from there: drawn about the
    rig's zero pose instead, the adapted tracker met the target on 7 of the 18 key channels of a face moving about
    its own pose (`scripts/own_pose_agreement.py`)."""
    portrait = calibration_portraits()["hopper"][0]
    pitch = motion.CHANNEL["headPitch"]
    codes = np.zeros((2, motion.MOTION_DIM), np.float32)
    codes[1, pitch] = 0.1
    own = portrait_code(portrait, size=(256, 256), calibrated=False)[pitch]
    assert own > 0.15, "the photo rests with the chin down"
    about_own = render_and_track(portrait, codes, 256)
    about_zero = render_and_track(portrait, codes, 256, about_own_pose=False)
    np.testing.assert_allclose(about_own["true"][:, pitch], [own, own + 0.1], atol=1e-5)
    np.testing.assert_allclose(about_zero["true"][:, pitch], [0.0, 0.1], atol=1e-5)
    # the frames show it: the still code leaves the photo's head where it is, the rig's zero lifts the chin
    assert about_own["tracked"][0, pitch] == pytest.approx(own, abs=0.02)
    assert about_zero["tracked"][0, pitch] < own - 0.1


def test_held_out_portrait_reads_jaw_and_head_at_the_rendered_size(held_out_round_trip):
    (true_raw, raw), (true, cal) = held_out_round_trip
    before, after = channel_agreement(true_raw, raw), channel_agreement(true, cal)
    assert before["jawOpen"]["slope"] < 0.8, "the uncalibrated tracker reads the jaw small"
    for name in ("jawOpen", "headYaw", "headPitch", "headRoll"):
        assert 0.8 <= after[name]["slope"] <= 1.25, (name, after[name])
    assert after["jawOpen"]["r"] >= 0.8 and after["headYaw"]["r"] >= 0.95


def test_csv_blinks_close_the_eyes_even_when_it_starts_with_closed_eyes():
    """A CSV's first frame is not what the portrait shows: the portrait's own code is (its eyes are open)."""
    portrait = np.ascontiguousarray(skimage.data.astronaut()[0:320, 80:400])
    blink = np.clip(np.sin(np.linspace(0, 4 * np.pi, 60)) * 1.5, 0, 1)
    blink[:4] = 1.0  # the take starts with closed eyes
    codes = np.zeros((60, motion.MOTION_DIM), np.float32)
    codes[:, motion.CHANNEL["eyeBlinkLeft"]] = codes[:, motion.CHANNEL["eyeBlinkRight"]] = blink
    frames = pipeline.render_frames(portrait, codes, base_codes=pipeline.rest_codes(portrait), resolution=320)
    read = track_frames(frames, smooth=False).codes
    seen = read[:, [motion.CHANNEL["eyeBlinkLeft"], motion.CHANNEL["eyeBlinkRight"]]].mean(1)
    r = np.corrcoef(blink, seen)[0, 1]
    assert r > 0.8, f"tracked blink follows the CSV's blink with r = {r:.2f}"
    assert seen[blink > 0.9].mean() > seen[blink < 0.1].mean() + 0.3


def test_calibration_round_trips_are_cached_and_come_back_whole(tmp_path, monkeypatch):
    """The table can be rebuilt after a reader retrain without rendering again: the cached round trips come
    back as they went in, and the file is used, not rebuilt, on the second call."""
    from omnitalker_core.face import calibration as cal

    rng = np.random.default_rng(0)
    runs = {
        "astronaut/320": {"true": rng.random((5, 61)), "raw": rng.random((5, 61)), "held_out": False, "tracked": 5, "frames": 6},
        "hopper/448": {"true": rng.random((4, 61)), "raw": rng.random((4, 61)), "held_out": True, "tracked": 4,
                       "frames": 6, "crops": rng.integers(0, 255, (4, 8, 8, 3), dtype=np.uint8)},
    }  # fmt: skip
    calls = []
    monkeypatch.setattr(
        cal, "collect", lambda frames, seed, held_out_frames: calls.append((frames, seed, held_out_frames)) or runs
    )
    first = cal.cached_collect(tmp_path, 6, 3)
    again = cal.cached_collect(tmp_path, 6, 3, held_out_frames=6)  # held-out portraits as long as the rest: the same
    assert calls == [(6, 3, None)]
    assert first is runs and again.keys() == runs.keys()
    for k, run in runs.items():
        assert again[k].keys() == run.keys()
        for part, v in run.items():
            np.testing.assert_array_equal(again[k][part], v)
            assert type(again[k][part]) is type(v) or isinstance(v, np.ndarray), (k, part)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    cal.cached_collect(tmp_path, 7, 3)  # other frames: other renders, another file
    cal.cached_collect(tmp_path, 6, 3, held_out_frames=20)  # ... and so for longer held-out runs
    assert calls == [(6, 3, None), (7, 3, None), (6, 3, 20)]
    assert len(list(tmp_path.glob("*.npz"))) == 3


def test_a_longer_held_out_run_starts_with_the_codes_of_a_shorter_one():
    """The table's held-out portraits get more frames than the fitting ones (`HELD_OUT_FRAMES`): their first
    frames are the codes a run of the fitting length draws, so the longer sample extends the shorter."""
    from omnitalker_core.face.calibration import random_codes

    short = random_codes(np.random.default_rng([0, 5, 1]), 100)
    long = random_codes(np.random.default_rng([0, 5, 1]), 400)
    np.testing.assert_array_equal(long[:100], short)
    assert not np.allclose(long[100:200], long[:100])
