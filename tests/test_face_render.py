"""Geometric renderer and tracker on a real photograph (skimage's astronaut): render known codes,
save a contact sheet, check that the face does what the codes say and that the tracker reads the
codes back from the rendered video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from omnitalker_core import motion
from omnitalker_core.face import canonical as C
from omnitalker_core.face import eyeballs
from omnitalker_core.face.landmarks import FaceLandmarker
from omnitalker_core.face.render_geometric import GeometricRenderer
from omnitalker_core.face.tracker import track_frames

OUT = Path(__file__).resolve().parents[1] / "test-output"
CH = motion.CHANNEL
SIZE = 256


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    # the astronaut's head and shoulders, square, at the test resolution
    return cv2.resize(skimage.data.astronaut()[0:400, 60:460], (SIZE, SIZE), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def renderer(portrait) -> GeometricRenderer:
    return GeometricRenderer(portrait)


def code(**channels: float) -> np.ndarray:
    c = np.zeros(motion.MOTION_DIM, np.float32)
    for k, v in channels.items():
        c[CH[k]] = v
    return c


def box(points: np.ndarray, pad: float) -> tuple[slice, slice]:
    x0, y0 = points.min(0) - pad
    x1, y1 = points.max(0) + pad
    return slice(int(y0), int(y1) + 1), slice(int(x0), int(x1) + 1)


def test_contact_sheet_and_visible_effects(renderer, portrait):
    shots = {
        "rest": code(),
        "jawOpen": code(jawOpen=0.8),
        "blink": code(eyeBlinkLeft=1, eyeBlinkRight=1),
        "yaw": code(headYaw=0.35),
        "pitch+smile": code(headPitch=0.2, mouthSmileLeft=1, mouthSmileRight=1),
        "gaze+pucker": code(mouthPucker=1, leftEyeYaw=0.4, rightEyeYaw=0.4),
    }
    frames = renderer.render(np.stack(list(shots.values())))
    OUT.mkdir(exist_ok=True)
    sheet = np.concatenate(list(frames), 1)
    Image.fromarray(sheet).save(OUT / "face_contact_sheet.png")
    rest, jaw, blink, yaw = frames[0], frames[1], frames[2], frames[3]
    assert np.array_equal(rest, portrait), "zero codes must reproduce the portrait exactly (no jitter at rest)"
    lm = renderer.landmarks[:, :2]
    diff = np.abs(jaw.astype(int) - rest).sum(-1)
    mouth = box(lm[list(C.UPPER_LIP_OUTER + C.LOWER_LIP_OUTER)], 4)
    forehead = box(lm[[10, 109, 338]], 6)
    assert diff[mouth].mean() > 40, f"jawOpen must change the mouth region, mean |diff| {diff[mouth].mean():.1f}"
    assert diff[forehead].mean() < 2, "jawOpen must leave the forehead alone"
    # the opened mouth is darker inside (cavity), around the lips' centre
    cy, cx = lm[[13, 14]].mean(0)[::-1].astype(int) + np.array([int(0.08 * renderer.s0), 0])
    assert jaw[cy - 2 : cy + 3, cx - 3 : cx + 4].mean() < rest[cy - 2 : cy + 3, cx - 3 : cx + 4].mean()
    for upper, lower in ((C.RIGHT_EYE_UPPER, C.RIGHT_EYE_LOWER), (C.LEFT_EYE_UPPER, C.LEFT_EYE_LOWER)):
        eye = box(lm[list(upper + lower)], 1)
        d = np.abs(blink.astype(int) - rest).sum(-1)[eye].mean()
        assert d > 15, f"blink must change the eye region, mean |diff| {d:.1f}"
    # yaw: the detected nose tip moves sideways in the rendered image
    det = FaceLandmarker()
    n_rest = det(rest)[1, 0]
    det.reset()
    n_yaw = det(np.ascontiguousarray(yaw))[1, 0]
    assert n_rest - n_yaw > 0.1 * renderer.s0, f"yaw > 0 turns the nose towards image left: {n_rest:.1f} -> {n_yaw:.1f}"


def test_render_iter_chunks_and_torch_path_agree(renderer):
    codes = np.stack([code(jawOpen=v, headYaw=0.2 * v) for v in np.linspace(0, 0.8, 5)])
    chunks = list(renderer.render_iter(codes, batch=2))
    assert [len(c) for c in chunks] == [2, 2, 1] and chunks[0].dtype == np.uint8
    full = np.concatenate(chunks)
    t = renderer.render_tensor(codes).permute(0, 2, 3, 1).numpy() * 255
    # compared locally, so a defect in one part of the face is not averaged away over the frame: measured
    # per pixel at most 1.7 grey levels, 8x8-patch means at most 0.33 (interpolation rounding only)
    err = np.abs(t - full)
    patches = err.mean(-1).reshape(len(err), SIZE // 8, 8, SIZE // 8, 8).mean((2, 4))
    assert patches.max() < 1.5, f"CPU (OpenCV) and torch paths differ by {patches.max():.1f} in an 8x8 patch"
    assert err.max() < 6.0, f"CPU (OpenCV) and torch paths differ by {err.max():.1f} grey levels in a pixel"
    with pytest.raises(ValueError, match="codes must be"):
        renderer.render(np.zeros((3, 60)))


@pytest.fixture(scope="module")
def native() -> GeometricRenderer:
    """The astronaut's head at native resolution (inter-ocular ~42 px): small enough to be fast,
    large enough for the landmark model to see lids and lips."""
    return GeometricRenderer(np.ascontiguousarray(skimage.data.astronaut()[10:266, 110:366]))


def _motion(n: int) -> dict[str, np.ndarray]:
    t = np.arange(n) / 25
    return {
        "jawOpen": 0.35 * (1 + np.sin(2 * np.pi * 1.3 * t)),
        "eyeBlink": np.clip(1 - np.abs(t[:, None] - np.array([0.5, 1.4])) / 0.12, 0, 1).max(1),
        "headYaw": 0.25 * np.sin(2 * np.pi * 0.5 * t),
        "headPitch": 0.15 * np.sin(2 * np.pi * 0.7 * t + 1),
    }


def _track_corr(renderer: GeometricRenderer, channels: dict[str, np.ndarray]) -> dict[str, float]:
    n = len(next(iter(channels.values())))
    codes = np.zeros((n, motion.MOTION_DIM), np.float32)
    for k, v in channels.items():
        for ch in ("eyeBlinkLeft", "eyeBlinkRight") if k == "eyeBlink" else (k,):
            codes[:, CH[ch]] = v
    res = track_frames(renderer.render(codes), 25.0, smooth=False)
    assert res.found.all() and res.codes.shape == (n, 61)
    out = {}
    for k, v in channels.items():
        got = (
            (res.codes[:, CH["eyeBlinkLeft"]] + res.codes[:, CH["eyeBlinkRight"]]) / 2
            if k == "eyeBlink"
            else res.codes[:, CH[k]]
        )
        out[k] = float(np.corrcoef(got, v)[0, 1])
    return out


def test_tracker_recovers_pose_and_jaw_from_rendered_video(native):
    m = _motion(50)
    pose = _track_corr(native, {"jawOpen": m["jawOpen"], "headYaw": m["headYaw"], "headPitch": m["headPitch"]})
    assert pose["headYaw"] >= 0.9 and pose["headPitch"] >= 0.9, pose
    jaw = _track_corr(native, {"jawOpen": m["jawOpen"]})
    assert jaw["jawOpen"] >= 0.9, jaw


def test_tracker_sees_rendered_blinks(native):
    # measured 0.99 (was 0.78 before the painted lid + the eye model's lid contours)
    blink = _track_corr(native, {"eyeBlink": _motion(50)["eyeBlink"]})
    assert blink["eyeBlink"] >= 0.9, blink


# Jaw, blinks and head yaw/pitch all moving together (issue 4, item 6): each channel read back with a correlation
# above its own floor. Measured on this clip: jawOpen 0.90-0.93, eyeBlink 0.92-0.93, headYaw 0.99, headPitch 0.96-0.97
# (renderer/tracker versions of this issue). Over 12-20 other clips (random phases and rates of the same motions,
# random blink times; 50 and 100 frames): jawOpen 0.88-0.96 (mean 0.92-0.93, sd 0.02-0.03), eyeBlink 0.91-0.96
# (0.935, sd 0.013), headYaw 0.986-0.998 (0.992, sd 0.003), headPitch 0.94-0.99 (0.97, sd 0.01). A single 0.9 floor
# sat within 1-2 sd of the jaw and blink means; each floor is now the mean less 2.5-3 sd, and far above what a
# broken reading gives (jawOpen 0.41 before the open mouth lost its lower-teeth band, 0.64-0.80 in a broken
# intermediate version of the mouth painter).
MIXED_CLIP_FLOORS = {"jawOpen": 0.85, "eyeBlink": 0.89, "headYaw": 0.98, "headPitch": 0.93}


def test_tracker_recovers_everything_from_one_mixed_clip(native):
    corr = _track_corr(native, _motion(50))
    low = {k: round(v, 3) for k, v in corr.items() if v < MIXED_CLIP_FLOORS[k]}
    assert not low, f"read back below the floor {MIXED_CLIP_FLOORS}: {low} (all: {corr})"


def _best_lag(x: np.ndarray, y: np.ndarray, most: int = 5) -> int:
    """The shift (frames) of y behind x with the highest correlation."""
    n = len(x)
    return max(
        range(-most, most + 1),
        key=lambda k: np.corrcoef(x[max(0, -k) : n - max(0, k)], y[max(0, k) : n - max(0, -k)])[0, 1],
    )


def test_smoothed_tracking_keeps_a_head_turn_in_step_with_the_clip(native):
    """A reference's motion is conditioned together with its own audio, and `prepare` pairs it with the
    mel: the tracker's smoothing must not delay it. The causal One-Euro filter it used put a slow head
    turn 3 frames (120 ms) late; the raw read is in step."""
    yaw = _motion(75)["headYaw"]
    codes = np.zeros((75, motion.MOTION_DIM), np.float32)
    codes[:, CH["headYaw"]] = yaw
    video = native.render(codes)
    smoothed = track_frames(video, 25.0).codes[:, CH["headYaw"]]
    raw = track_frames(video, 25.0, smooth=False).codes[:, CH["headYaw"]]
    assert _best_lag(yaw, raw) == 0
    assert _best_lag(yaw, smoothed) == 0, f"smoothed yaw {_best_lag(yaw, smoothed)} frames late"
    assert np.abs(np.diff(smoothed, 2)).mean() < np.abs(np.diff(raw, 2)).mean(), "smoothing must still smooth"


def test_smoothed_tracking_keeps_a_speaking_jaw_s_size_and_steadies_a_still_face(native):
    """Capture Style, `prepare` and `track` all smooth what they read. A syllable every 120 ms must come through at
    its size: the filter at 1.5 Hz and beta 0.3 kept 0.6 of it, so a speaking reference and the training corpus
    read a smaller jaw than the rig draws. A still face with sensor noise must still come out steadier."""
    rng = np.random.default_rng(0)
    still, speaking = 25, 75
    jaw = np.interp(np.arange(speaking), np.arange(0, speaking + 3, 3), rng.uniform(0, 0.7, speaking // 3 + 1))
    codes = np.zeros((still + speaking, motion.MOTION_DIM), np.float32)
    codes[still:, CH["jawOpen"]] = jaw
    frames = native.render(codes).astype(np.float32)
    video = np.clip(frames + rng.normal(0, 3, frames.shape), 0, 255).astype(np.uint8)
    smoothed, raw = track_frames(video, 25.0).codes, track_frames(video, 25.0, smooth=False).codes

    def slope(read: np.ndarray) -> float:
        return float(np.polyfit(jaw, read[still:, CH["jawOpen"]], 1)[0])

    r = np.corrcoef(jaw, raw[still:, CH["jawOpen"]])[0, 1]
    assert r > 0.8, f"the unsmoothed read must follow the jaw (r {r:.2f})"
    kept = slope(smoothed) / slope(raw)  # measured 0.86-0.93 over 6 seeds of the jaw and noise; 0.44-0.60 before
    assert kept > 0.8, f"the smoothing kept {kept:.2f} of the speaking jaw's size"
    settled = slice(0, still - 5)  # the zero-phase filter reaches a few frames back from where speech starts
    steady = np.abs(np.diff(smoothed[settled, : motion.POSE.stop], axis=0)).mean()
    jitter = np.abs(np.diff(raw[settled, : motion.POSE.stop], axis=0)).mean()
    assert steady < 0.6 * jitter, f"still face: frame-to-frame change {steady:.4f} smoothed, {jitter:.4f} unsmoothed"


def test_no_face_and_ambiguous_faces(portrait):
    blank = np.full((4, 128, 128, 3), 90, np.uint8)
    with pytest.raises(ValueError, match="no face found in the reference video"):
        track_frames(blank)
    two = np.concatenate([portrait, portrait], 1)  # two equally large faces side by side
    with pytest.raises(ValueError, match="several faces"):
        track_frames(two[None])
    with pytest.raises(ValueError, match="no face found in the portrait"):
        GeometricRenderer(blank[0])


def test_missing_frames_are_interpolated(renderer, portrait):
    codes = np.stack([code(headYaw=v) for v in np.linspace(0, 0.3, 6)])
    video = renderer.render(codes)
    video[2] = 0  # a dropped frame
    res = track_frames(video, smooth=False)
    assert not res.found[2] and res.found.sum() == 5
    yaw = res.codes[:, CH["headYaw"]]
    assert min(yaw[1], yaw[3]) - 1e-3 <= yaw[2] <= max(yaw[1], yaw[3]) + 1e-3


def test_a_read_only_portrait_renders_without_warnings_and_stays_untouched(portrait):
    """A decoded image is often read-only (np.asarray of a PIL image): the renderer works on its own copy."""
    import warnings

    frozen = portrait.copy()
    frozen.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frames = GeometricRenderer(frozen, size=(256, 256)).render(code(jawOpen=0.6)[None])
    np.testing.assert_array_equal(frozen, portrait)
    assert frames.shape == (1, 256, 256, 3)


def test_a_portrait_enlarged_to_the_output_size_is_smooth_not_blocks():
    """Workflow (a) renders its 256 px reference at 512. The portrait was enlarged with area averaging, which grows
    an image as nearest neighbour does: every 2x2 block one colour, stair-stepped edges along the jaw and the hair
    (render revision 17: 100% of the blocks one colour; 17% at 18, the flat background). Shrinking still averages
    over each pixel's area."""
    from omnitalker_core.checkpoints import REFERENCE_CLIP
    from omnitalker_core.video import read_video

    small = read_video(REFERENCE_CLIP, max_frames=1)[0][0]
    assert small.shape[:2] == (256, 256)
    big = GeometricRenderer(small, size=(512, 512)).render(code()[None])[0].astype(int)  # rest: the enlarged portrait
    blocks = big.reshape(256, 2, 256, 2, 3)
    flat = (blocks.max((1, 3)) - blocks.min((1, 3))).max(-1) == 0
    assert flat.mean() < 0.3, f"{flat.mean():.0%} of the 2x2 blocks are one colour"
    # still the same picture: halved again it is the portrait, up to the interpolation
    halved = cv2.resize(big.astype(np.uint8), (256, 256), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(halved - small).mean() < 2.0
    shrunk = GeometricRenderer(big.astype(np.uint8), size=(256, 256)).render(code()[None])[0]
    np.testing.assert_array_equal(shrunk, cv2.resize(big.astype(np.uint8), (256, 256), interpolation=cv2.INTER_AREA))


@pytest.mark.parametrize("name", ["hopper", "obama2"])
def test_a_closed_lid_is_skin_even_under_glasses_or_a_low_brow(name):
    """The lid painted over a blink takes the face's skin colour. Sampled from the band above the eye alone,
    it took Grace Hopper's dark glasses rim and Obama's brow: a dark patch where the eye should be shut, which
    reads as an open eye to a person and to the tracker."""
    from omnitalker_core.face.calibration import face_photo

    photo = face_photo(name)
    r = GeometricRenderer(photo)
    closed = r.render(code(eyeBlinkLeft=1.0, eyeBlinkRight=1.0)[None])[0]
    luma = lambda img: img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)  # noqa: E731
    cheeks = [luma(photo)[int(y) - 4 : int(y) + 5, int(x) - 4 : int(x) + 5] for x, y in r.landmarks[[50, 280], :2]]
    skin = np.median(np.concatenate([c.ravel() for c in cheeks]))
    for upper, lower in ((C.RIGHT_EYE_UPPER, C.RIGHT_EYE_LOWER), (C.LEFT_EYE_UPPER, C.LEFT_EYE_LOWER)):
        contour = np.concatenate([r.landmarks[list(upper), :2], r.landmarks[list(lower)[::-1], :2]])
        mask = np.zeros(photo.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(contour).astype(np.int32)], 1)
        mask = cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(bool)
        assert mask.sum() > 20
        eye_open, eye_shut = np.median(luma(photo)[mask]), np.median(luma(closed)[mask])
        assert eye_shut > 0.7 * skin, (name, eye_shut, skin)
        assert eye_shut > eye_open + 10, (name, eye_open, eye_shut)  # the dark iris and lashes are covered


@pytest.mark.parametrize("name", ["biden", "obama"])
def test_gaze_moves_the_iris_inside_the_eye_and_smears_nothing_onto_the_lids(name):
    """Gaze of ±0.3 rad: each iris (its dark pixels inside the opening) moves the way the rig moves it, and the
    skin around the eye keeps its colour. Drawn by dragging the mesh's iris points, such gazes folded the
    triangles between iris and lids and smeared black blobs over Biden's and Obama's lids."""
    from omnitalker_core.face.calibration import face_photo

    photo = face_photo(name)
    r = GeometricRenderer(photo)
    luma = lambda img: img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)  # noqa: E731
    gazes = {"yaw": code(leftEyeYaw=0.3, rightEyeYaw=0.3), "pitch": code(leftEyePitch=0.3, rightEyePitch=0.3)}
    frames = r.render(np.stack([code(), *gazes.values()]))
    codes = np.stack([code(), *gazes.values()])
    shifts = r.eyes.shifts(codes, r.base, r.control_points(codes))  # f 2 2, what the rig asks for
    for upper, lower in ((C.RIGHT_EYE_UPPER, C.RIGHT_EYE_LOWER), (C.LEFT_EYE_UPPER, C.LEFT_EYE_LOWER)):
        contour = np.concatenate([r.landmarks[list(upper), :2], r.landmarks[list(lower)[::-1], :2]])
        opening = np.zeros(photo.shape[:2], np.uint8)
        cv2.fillPoly(opening, [np.round(contour).astype(np.int32)], 1)
        around = cv2.dilate(opening, np.ones((int(0.15 * r.s0) | 1,) * 2, np.uint8)) - cv2.dilate(
            opening, np.ones((3, 3), np.uint8)
        )
        opening, around = opening.astype(bool), around.astype(bool)
        ys, xs = np.nonzero(opening)
        rest = luma(frames[0])
        dark = rest[opening] < np.quantile(rest[opening], 0.3)
        centre0 = np.array([xs[dark].mean(), ys[dark].mean()])
        for k, axis in ((1, 0), (2, 1)):
            img = luma(frames[k])
            dark = img[opening] < np.quantile(rest[opening], 0.3)
            moved = np.array([xs[dark].mean(), ys[dark].mean()]) - centre0
            want = shifts[k, 0 if upper is C.RIGHT_EYE_UPPER else 1, axis]
            assert abs(want) > 0.5 and np.sign(moved[axis]) == np.sign(want), (name, axis, moved, want)
            assert abs(img[around].mean() - rest[around].mean()) < 1.0, (name, axis)  # no iris smeared onto skin


def test_both_eyes_turn_alike_on_a_turned_face():
    """The gaze turns each iris about its eyeball. The landmark model put the speaking Obama's left iris at his
    eyeball's centre (0.003 inter-ocular units in front of it) and his right one 0.445 in front: at a gaze of
    0.3 rad his right iris moved 0.10 units and his left one 0.01 the wrong way, as if he squinted. Both now sit
    at the face's mean depth (`FittedFace.iris_depth`), and zero gaze still leaves the portrait exact."""
    from omnitalker_core.face.calibration import face_photo

    photo = face_photo("obama2")
    r = GeometricRenderer(photo)
    codes = np.stack([code(leftEyeYaw=0.3, rightEyeYaw=0.3), code(leftEyePitch=0.2, rightEyePitch=0.2)])
    s = r.eyes.shifts(codes, r.base, r.control_points(codes)) / r.s0  # f eye xy, inter-ocular units
    for k, axis in ((0, 0), (1, 1)):
        right, left = s[k, 0, axis], s[k, 1, axis]
        assert np.sign(right) == np.sign(left) and min(abs(right), abs(left)) > 0.6 * max(abs(right), abs(left)), s[k]
    assert np.array_equal(r.render(code()[None])[0], photo)


@pytest.mark.parametrize(("name", "blink"), [("obama2", 0.0), ("obama2", 0.5), ("hopper", 0.0), ("hopper", 0.3)])
def test_a_further_gaze_up_or_down_moves_the_iris_further_in_a_narrowed_eye(name, blink):
    """The iris's shift is bounded by a share of the eye's opening, so a narrow or half-shut eye still shows its
    iris. Cut off at 0.3 of the opening, every pitch past 0.1-0.2 rad looked alike (the speaking Obama's at blink
    0.5 past 0.1; the random codes' pitch reaches 0.27): the reader could not tell how far such an eye looked up
    or down. Bounded smoothly, each 0.05 rad further moves the iris further, and never past the opening's half."""
    from omnitalker_core.face.calibration import face_photo

    r = GeometricRenderer(face_photo(name))
    pitches = np.linspace(-0.3, 0.3, 13)
    codes = np.stack([code(eyeBlinkLeft=blink, eyeBlinkRight=blink, leftEyePitch=p, rightEyePitch=p) for p in pitches])
    dst = r.control_points(codes)
    dy = r.eyes.shifts(codes, r.base, dst)[..., 1]  # f eye
    assert (np.diff(dy, axis=0) > 0.04).all(), dy.T.round(2)
    for e, (upper, lower) in enumerate(eyeballs.EYES):  # right eye, left eye, as shifts orders them
        height = dst[:, list(lower), 1].max(1) - dst[:, list(upper), 1].min(1)  # at least the height at the iris
        assert (np.abs(dy[:, e]) < 0.5 * height).all(), (dy[:, e].round(2), height.round(2))


def test_tracked_lids_follow_the_tracked_gaze(native):
    """The tracker's eyeLook* are look_from_gaze of the gaze it outputs, from the clip's rest. It set them from
    the rig fit's gaze and then let the calibration and the pixel read-out replace the gaze: on tracked
    references eyeLook* ran against the final gaze (r -0.13 over 8 rendered corpus references)."""
    t = np.arange(60) / 25
    codes = np.zeros((60, motion.MOTION_DIM), np.float32)
    codes[:, motion.GAZE] = np.stack([0.25 * np.sin(2 * np.pi * 0.6 * t), 0.2 * np.cos(2 * np.pi * 0.4 * t)] * 2, 1)
    codes[:, list(motion.EYE_LOOK)] = motion.look_from_gaze(codes[:, motion.GAZE])
    out = track_frames(native.render(codes), 25.0).codes
    implied = torch.from_numpy(motion.lids_follow_gaze(out))  # measured from the clip's rest, as every blendshape
    want = motion.from_rest(implied, channels=list(motion.EYE_LOOK))[:, list(motion.EYE_LOOK)].numpy()
    np.testing.assert_allclose(out[:, list(motion.EYE_LOOK)], want, atol=1e-6)
    for name in ("eyeLookDownLeft", "eyeLookUpRight", "eyeLookInLeft", "eyeLookOutRight"):
        r = np.corrcoef(codes[:, CH[name]], out[:, CH[name]])[0, 1]
        assert r > 0.7, (name, r)
