"""Appearance read-out: the expression channels a landmark model cannot see, read from the pixels.

MediaPipe's 468-point mesh hardly follows what the geometric renderer draws around the lips, lids, brows and
irises (docs/MOTION_SPACE.md: mouthFunnel r -0.20, smiles r <= 0.38, brows r <= 0.30, a full blink read at
0.14 of its size), and no gain recovers a signal the landmarks do not carry. A small CNN does: it sees a face
crop aligned on landmarks the tracker already has and regresses those channels, trained on renders of random
codes over several portraits (`train_appearance`). Jaw, head pose and the rest stay the rig fit's; the file
says which channels the network reads (those it reads better than the fit on validation renders).

A reader with `reference` sees each crop beside the clip's resting face (the per-pixel median of its aligned
crops: blinks and open mouths are brief) and their difference: what changed, not who it is. A network that
saw only the crop learned the one face it was trained on and read blinks on other people at 0.01-0.13 of
their size (docs/MOTION_SPACE.md).

Shape legend: f - frames, n - landmarks (478), s - crop size, k - channels read.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .. import motion

APPEARANCE_PATH = Path(__file__).resolve().parent / "assets" / "appearance_reader.safetensors"
FORMAT = "omnitalker-appearance-reader"

# what the network is trained to read: every drawn blendshape but jawOpen (the fit reads it at slope 1.02, r 0.92)
# and eyeLook* (the rig derives them from the gaze), plus the gaze itself
CANDIDATES = (
    tuple(n for n in motion.BLENDSHAPE_NAMES if n != "jawOpen" and not n.startswith("eyeLook")) + motion.GAZE_NAMES
)
# ... and with the jaw as well (`train_appearance --read-jaw`): lips shut over a dropped jaw (mouthClose) are told
# from lips shut at rest only by where the chin is
WITH_JAW = ("jawOpen", *CANDIDATES)
# outputs a reader is trained on but that replace the fit's only once adapted to the face (adaptation's jaw read-out
# takes them as inputs): a jaw learnt on four people read two held-out faces at r 0.54-0.60, the fit at 0.84-0.86
ADAPTED_ONLY = ("jawOpen",)

# landmarks that expressions hardly move (eye corners, nose ridge), for the crop's similarity alignment
ANCHORS = (33, 133, 263, 362, 168, 6, 197, 195, 5, 4)


@dataclass(frozen=True)
class AppearanceConfig:
    size: int = 112  # crop side (pixels)
    eye_line: float = 0.32  # eye centres' height in the crop (fraction of size)
    eye_distance: float = 0.36  # inter-ocular distance in the crop (fraction of size)
    widths: tuple[int, ...] = (24, 32, 48, 64, 96)  # conv stage widths; each stage halves the crop
    squeeze: int = 32  # 1x1 channels before the flattened head (keeps where things are: left vs right)
    hidden: int = 192
    channels: tuple[str, ...] = CANDIDATES  # outputs, in order
    reference: bool = False  # input: the crop (False), or the crop, the clip's resting face and their difference
    reference_frames: int = 256  # at most this many evenly spaced crops make the resting face
    # crops shrunk with area averaging before the warp (`aligned_crops`); the shipped reader: bilinear warp alone
    antialias: bool = False

    @property
    def crop_key(self) -> str:
        """Names cached crops: what changes them (the default placement unnamed: older caches keep their names)."""
        default = {f.name: f.default for f in fields(self)}
        moved = (self.eye_line, self.eye_distance) != (default["eye_line"], default["eye_distance"])
        place = f"l{self.eye_line:g}e{self.eye_distance:g}" if moved else ""
        return f"c{self.size}{place}" + ("a" if self.antialias else "")

    @property
    def in_channels(self) -> int:
        return 9 if self.reference else 3

    def __post_init__(self) -> None:
        mirror_of(self.channels)  # both sides of every paired channel, for mirrored reads

    @classmethod
    def from_dict(cls, d: dict) -> AppearanceConfig:
        known = {f.name for f in fields(cls)}
        vals = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known}
        return cls(**vals)


class AppearanceNet(nn.Module):
    """Network input [b, c, s, s] (`network_input`) -> channel values [b, k]."""

    def __init__(self, cfg: AppearanceConfig):
        super().__init__()
        self.cfg = cfg
        layers, cin = [], cfg.in_channels
        for w in cfg.widths:
            layers += [
                nn.Conv2d(cin, w, 3, stride=2, padding=1), nn.BatchNorm2d(w), nn.SiLU(),
                nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.SiLU(),
            ]  # fmt: skip
            cin = w
        layers += [nn.Conv2d(cin, cfg.squeeze, 1), nn.SiLU()]
        self.features = nn.Sequential(*layers)
        side = cfg.size
        for _ in cfg.widths:  # a stride-2 3x3 convolution with padding 1 rounds up
            side = (side + 1) // 2
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.2), nn.Linear(cfg.squeeze * side * side, cfg.hidden), nn.SiLU(),
            nn.Linear(cfg.hidden, len(cfg.channels)),
        )  # fmt: skip

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(crops))


def as_input(crops: np.ndarray) -> torch.Tensor:
    """uint8 crops [f, s, s, 3] -> float [f, 3, s, s] (0..255)."""
    return torch.from_numpy(np.ascontiguousarray(crops)).float().permute(0, 3, 1, 2)


def standardise(x: torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
    """Crops [f, 3, s, s] -> zero mean and unit spread per crop (exposure, contrast), measured on `like`
    (the same crops unless given)."""
    like = x if like is None else like
    mean = like.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) / like.std(dim=(1, 2, 3), keepdim=True).clamp_min(4.0)


def network_input(x: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
    """Crops [f, 3, s, s] (0..255) and, for a reader with a reference, each one's resting face [f, 3, s, s] ->
    [f, 3 or 9, s, s]. Both are standardised on the resting face, so a mouth that opens darkens the crop."""
    if reference is None:
        return standardise(x)
    x, reference = standardise(x, reference), standardise(reference)
    return torch.cat([x, reference, x - reference], 1)


def clip_reference(crops: np.ndarray, max_frames: int = 256) -> np.ndarray:
    """The clip's resting face [s, s, 3] uint8: the per-pixel median of (at most max_frames evenly spaced of)
    its aligned crops [f, s, s, 3]. A single portrait is its own."""
    idx = np.unique(np.linspace(0, len(crops) - 1, min(len(crops), max_frames)).round().astype(int))
    return np.median(crops[idx], axis=0).round().astype(np.uint8)


def mirror_of(channels: tuple[str, ...]) -> tuple[list[int], torch.Tensor]:
    """For a left-right flipped crop: which output each channel takes its value from, and its sign (a mirrored
    face smiles on its other side and looks the other way: Left <-> Right, left eye <-> right eye, yaw negated)."""
    swap = {"Left": "Right", "Right": "Left", "leftEye": "rightEye", "rightEye": "leftEye"}

    def mirrored(name: str) -> str:
        for a, b in swap.items():
            if a in name:
                return name.replace(a, b)
        return name

    missing = [mirrored(n) for n in channels if mirrored(n) not in channels]
    if missing:
        raise ValueError(f"appearance channels must come in left-right pairs: {missing} missing")
    order = [channels.index(mirrored(n)) for n in channels]
    sign = torch.tensor([-1.0 if n.endswith("EyeYaw") else 1.0 for n in channels])
    return order, sign


# -- alignment -----------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _template(cfg_key: tuple[int, float, float]) -> np.ndarray:
    """Where the anchors go in the crop [len(ANCHORS), 2], from the canonical (frontal, symmetric) face."""
    from . import canonical as C

    size, eye_line, eye_distance = cfg_key
    pts = C.load_canonical().points[:, :2]  # head frame, inter-ocular distance 1, y down
    right, left = C.eye_centres(pts)
    mid = (right + left) / 2
    scale = eye_distance * size
    return (pts[list(ANCHORS)] - mid) * scale + np.array([size / 2, eye_line * size])


def alignment(landmarks: np.ndarray, cfg: AppearanceConfig) -> np.ndarray:
    """2x3 similarity transforms [f, 2, 3] taking image points to the crop (least squares on the anchors).

    A similarity is z -> a z + b with complex a, b: one linear least-squares fit per frame."""
    tpl = _template((cfg.size, cfg.eye_line, cfg.eye_distance))
    dst = tpl[:, 0] + 1j * tpl[:, 1]  # n
    src = landmarks[:, list(ANCHORS), 0] + 1j * landmarks[:, list(ANCHORS), 1]  # f n
    sc, dc = src.mean(1, keepdims=True), dst.mean()
    a = ((dst - dc)[None] * np.conj(src - sc)).sum(1) / (np.abs(src - sc) ** 2).sum(1)  # f
    b = dc - a * sc[:, 0]
    return np.stack([np.stack([a.real, -a.imag, b.real], -1), np.stack([a.imag, a.real, b.imag], -1)], 1)  # f 2 3


def aligned_crops(frames: np.ndarray, landmarks: np.ndarray, cfg: AppearanceConfig) -> np.ndarray:
    """uint8 frames [f, h, w, 3] + landmarks [f, n, 3] -> aligned face crops [f, s, s, 3] (uint8).

    With `cfg.antialias` a frame whose face is larger than the crop is first shrunk to the crop's scale with
    area averaging, then warped: a bilinear warp alone samples a 2-5x larger face without low-pass filtering,
    so fine detail aliases differently at each face size. A reader trained so did not read better on the
    agreement table or at 1024 px, so the shipped one is not (docs/MOTION_SPACE.md)."""
    from .opencv import cv2

    mats = alignment(landmarks, cfg)
    out = np.empty((len(frames), cfg.size, cfg.size, 3), np.uint8)
    for i, (frame, m) in enumerate(zip(frames, mats)):
        if cfg.antialias:
            frame, m = _shrunk(frame, m)
        out[i] = cv2.warpAffine(frame, m, (cfg.size, cfg.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out


def _shrunk(frame: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """frame [h, w, 3] shrunk by the warp m's scale (area averaging) and the warp [2, 3] that takes the
    shrunk frame to the same crop. A frame the warp enlarges is returned as it is."""
    from .opencv import cv2

    scale = float(np.hypot(m[0, 0], m[1, 0]))
    h, w = frame.shape[:2]
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if scale >= 1.0 or (nw, nh) == (w, h):
        return frame, m
    small = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)
    # resize maps pixel centres as x' = (x + 0.5) f - 0.5, so x = (x' + 0.5) / f - 0.5
    f = np.array([nw / w, nh / h])
    lin = m[:, :2] / f[None]
    return small, np.concatenate([lin, (m[:, :2] @ (0.5 / f - 0.5) + m[:, 2])[:, None]], 1)


# -- the shipped reader --------------------------------------------------------------------------
@dataclass(frozen=True)
class LinearReadout:
    """A channel read as a linear map of the rig fit's blendshapes and the network's outputs, standardised:
    value = ((x - mean) / scale) @ weight + bias with x = [fit blendshapes (51), outputs (k)]. Why: the jaw
    moves the fit's lip, chin and cheek channels as well as jawOpen, and on one face a map fitted over all of
    them reads it better than the fit's jawOpen alone (`adaptation`)."""

    mean: np.ndarray  # 51 + k
    scale: np.ndarray  # 51 + k
    weight: np.ndarray  # 51 + k
    bias: float

    def __call__(self, fit: np.ndarray, out: np.ndarray) -> np.ndarray:
        """fit [f, 61] (the rig fit's codes), out [f, k] (the network's raw outputs) -> [f]."""
        return self.apply(self.inputs(fit, out))

    @staticmethod
    def inputs(fit: np.ndarray, out: np.ndarray) -> np.ndarray:
        return np.concatenate([fit[:, motion.BLENDSHAPES], out], 1).astype(np.float64)  # f 51+k

    def apply(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.weight + self.bias

    def to_json(self) -> dict:
        return {
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weight": self.weight.tolist(),
            "bias": self.bias,
        }

    @classmethod
    def from_json(cls, d: dict) -> LinearReadout:
        return cls(*(np.asarray(d[k], np.float64) for k in ("mean", "scale", "weight")), float(d["bias"]))


@dataclass
class AppearanceReader:
    """The network plus which of its outputs replace the rig fit's, each with a linear correction
    (value = (out - bias) / gain, fitted on validation renders so a channel reads at its rendered size), and
    channels read by a linear map of the fit and all outputs (`readouts`), and the fit's head rotation read at one
    face's size (`pose`; both only in a reader adapted to a face)."""

    net: AppearanceNet
    used: tuple[str, ...]  # channels that replace the rig fit's
    gain: dict[str, float]
    bias: dict[str, float]
    info: dict
    readouts: dict[str, LinearReadout] = field(default_factory=dict)
    pose: dict[str, tuple[float, float]] = field(default_factory=dict)  # rotation -> (gain, bias) of the fit's read

    @property
    def cfg(self) -> AppearanceConfig:
        return self.net.cfg

    @torch.inference_mode()
    def predict(self, crops: np.ndarray, batch: int = 128) -> np.ndarray:
        """Aligned crops [f, s, s, 3] of one clip -> raw network outputs [f, k] (every channel of the config), the
        mean of the crop's and its mirror image's read (sides swapped back): a face reads the same lit from
        either side."""
        order, sign = mirror_of(self.cfg.channels)
        ref = None
        if self.cfg.reference and len(crops):
            ref = as_input(clip_reference(crops, self.cfg.reference_frames)[None])
        out = []
        for i in range(0, len(crops), batch):
            x = as_input(crops[i : i + batch])
            r = None if ref is None else ref.expand_as(x)
            mirrored = network_input(x.flip(-1), None if r is None else r.flip(-1))
            out.append((self.net(network_input(x, r)) + self.net(mirrored)[:, order] * sign) / 2)
        return torch.cat(out).numpy() if out else np.zeros((0, len(self.cfg.channels)), np.float32)

    def read(self, crops: np.ndarray, codes: np.ndarray, fit: np.ndarray | None = None) -> np.ndarray:
        """codes [f, 61] with the `used` and `readouts` channels replaced by what the network reads from the
        aligned crops; readouts map the rig fit's codes `fit` [f, 61] (default: codes) with the outputs, and the
        `pose` channels are the fit's, corrected: (fit - bias) / gain."""
        fit = codes if fit is None else fit
        out = codes.copy()
        for name, (gain, bias) in self.pose.items():
            c = motion.CHANNEL[name]
            out[:, c] = (fit[:, c] - bias) / gain
        if not (self.used or self.readouts) or not len(crops):
            return out
        raw = self.predict(crops)
        for name in self.used:
            k = self.cfg.channels.index(name)
            out[:, motion.CHANNEL[name]] = (raw[:, k] - self.bias[name]) / self.gain[name]
        for name, readout in self.readouts.items():
            out[:, motion.CHANNEL[name]] = readout(fit, raw)
        return out

    def save(self, path: str | Path) -> Path:
        from ..checkpoints import atomic_save_file

        meta = {
            "format": FORMAT, "config": json.dumps(asdict(self.cfg)), "used": json.dumps(list(self.used)),
            "gain": json.dumps(self.gain), "bias": json.dumps(self.bias), "info": json.dumps(self.info),
            "readouts": json.dumps({n: r.to_json() for n, r in self.readouts.items()}),
            "pose": json.dumps(self.pose),
        }  # fmt: skip
        state = {k: v.half() if v.is_floating_point() else v for k, v in self.net.state_dict().items()}
        return atomic_save_file(state, path, meta)


def read_reader(path: str | Path) -> AppearanceReader:
    """Raises FileNotFoundError when absent and ValueError naming the file when it is not a reader."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: rebuild it with `python -m omnitalker_core.face.train_appearance` "
            "(or reinstall the pack)"
        )
    try:
        with safe_open(str(path), "pt") as fh:
            meta = fh.metadata() or {}
            state = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, RuntimeError, ValueError) as e:
        raise ValueError(f"{path} is not a readable safetensors file (truncated or corrupt?): {e}") from e
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not an appearance reader (metadata format={meta.get('format')!r})")
    try:
        cfg = AppearanceConfig.from_dict(json.loads(meta["config"]))
        used = tuple(json.loads(meta["used"]))
        gain, bias, info = (json.loads(meta[k]) for k in ("gain", "bias", "info"))
        readouts = {n: LinearReadout.from_json(d) for n, d in json.loads(meta.get("readouts", "{}")).items()}
        pose = {n: (float(g), float(b)) for n, (g, b) in json.loads(meta.get("pose", "{}")).items()}
        with torch.random.fork_rng():  # initialising the layers draws from the process's RNG: leave it as it was
            net = AppearanceNet(cfg)
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as e:  # JSONDecodeError is a ValueError
        raise ValueError(f"{path}: broken appearance reader ({str(e)[:300]})") from e
    unknown = [n for n in used if n not in cfg.channels or n not in gain or n not in bias]
    width = (motion.NUM_BLENDSHAPES + len(cfg.channels),)  # a readout's inputs: the fit's blendshapes, the outputs
    unknown += [
        n
        for n, r in readouts.items()
        if n not in motion.CHANNEL or {r.mean.shape, r.scale.shape, r.weight.shape} != {width}
    ]
    unknown += [n for n, (g, _) in pose.items() if n not in motion.ROTATION_NAMES or g <= 0]
    if unknown:
        raise ValueError(
            f"{path}: channels {unknown} are used but not read by the network or not corrected, or rescaled as head "
            "rotation but not one (or by a gain <= 0)"
        )
    return AppearanceReader(net.eval(), used, gain, bias, info, readouts, pose)


@lru_cache(maxsize=2)
def _load(path: Path, mtime: int) -> AppearanceReader:  # cached per file version: tracking calls it per clip
    return read_reader(path)


def load_reader(path: str | Path = APPEARANCE_PATH) -> AppearanceReader:
    path = Path(path)
    return _load(path, path.stat().st_mtime_ns if path.is_file() else 0)
