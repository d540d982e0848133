"""The appearance reader adapted to the one face it reads: tracker and rig calibrated on that face.

Why: the shipped reader learnt lids, lips, brows and gaze from four people. On a face it never saw it reads
them at a fraction of their size or not at all (Grace Hopper's smiles at 0.2, her brows at r 0.1;
docs/MOTION_SPACE.md), and no offline corpus has more people. But the renderer defines what a code looks
like, and the clip shows the face: random codes rendered onto one of its own frames and tracked back are
exact labels for *this* face. A copy of the reader is fine-tuned on them, and each channel it then reads
better than the shipped tracker, on renders it did not train on, replaces it with a linear correction
fitted there. Channels it does not read better stay as they were, so a face the reader already knows
loses nothing. The jaw, which the network has no output for, is read where it reads better so by a linear
map of the rig fit's whole expression and the network's outputs, fitted on the same renders (`fit_readout`).
Head rotation, which the landmark fit reads at each face's own size (the speaking Obama's pitch at 0.71 of it,
Hopper's at 0.96), is rescaled to this face's by a gain and offset measured on all the renders.

Cost: rendering and tracking the frames plus a few epochs of training, about 12 min on 2 CPU cores for
the defaults (the training runs on `AdaptConfig.device`, a GPU in ComfyUI where there is one); adapted readers
are kept in memory per (portrait, reader, settings), so a clip is adapted once.

Shape legend: f - frames, s - crop size, k - channels the reader outputs.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import NamedTuple

import numpy as np

from .. import motion
from .appearance import AppearanceNet, AppearanceReader, LinearReadout, clip_reference, load_reader, mirror_of

log = logging.getLogger(__name__)

Callback = Callable[[int, int], None]


@dataclass(frozen=True)
class AdaptConfig:
    # random-code frames rendered onto the portrait; the last `check_frames` only judge. 7,000 to train on, not 2,000
    # or 5,000: the lips that read loosely on some faces (mouthClose, pucker, smiles) read closer on the table's renders
    # (docs/MOTION_SPACE.md, "More renders to adapt on" and "9,000 frames"), for about 3 times the time of 2,000
    frames: int = 9000
    # ... which channels the adapted reader reads better, and fit their corrections: drawn balanced (`adaptation_codes`)
    check_frames: int = 2000
    epochs: int = 12
    lr: float = 5e-4
    batch: int = 32
    resolution: int = 384  # the renders' longer side (pixels)
    seed: int = 0
    # where the copy of the reader fine-tunes (cpu, cuda, ...): the host's device in ComfyUI. Rendering and tracking
    # the frames stay on the CPU. 12 epochs on 2,000 frames took ~130 s on 2 CPU cores, 17 s on an H200
    # (`bench adapt --frames 2000`)
    device: str = "cpu"
    min_r: float = 0.6  # a channel is taken from the adapted reader only where it follows at least this well
    # ... and better than the shipped tracker by this much. 0.01: on the balanced check renders, the mirrored
    # astronaut's pairs that read 0.01-0.02 better (smiles, mouthClose, jaw and mouth left/right) read up to 0.03
    # better on the table, where 0.02 kept its shipped smiles and mouthClose under r 0.9
    min_gain: float = 0.01
    # a read-out map (the jaw) has the fit's own read among its inputs and is judged on held-out blocks: better at
    # all is better
    readout_min_gain: float = 0.0

    # channels the network has no output for, read by a map of the rig fit and all its outputs (`LinearReadout`)
    READOUTS = ("jawOpen",)
    RIDGE = (0.01, 0.03, 0.1, 0.3)  # the readouts' ridge strengths tried (per frame, on standardised inputs)
    RENDER_STEPS = 10  # progress steps for rendering and tracking the frames (not a field: no effect on the result)
    MIN_CHECK_FRAMES = 12  # fewer check frames than this size no correction
    # the share of the renders the face must be found in: below it the face is turned too far to adapt on. 0.75, not
    # 0.8: `camera` (turned -51 degrees) is found in 79.5% of 9,000 and adapted reads its jaw, lips, brows, eye pitch
    # and head yaw far closer and nothing worse (docs/MOTION_SPACE.md, "The found-renders floor")
    MIN_FOUND = 0.75

    @property
    def steps(self) -> int:
        """Progress steps `adapt_reader` reports: rendering and tracking, each epoch, choosing the channels."""
        return self.RENDER_STEPS + self.epochs + 1

    def __post_init__(self) -> None:
        if self.check_frames < self.MIN_CHECK_FRAMES or self.frames - self.check_frames < self.batch:
            raise ValueError(
                f"adaptation needs at least {self.batch} training and {self.MIN_CHECK_FRAMES} check frames, got "
                f"frames={self.frames}, check_frames={self.check_frames}"
            )


@dataclass
class AdaptedReader:
    """The shipped reader, rescaled to this face where it reads a channel well but at the wrong size, plus a
    fine-tuned copy that replaces it on `reader.used` channels."""

    base: AppearanceReader
    reader: AppearanceReader
    report: dict  # per channel: r of the shipped tracker and of the adapted reader on the check renders
    rescale: dict[str, float] = field(default_factory=dict)  # shipped channel -> its size on this face's renders

    @property
    def readers(self) -> tuple[AppearanceReader, AppearanceReader]:
        # value = (out - bias) / gain: a read at s times its size is divided by s (blendshapes are then taken
        # from the clip's rest, which scales alike; gaze is absolute)
        gain = {n: g * self.rescale.get(n, 1.0) for n, g in self.base.gain.items()}
        return replace(self.base, gain=gain), self.reader


class _Check(NamedTuple):
    """One channel on the check renders."""

    r_shipped: float  # r of the shipped tracker's read
    r_adapted: float  # r of the fine-tuned reader's raw output
    slope: float  # gain and offset of that output on the rendered value (its correction)
    offset: float
    slope_shipped: float  # gain of the shipped tracker's read
    moving: float  # fraction of the check frames in which the channel moves


def rest_frame(crops: np.ndarray) -> int:
    """Index of the aligned crop [f, s, s, 3] nearest the clip's resting face: the frame to render on."""
    ref = clip_reference(crops).astype(np.float32)
    return int(np.argmin(np.abs(crops.astype(np.float32) - ref).mean(axis=(1, 2, 3))))


def adaptation_codes(cfg: AdaptConfig) -> np.ndarray:
    """The codes rendered onto the face [frames, 61]: random ones to train on, then `check_frames` drawn balanced
    (`random_codes`), so that every channel's correction is fitted where it moves over its whole range."""
    from .calibration import random_codes

    train = random_codes(np.random.default_rng([cfg.seed, 1234]), cfg.frames - cfg.check_frames)
    check = random_codes(np.random.default_rng([cfg.seed, 1234, 1]), cfg.check_frames, balanced=True)
    return np.concatenate([train, check])


def first_check_render(index: np.ndarray, cfg: AdaptConfig) -> int:
    """Where the check renders start among the renders that kept a face (index [f]: which code each one is,
    ascending): the check codes come last (`adaptation_codes`), wherever the tracker lost some of either set."""
    return int(np.searchsorted(index, cfg.frames - cfg.check_frames))


def adapt_reader(
    portrait: np.ndarray, cfg: AdaptConfig = AdaptConfig(), base: AppearanceReader | None = None,
    callback: Callback | None = None,
) -> AdaptedReader:  # fmt: skip
    """Fine-tune a copy of the reader on random codes rendered onto the portrait [h, w, 3] (uint8, a face at
    rest), and choose the channels it reads better than the tracker with the shipped reader."""
    from .calibration import render_and_track
    from .tracker import read_appearance
    from .train_appearance import correction

    base = base or load_reader()
    codes = adaptation_codes(cfg)
    shown = [0]

    def rendering(done: int, total: int) -> None:  # each tenth of the frames rendered and tracked
        if callback and done * cfg.RENDER_STEPS // total > shown[0]:
            shown[0] = done * cfg.RENDER_STEPS // total
            callback(shown[0], cfg.steps)

    run = render_and_track(
        portrait, codes, cfg.resolution, calibrated=True, crops=base.cfg, appearance=False, callback=rendering
    )
    crops, true, fit = run["crops"], run["true"], run["tracked"]
    split = first_check_render(run["index"], cfg)  # the renders of check codes judge
    checked = len(crops) - split
    if len(crops) < cfg.frames * cfg.MIN_FOUND or checked < cfg.MIN_CHECK_FRAMES:
        raise ValueError(
            f"the face was tracked in only {len(crops)} of {cfg.frames} frames rendered onto the portrait "
            f"({checked} of {cfg.check_frames} check frames): adapt on a clearer, more frontal frame "
            "(or turn adaptation off)"
        )
    steps_per_epoch = split // cfg.batch

    def progress(step: int, total: int) -> None:  # once per epoch
        if callback and step % steps_per_epoch == 0:
            callback(cfg.RENDER_STEPS + step // steps_per_epoch, cfg.steps)

    net = fine_tune(base, crops[:split], true[:split], clip_reference(crops, base.cfg.reference_frames), cfg, progress)
    # judge on the check renders, each read with the whole clip's resting face as in tracking
    shipped = read_appearance(crops, fit, readers=(base,))[split:]
    out = AppearanceReader(net, (), {}, {}, {}).predict(crops)[split:]
    check = true[split:]
    stats, report = {}, {}
    for k, name in enumerate(base.cfg.channels):
        x = check[:, motion.CHANNEL[name]]
        if x.std() > 1e-6:
            old = shipped[:, motion.CHANNEL[name]]
            slope, offset, _ = correction([(x, out[:, k])])
            # a slope is only known well where the channel moves in most check frames (gaze, in every random
            # keyframe); a blendshape drawn in a few keyframes gives one that is off by up to 0.2 on other renders
            moving = float(np.mean(np.abs(x - np.median(x)) > 0.05))
            stats[name] = _Check(_r(x, old), _r(x, out[:, k]), slope, offset, correction([(x, old)])[0], moving)
    readouts = {}
    for name in cfg.READOUTS:  # the jaw: from the fit's jawOpen and every lip, chin and cheek channel it moves
        c = motion.CHANNEL[name]
        x = check[:, c]
        readout, held_out = fit_readout(LinearReadout.inputs(fit[split:], out), x, cfg.RIDGE)
        slope, offset, _ = correction([(x, held_out)])
        r_old, r_new = _r(x, shipped[:, c]), _r(x, held_out)  # the fit's read, or the shipped reader's if it reads it
        report[name] = {"r_shipped": round(r_old, 3), "r_adapted": round(r_new, 3), "slope": round(slope, 3)}
        if r_new >= cfg.min_r and r_new > r_old + cfg.readout_min_gain and slope > 0.2:  # read at its size there
            readouts[name] = replace(readout, weight=readout.weight / slope, bias=(readout.bias - offset) / slope)
            report[name]["readout"] = True
    # a left-right pair is taken or left together: the reader reads both sides of a mirrored crop alike, and
    # one side taken alone on a few hundred check frames is chance as often as not
    order, _ = mirror_of(base.cfg.channels)
    used, gain, bias, rescale = [], {}, {}, {}
    for k, name in enumerate(base.cfg.channels):
        pair = [n for n in dict.fromkeys((name, base.cfg.channels[order[k]])) if n in stats]
        if name not in stats or name in cfg.READOUTS:  # a reader with a jaw output: the jaw is the read-out's
            continue
        c = stats[name]
        report[name] = {
            "r_shipped": round(c.r_shipped, 3), "r_adapted": round(c.r_adapted, 3), "slope": round(c.slope, 3),
            "slope_shipped": round(c.slope_shipped, 3),
        }  # fmt: skip
        mean_old = float(np.mean([stats[n].r_shipped for n in pair]))
        mean_new = float(np.mean([stats[n].r_adapted for n in pair]))
        if mean_new >= cfg.min_r and mean_new > mean_old + cfg.min_gain and min(stats[n].slope for n in pair) > 0.2:
            used.append(name)
            gain[name], bias[name] = c.slope, c.offset
        elif (
            name in base.used and mean_old >= cfg.min_r and c.moving >= 0.5
            and min(stats[n].slope_shipped for n in pair) > 0.2
        ):  # fmt: skip
            # kept as shipped, but read at this face's size (e.g. gaze pitch, drawn smaller on narrow eyes)
            rescale[name] = c.slope_shipped
            report[name]["rescaled"] = True
    # head rotation: the landmark fit reads it at each face's own size (the speaking Obama's pitch at 0.71 of it,
    # Hopper's at 0.96). Nothing is trained on it, so every render measures it: the slope's noise falls with frames
    pose = {}
    for name in motion.ROTATION_NAMES:
        c = motion.CHANNEL[name]
        x, y = true[:, c], fit[:, c]
        (slope, offset, _), r = correction([(x, y)]), _r(x, y)
        report[name] = {"r_shipped": round(r, 3), "slope_shipped": round(slope, 3)}
        if r >= cfg.min_r and slope > 0.2:
            pose[name] = (slope, offset)
            report[name]["rescaled"] = True
    info = {"adapted": asdict(cfg), "report": report}
    if callback:
        callback(cfg.steps, cfg.steps)
    log.info(
        "reader adapted to the face: %d channels read better (%s), %d rescaled (%s), read from the fit: %s, head "
        "rotation read at %s of its size", len(used), ", ".join(used), len(rescale),
        ", ".join(f"{n} {s:.2f}" for n, s in rescale.items()), ", ".join(readouts) or "none",
        ", ".join(f"{n} {g:.2f}" for n, (g, _) in pose.items()) or "none",
    )  # fmt: skip
    adapted = AppearanceReader(net.eval(), tuple(used), gain, bias, info, readouts, pose)
    return AdaptedReader(base, adapted, report, rescale)


def fine_tune(
    base: AppearanceReader, crops: np.ndarray, true: np.ndarray, reference: np.ndarray, cfg: AdaptConfig,
    callback: Callback | None = None,
) -> AppearanceNet:  # fmt: skip
    """A copy of the reader's network fine-tuned on one face's aligned crops [f, s, s, 3], labelled with the codes
    they were rendered with (true [f, 61]), each seen with the face's resting crop `reference` [s, s, 3], on
    `cfg.device`: adaptation's training (`adapt_reader`, `bench adapt`)."""
    from .train_appearance import train_net

    cols = [motion.CHANNEL[n] for n in base.cfg.channels]
    return train_net(
        base.cfg, crops, true[:, cols].astype(np.float32), cfg.epochs, cfg.seed, batch=cfg.batch, lr=cfg.lr,
        references=reference[None], clip_of=np.zeros(len(crops), int), init=base.net, callback=callback,
        device=cfg.device,
    )  # fmt: skip


def fit_readout(
    x: np.ndarray, y: np.ndarray, ridge: tuple[float, ...] = AdaptConfig.RIDGE, folds: int = 5
) -> tuple[LinearReadout, np.ndarray]:  # fmt: skip
    """Ridge map of inputs x [f, d] to y [f], its strength chosen by cross-validation over contiguous blocks
    of frames (neighbours share a keyframe, so frame-wise folds would flatter it); and its held-out
    predictions [f], from the folds, to judge and size it by."""

    def fit(rows: np.ndarray, lam: float) -> LinearReadout:
        mean, scale = x[rows].mean(0), x[rows].std(0) + 0.02  # an input that hardly moves is not blown up
        z = (x[rows] - mean) / scale
        w = np.linalg.solve(z.T @ z + lam * len(rows) * np.eye(z.shape[1]), z.T @ (y[rows] - y[rows].mean()))
        return LinearReadout(mean, scale, w, float(y[rows].mean()))

    blocks, every = np.array_split(np.arange(len(y)), folds), np.arange(len(y))
    best = None
    for lam in ridge:
        held = np.empty(len(y))
        for b in blocks:
            held[b] = fit(np.setdiff1d(every, b), lam).apply(x[b])
        err = float(np.mean((held - y) ** 2))
        if best is None or err < best[0]:
            best = (err, lam, held)
    return fit(every, best[1]), best[2]


def _r(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x, y)[0, 1]) if x.std() > 1e-6 and y.std() > 1e-9 else 0.0


_CACHE: OrderedDict[str, AdaptedReader] = OrderedDict()
CACHE_SIZE = 4


def cached_adapt(
    portrait: np.ndarray, cfg: AdaptConfig = AdaptConfig(), callback: Callback | None = None
) -> AdaptedReader:
    """`adapt_reader` with the shipped reader, kept per (portrait pixels, reader file, renderer, settings)."""
    from .appearance import APPEARANCE_PATH
    from .render_geometric import RENDER_REVISION

    base = load_reader()
    stamp = APPEARANCE_PATH.stat().st_mtime_ns if APPEARANCE_PATH.is_file() else 0
    key = hashlib.sha1(
        np.ascontiguousarray(portrait).tobytes() + repr((portrait.shape, stamp, RENDER_REVISION, cfg)).encode()
    ).hexdigest()
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    adapted = adapt_reader(portrait, cfg, base, callback)
    _CACHE[key] = adapted
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return adapted
