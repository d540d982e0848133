"""Tracker <-> rig calibration: one motion space for the renderer, the tracker and every code file.

The renderer defines what a code looks like; the tracker has to read the same number back. It reads
landmarks of a face model that under-responds to expressions (a closed eye's lid landmarks do not
meet, an open jaw's lip points lag), so a face rendered with jawOpen 0.6 read back as ~0.4 and a full
blink as ~0.25. Here the two are measured against each other: smooth random codes are rendered onto
several portraits (sizes, crops, colour) with the geometric renderer, tracked back, and each channel's
read-out gets a gain (and, for blendshapes, an offset) so it comes back at the size it was rendered
(`fit_calibration`). The tracker measures blendshapes from the clip's resting face (a person whose
smiling eyes read as a third closed has eyeBlink 0 at rest), pose and gaze from straight ahead.
A channel whose raw read-out hardly follows the rendered value (r < MIN_R) is left as it is:
amplifying it would only amplify noise. Held-out portraits report how well this generalises
(`channel_agreement`; how sure each key cell is, `target_chance`); docs/MOTION_SPACE.md has the table for all 61
channels.

The map ships as `assets/calibration.npz` and the tracker applies it to every clip and portrait.
Rebuild it (and the docs table) with `python -m omnitalker_core.face.calibration` (~6 min on 2 cores).

f - frames, c - channels (61)
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import motion

log = logging.getLogger(__name__)

CALIBRATION_PATH = Path(__file__).resolve().parent / "assets" / "calibration.npz"
CALIBRATION_VERSION = 1

# Channels the targets name; the docs table lists all 61.
KEY_CHANNELS = (
    "jawOpen", "eyeBlinkLeft", "eyeBlinkRight", "mouthSmileLeft", "mouthSmileRight", "mouthFunnel",
    "mouthPucker", "mouthClose", "browInnerUp", "browDownLeft", "browDownRight", "headPitch", "headYaw",
    "headRoll", "leftEyeYaw", "leftEyePitch", "rightEyeYaw", "rightEyePitch",
)  # fmt: skip


def meets_target(agreement: dict) -> bool:
    """Issue 11's target for a key channel's `channel_agreement`: read at 0.8-1.25 of its size, r at least 0.9."""
    return bool(_met(agreement["slope"], agreement["r"]))


def _met(slope, r):  # elementwise on arrays too; NaN (a channel that never moves) fails
    return (slope >= 0.8) & (slope <= 1.25) & (r >= 0.9)


# How random codes are drawn: a few shapes active at a time (ARKit takes are sparse), each up to a
# channel-group maximum; head pose and gaze within what a frontal portrait renders well (radians).
ACTIVE_SHAPES = (1, 4)
POSE_RANGE = {"headPitch": 0.2, "headYaw": 0.3, "headRoll": 0.15}
GAZE_RANGE = 0.3
FREQUENT = {"jawOpen": 0.5, "eyeBlinkLeft": 0.15, "eyeBlinkRight": 0.15}
KEYFRAME_EVERY = 6  # frames at 25 fps between random keyframes (smooth, speech-like motion)
# eyeLook* are not drawn at random: they follow the gaze, as in every code the tracker, the corpus and ARKit
# write; jaw/mouth left-right pairs, cheekPuff etc. are drawn as well.
DRAWN_SHAPES = tuple(i for i in range(motion.NUM_BLENDSHAPES) if i not in motion.EYE_LOOK)
# Names the renders made from `random_codes` (cached round trips, the reader's training renders) with
# RENDER_REVISION. 2: eyeLook* follow the gaze (at 1 they stayed 0, so the lids never moved with the eyes). 3: the
# round trips move the head about the portrait's own pose (`render_and_track`'s about_own_pose), not the rig's zero.
CODES_REVISION = 3


@dataclass(frozen=True)
class Calibration:
    """codes = raw @ weight + bias, then blendshapes clipped to 0..1."""

    weight: np.ndarray  # c c
    bias: np.ndarray  # c

    def apply(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, np.float64)
        out = raw @ self.weight + self.bias
        out[..., motion.BLENDSHAPES] = np.clip(out[..., motion.BLENDSHAPES], 0.0, 1.0)
        return out.astype(np.float32)

    def save(self, path: Path, info: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path, weight=self.weight.astype(np.float32), bias=self.bias.astype(np.float32),
            version=np.array(CALIBRATION_VERSION), info=np.array(json.dumps(info)),
        )  # fmt: skip

    @classmethod
    def load(cls, path: Path = CALIBRATION_PATH) -> Calibration:
        path = Path(path)
        return _load(path, path.stat().st_mtime_ns if path.is_file() else 0)

    @classmethod
    def read(cls, path: Path) -> Calibration:
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing; rebuild it with `python -m omnitalker_core.face.calibration` (or reinstall the pack)"
            )
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != CALIBRATION_VERSION:
                raise ValueError(
                    f"{path.name}: calibration version {int(z['version'])}, expected {CALIBRATION_VERSION}"
                )
            return cls(z["weight"].astype(np.float64), z["bias"].astype(np.float64))


@lru_cache(maxsize=2)
def _load(path: Path, mtime: int) -> Calibration:  # cached per file version: tracking calls it per clip
    return Calibration.read(path)


def random_codes(rng: np.random.Generator, frames: int, balanced: bool = False) -> np.ndarray:
    """Smooth random codes [f, 61]: sparse blendshape keyframes, head pose and gaze, linearly joined; the
    eyeLook* lids follow the gaze.

    balanced: every drawn shape is active in as many keyframes as every other (to one), at amplitudes spread
    over 0-1 in quarters, where chance would leave a short draw thin on some: a check set that sizes each
    channel's read (`adaptation.adaptation_codes`) must move it as the long run of draws does. The read of a
    brow is nearly flat below 0.1 (it shows little there), so a linear size fitted where a brow was drawn mostly
    small comes out too small (the right brow in 2,000 check frames: 6 above 0.5 where 4,000 table frames have
    107)."""
    keys = np.arange(0, frames + KEYFRAME_EVERY, KEYFRAME_EVERY)
    kf = np.zeros((len(keys), motion.MOTION_DIM))
    deck: list[int] = []  # balanced: the shapes still to deal before every shape has been dealt again
    quarters: dict[int, list[int]] = {}  # ... and per channel, the quarters of 0-1 its next amplitudes come from

    def amplitude(channel: int) -> float:
        if not balanced:
            return rng.uniform(0.0, 1.0)
        left = quarters.setdefault(channel, [])
        if not left:
            left.extend(rng.permutation(4).tolist())
        return (left.pop() + rng.random()) / 4

    for row in kf:
        if balanced:
            n = int(rng.integers(*ACTIVE_SHAPES, endpoint=True))
            if len(deck) < n:
                deck[:0] = rng.permutation(DRAWN_SHAPES).tolist()
            active: list[int] = []
            while len(active) < n:
                shape = deck.pop()
                if shape in active:  # dealt twice across two decks: back under the deck, for the next keyframes
                    deck.insert(0, shape)
                else:
                    active.append(shape)
            row[active] = [amplitude(c) for c in active]
        else:
            active = rng.choice(DRAWN_SHAPES, size=rng.integers(*ACTIVE_SHAPES, endpoint=True), replace=False)
            row[active] = rng.uniform(0.0, 1.0, len(active))
        for name, p in FREQUENT.items():  # speech moves these far more often than the rest
            if rng.random() < p:
                row[motion.CHANNEL[name]] = amplitude(motion.CHANNEL[name])
        for name, limit in POSE_RANGE.items():
            row[motion.CHANNEL[name]] = rng.uniform(-limit, limit)
        gy, gp = rng.uniform(-GAZE_RANGE, GAZE_RANGE, 2)
        row[motion.GAZE] = [gy, gp, gy, gp]  # both eyes look the same way
    t = np.arange(frames)
    codes = np.stack([np.interp(t, keys, kf[:, c]) for c in range(motion.MOTION_DIM)], 1)
    return motion.lids_follow_gaze(codes).astype(np.float32)


def round_trip(
    portrait: np.ndarray, codes: np.ndarray, size: int = 384, calibrated: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Render codes onto the portrait (relative to what the tracker reads from the portrait itself) and
    track the frames back -> (rendered codes, tracked codes), both [f, 61], on frames where a face was found."""
    run = render_and_track(portrait, codes, size, calibrated=calibrated)
    return run["true"], run["tracked"]


def render_and_track(
    portrait: np.ndarray,
    codes: np.ndarray,
    size: int = 384,
    calibrated: bool = False,
    crops=None,
    appearance: bool = True,
    callback: Callable[[int, int], None] | None = None,
    about_own_pose: bool = True,
) -> dict[str, np.ndarray]:
    """One round trip: {"true": the codes as drawn (`GeometricRenderer.drawn_codes`), "tracked": what the
    tracker reads (the raw rig fit unless calibrated), "index": which of the codes these are, and with crops (an
    `appearance.AppearanceConfig`) "crops": aligned face crops}, on frames with a face. appearance=False: a
    calibrated read without the pixel read-out (its training data).
    about_own_pose: the codes' head rotation is added to the portrait's own, as a person's head moves about where
    they hold it (a photo here rests at a pitch of -0.18 to +0.27 rad); False draws it about the rig's zero.
    callback(done, 2 * frames) after each frame rendered, then each frame tracked (it may raise to stop)."""
    from ..pipeline import render_size
    from .render_geometric import GeometricRenderer
    from .tracker import track_frames

    w, h = render_size(portrait.shape[:2], size)
    portrait = np.ascontiguousarray(portrait)
    base = portrait_code(portrait, size=(w, h), calibrated=calibrated, appearance=appearance)
    if about_own_pose:
        codes = np.array(codes, np.float32)
        codes[:, motion.ROTATION] += base[motion.ROTATION]
    renderer, chunks, n = GeometricRenderer(portrait, size=(w, h), base_codes=base), [], len(codes)
    for chunk in renderer.render_iter(codes):
        chunks.append(chunk)
        if callback:
            callback(sum(map(len, chunks)), 2 * n)
    frames = np.concatenate(chunks) if chunks else np.zeros((0, h, w, 3), np.uint8)
    res = track_frames(
        frames, smooth=False, calibrated=calibrated, appearance=appearance,
        frame_callback=(lambda i, _: callback(n + i, 2 * n)) if callback else None,
    )  # fmt: skip
    # judged against what the frames show: a code no face can draw (funnel + pucker past one O, closed lips closing
    # further) is drawn as the nearest one it can, and no tracker can read more than that
    true = renderer.drawn_codes(codes).astype(np.float64)
    # translation is relative to the clip's median position in the tracker: compare it the same way
    true[:, motion.TRANSLATION] -= np.median(true[:, motion.TRANSLATION], 0)
    out = {"true": true[res.found], "tracked": res.codes[res.found].copy(), "index": np.flatnonzero(res.found)}
    if crops is not None:
        from .tracker import appearance_crops

        out["crops"] = appearance_crops(frames[res.found], res.landmarks[res.found], crops)
    return out


def portrait_code(
    portrait: np.ndarray, size: tuple[int, int] | None = None, calibrated: bool = True, appearance: bool = True
) -> np.ndarray:
    """What the tracker reads from a portrait on its own [61]: its head pose and gaze; its expression is
    its own resting face (blendshapes 0), as for the first frame of a clip that never moves. Rendering
    this code leaves the portrait unchanged, and a CSV's values are drawn relative to it (a take that
    starts with closed eyes closes the portrait's eyes)."""
    from .tracker import track_frames

    if size is not None and tuple(size) != (portrait.shape[1], portrait.shape[0]):
        from .opencv import resize

        portrait = resize(portrait, size)  # as the renderer resizes it
    code = (
        track_frames(portrait[None], smooth=False, where="the portrait", calibrated=calibrated, appearance=appearance)
        .codes[0]
        .copy()
    )
    code[motion.BLENDSHAPES] = 0.0
    code[motion.TRANSLATION] = 0.0
    return code


def _slope_r(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slope of y on x and Pearson r along the last axis (NaN where x or y does not move)."""
    x, y = x - x.mean(-1, keepdims=True), y - y.mean(-1, keepdims=True)
    sxx, syy, sxy = (x * x).mean(-1), (y * y).mean(-1), (x * y).mean(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return sxy / sxx, sxy / np.sqrt(sxx * syy)


def channel_agreement(true: np.ndarray, est: np.ndarray) -> dict[str, dict[str, float]]:
    """Per channel: slope of est on true (1 = same size), Pearson r, and the spread of true."""
    out = {}
    for c, name in enumerate(motion.CHANNEL_NAMES):
        x, y = true[:, c].astype(np.float64), est[:, c].astype(np.float64)
        sx = x.std()
        if sx < 1e-6:
            out[name] = {"slope": float("nan"), "r": float("nan"), "std": float(sx)}
            continue
        slope, r = _slope_r(x, y)
        out[name] = {"slope": float(slope), "r": float(r) if y.std() > 1e-9 else 0.0, "std": float(sx)}
    return out


MIN_R = 0.5  # a channel is calibrated only when its raw read-out correlates at least this well
# ... and responds at least this much. Gains above 1 / MIN_SLOPE amplify a fragile read: eyeBlink reads at
# 0.14 of its size, and its open-eye value moves by 0.1 between clips, which a gain of 7 turns into closed eyes.
MIN_SLOPE = 0.25
# Gaze is read from straight ahead, not from a resting face, and the iris read-out carries a per-face
# offset (0.07 rad on the bundled clip) that a gain would amplify into a sideways stare: left as read.
GAZE_CHANNELS = frozenset(range(motion.GAZE.start, motion.GAZE.stop))


def fit_calibration(raw: np.ndarray, true: np.ndarray) -> Calibration:
    """Per usable channel, raw ~ slope * true + intercept (least squares) inverted. Blendshapes get the
    offset too (the fit reads a still-open eye as a tenth closed even after rest); pose only the gain:
    its zero is straight ahead on both sides."""
    weight, bias = np.eye(motion.MOTION_DIM), np.zeros(motion.MOTION_DIM)
    for c, stats in enumerate(channel_agreement(true, raw).values()):
        if c in GAZE_CHANNELS:
            continue
        if np.isfinite(stats["slope"]) and stats["r"] >= MIN_R and stats["slope"] > MIN_SLOPE:
            weight[c, c] = 1.0 / stats["slope"]
            if c < motion.NUM_BLENDSHAPES:
                intercept = raw[:, c].mean() - stats["slope"] * true[:, c].mean()
                bias[c] = -intercept / stats["slope"]
    return Calibration(weight, bias)


# -- building the calibration -------------------------------------------------------------------
FACES_DIR = Path(__file__).resolve().parent / "assets" / "faces"
# Public-domain photos of three more people (assets/faces/README.md). Fitting sees Biden and one Obama photo;
# Grace Hopper (a new face: older, a woman, glasses) and two other Obama photos (smiling with teeth, speaking
# with the mouth open) are held out.
FACE_PHOTOS = {"biden": False, "obama3": False, "hopper": True, "obama": True, "obama2": True}


def face_photo(name: str) -> np.ndarray:
    """One of the bundled face photos (`FACE_PHOTOS`) as RGB uint8."""
    from PIL import Image

    with Image.open(FACES_DIR / f"{name}.jpg") as im:
        return np.array(im.convert("RGB"))


def calibration_portraits() -> dict[str, tuple[np.ndarray, bool]]:
    """name -> (RGB portrait, held out). Offline faces only: skimage's astronaut (NASA, public domain)
    in several crops, sizes and colours and two of the bundled photos for fitting; the astronaut mirrored and
    recropped, three other photos and skimage's grayscale `camera` photo (a face turned far to the side),
    held out."""
    import skimage.data

    a = skimage.data.astronaut()
    camera = np.repeat(skimage.data.camera()[..., None], 3, 2)
    warm = np.clip(a.astype(np.float32) * np.array([1.1, 1.0, 0.85]), 0, 255).astype(np.uint8)
    return {
        "astronaut": (a, False),
        "astronaut_crop": (np.ascontiguousarray(a[10:330, 90:350]), False),
        "astronaut_warm": (np.ascontiguousarray(warm[0:400, 40:440]), False),
        **{name: (face_photo(name), held) for name, held in FACE_PHOTOS.items()},
        "astronaut_mirrored_crop": (np.ascontiguousarray(a[:, ::-1][20:300, 140:420]), True),
        "camera": (camera, True),
    }


# random-code frames per held-out portrait and size in the agreement table. At 500 (the fitting runs' count) a
# sparse key channel moves in ~10 keyframes of a portrait's 1,000 frames, and the same adapted reader on other
# 500-frame samples of one face read Hopper's mouthClose anywhere from 0.23 / 0.36 to 1.21 / 0.95
# (docs/MOTION_SPACE.md, "How sure the table is")
HELD_OUT_FRAMES = 2000


def collect(
    frames: int = 500, sizes: tuple[int, ...] = (320, 448), seed: int = 0, held_out_frames: int | None = None
) -> dict[str, dict]:
    """Round trips of random codes: {portrait/size: {"true", "raw", "held_out", and for held-out portraits
    "crops"}} (raw = the uncalibrated rig fit; crops: what the appearance reader sees). Held-out portraits,
    which only judge, get `held_out_frames` (default: frames); a longer run starts with the same codes."""
    from .appearance import load_reader

    out = {}
    for i, (name, (portrait, held)) in enumerate(calibration_portraits().items()):
        for j, size in enumerate(sizes):
            n = held_out_frames if held and held_out_frames else frames
            codes = random_codes(np.random.default_rng([seed, i, j]), n)
            try:
                run = render_and_track(portrait, codes, size, crops=load_reader().cfg if held else None)
            except ValueError as e:  # no face at all at this size
                log.warning("%s at %d px: %s", name, size, e)
                continue
            true, raw = run["true"], run["tracked"]
            out[f"{name}/{size}"] = {"true": true, "raw": raw, "held_out": held, "tracked": len(true), "frames": n}
            if held:
                out[f"{name}/{size}"]["crops"] = run["crops"]
            log.info("%s at %d px: face tracked in %d of %d frames", name, size, len(true), n)
    return out


def cached_collect(cache: Path, frames: int, seed: int, held_out_frames: int | None = None) -> dict[str, dict]:
    """`collect`, kept in `cache` under a name that changes with anything that changes the renders (frames,
    seed, the renderer's and the random codes' revisions, the reader's crop)."""
    from .appearance import load_reader
    from .render_geometric import RENDER_REVISION

    held = f"_h{held_out_frames}" if held_out_frames and held_out_frames != frames else ""
    revisions = f"r{RENDER_REVISION}_k{CODES_REVISION}_{load_reader().cfg.crop_key}"
    name = f"calibration_runs_f{frames}{held}_s{seed}_{revisions}.npz"
    path = cache / name
    if path.is_file():
        with np.load(path) as z:
            runs: dict[str, dict] = {}
            for key in z.files:
                run, part = key.rsplit(":", 1)
                runs.setdefault(run, {})[part] = z[key] if z[key].ndim else z[key].item()
        log.info("round trips from %s", path)
        return runs
    runs = collect(frames, seed=seed, held_out_frames=held_out_frames)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **{f"{run}:{part}": np.asarray(v) for run, r in runs.items() for part, v in r.items()})
    tmp.replace(path)
    return runs


def _stack(runs: dict[str, dict], held: bool, part: str) -> np.ndarray:
    return np.concatenate([r[part] for r in runs.values() if r["held_out"] == held])


def table_columns(
    runs: dict[str, dict], cal: Calibration, detail: str = "astronaut_mirrored_crop", adapted: dict | None = None
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The table's columns as (header, rendered codes, read codes) [f, 61]: the tracker as shipped (calibrated fit +
    appearance read-out) on each held-out portrait, for `detail` also the raw rig fit and the calibrated fit, and
    the reader adapted to a portrait where `adapted` ({portrait: `adaptation.AdaptedReader`}) has one."""
    from .tracker import lids_from_gaze, read_appearance

    adapted = adapted or {}
    held = [k for k, r in runs.items() if r["held_out"]]
    groups = sorted({k.split("/")[0] for k in held}, key=lambda g: (g != detail, g))
    cols = []
    for g in groups:
        keys = [k for k in held if k.startswith(g + "/")]
        true = np.concatenate([runs[k]["true"] for k in keys])
        raw = np.concatenate([runs[k]["raw"] for k in keys])
        fit = [(runs[k]["crops"], cal.apply(runs[k]["raw"])) for k in keys]  # calibrated once, read once or twice
        final = np.concatenate([lids_from_gaze(read_appearance(crops, codes)) for crops, codes in fit])
        if g == detail:
            cols += [(f"{g} raw fit", true, raw), (f"{g} calibrated fit", true, np.concatenate([c for _, c in fit]))]
        cols.append((f"{g} tracker", true, final))
        if g in adapted:
            read = np.concatenate(
                [lids_from_gaze(read_appearance(crops, codes, adapted[g].readers)) for crops, codes in fit]
            )
            cols.append((f"{g} adapted", true, read))
    return cols


def agreement_table(columns: list[tuple[str, np.ndarray, np.ndarray]]) -> str:
    """Markdown table, all 61 channels: slope and r of each of `table_columns`' columns."""
    cols = [(name, channel_agreement(true, est)) for name, true, est in columns]
    head = "| channel | " + " | ".join(f"{name} slope / r" for name, _ in cols) + " |"
    lines = [head, "|---" * (1 + len(cols)) + "|"]

    def cell(s: dict) -> str:
        return "–" if not np.isfinite(s["slope"]) else f"{s['slope']:.2f} / {s['r']:.2f}"

    for name in motion.CHANNEL_NAMES:
        bold = "**" if name in KEY_CHANNELS else ""
        lines.append("| " + " | ".join([f"{bold}{name}{bold}"] + [cell(ag[name]) for _, ag in cols]) + " |")
    return "\n".join(lines)


# Frames resampled together when judging how sure a cell is: neighbours share a random keyframe (KEYFRAME_EVERY),
# and a sparse channel's move spans a few of them.
BLOCK_FRAMES = 60


def target_chance(
    true: np.ndarray, est: np.ndarray, names: tuple[str, ...] = KEY_CHANNELS, block: int = BLOCK_FRAMES,
    draws: int = 1000, seed: int = 0,
) -> dict[str, dict[str, float]]:  # fmt: skip
    """How sure a key cell is, by a block bootstrap of the frames [f, 61]: per channel the 5th and 95th
    percentiles of r over the resamples, and the share of them in which the channel meets the target. A sparse
    channel moves in a few dozen keyframes of a table's 4,000 frames, so one sample's r is loose (a cell just
    under the target on one sample may meet it on the next)."""
    block = max(min(block, len(true)), 1)  # a run shorter than a block is one block
    blocks = len(true) // block
    rng = np.random.default_rng(seed)
    frames = (rng.integers(0, blocks, (draws, blocks))[..., None] * block + np.arange(block)).reshape(draws, -1)
    out = {}
    for name in names:
        slope, r = _slope_r(true[frames, motion.CHANNEL[name]], est[frames, motion.CHANNEL[name]])  # [draws]
        low, high = np.nanpercentile(r, (5, 95)) if np.isfinite(r).any() else (np.nan, np.nan)
        out[name] = {"r_low": float(low), "r_high": float(high), "met": float(np.mean(_met(slope, r)))}
    return out


def certainty_table(columns: list[tuple[str, np.ndarray, np.ndarray]]) -> str:
    """Markdown table of the key channels on the tracker and adapted columns: r with its 90% interval and how often
    a resample meets the target (`target_chance`)."""
    cols = [
        (name, channel_agreement(true, est), target_chance(true, est))
        for name, true, est in columns
        if name.endswith(("tracker", "adapted"))
    ]
    lines = ["| key channel | " + " | ".join(f"{name} r [90%], met" for name, _, _ in cols) + " |"]
    lines.append("|---" * (1 + len(cols)) + "|")

    def cell(r: float, ch: dict) -> str:
        if not np.isfinite(ch["r_low"]):
            return "–"
        return f"{r:.2f} [{ch['r_low']:.2f}, {ch['r_high']:.2f}], {ch['met']:.0%}"

    for name in KEY_CHANNELS:
        lines.append("| " + " | ".join([name] + [cell(ag[name]["r"], ch[name]) for _, ag, ch in cols]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m omnitalker_core.face.calibration", description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=500, help="random-code frames per portrait and size")
    p.add_argument(
        "--held-out-frames",
        type=int,
        default=HELD_OUT_FRAMES,
        help="random-code frames per held-out portrait and size: the table's sample (a rare blendshape is drawn in "
        "about one keyframe in 17, so 500 frames hold a handful of its moves)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=CALIBRATION_PATH)
    p.add_argument("--table", type=Path, default=None, help="also write the agreement table (markdown) here")
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="keep the round trips here, to rebuild after retraining only the reader",
    )
    p.add_argument(
        "--adapt",
        action="store_true",
        help="the table also reads each held-out portrait with the reader adapted to it (`adaptation`, ~12 min each)",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    runs = (
        cached_collect(args.cache, args.frames, args.seed, args.held_out_frames)
        if args.cache
        else collect(args.frames, seed=args.seed, held_out_frames=args.held_out_frames)
    )
    cal = fit_calibration(_stack(runs, False, "raw"), _stack(runs, False, "true"))
    info = {k: {"tracked": r["tracked"], "frames": r["frames"], "held_out": r["held_out"]} for k, r in runs.items()}
    cal.save(args.out, {"seed": args.seed, "runs": info})
    log.info("wrote %s", args.out)
    if args.table:
        adapted = {}
        if args.adapt:  # on the portrait itself: what a clip of it rests on
            from .adaptation import adapt_reader

            for name, (portrait, held) in calibration_portraits().items():
                try:
                    if held:
                        adapted[name] = adapt_reader(portrait)
                except ValueError as e:  # a face too turned to render and track
                    log.warning("%s: not adapted: %s", name, e)
        columns = table_columns(runs, cal, adapted=adapted)
        args.table.write_text(
            agreement_table(columns) + "\n\nHow sure the key cells are (block bootstrap over "
            f"{BLOCK_FRAMES}-frame blocks, `target_chance`):\n\n" + certainty_table(columns) + "\n",
            encoding="utf-8",
        )
        log.info("wrote %s", args.table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
