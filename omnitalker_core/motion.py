"""The 61-D OmniTalker visual code (arXiv 2504.02433, sec. 3): per frame, 51 ARKit blendshapes
(tongueOut dropped), 6-D head pose and 4-D eye gaze.

Layout (channel index ranges):
    0..50   blendshape weights, ARKit names below, 0..1
    51..53  head rotation pitch, yaw, roll (radians)
    54..56  head translation x, y, z (normalised to face size: 1.0 = inter-ocular distance)
    57..60  gaze left yaw, left pitch, right yaw, right pitch (radians)

Video runs at 25 fps; the generator works on mel frames (24 kHz / hop 256 = 93.75 fps),
so codes are resampled between the two clocks here.
"""

from __future__ import annotations

import numpy as np
import torch

from .audio import MEL_FPS

VIDEO_FPS = 25.0

# ARKit order as in Apple's ARFaceAnchor / Live Link Face, without tongueOut.
BLENDSHAPE_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight", "jawForward",
    "jawRight", "jawLeft", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthRight",
    "mouthLeft", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft",
    "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft",
    "noseSneerRight",
)  # fmt: skip
POSE_NAMES: tuple[str, ...] = ("headPitch", "headYaw", "headRoll", "headX", "headY", "headZ")
ROTATION_NAMES = POSE_NAMES[:3]
GAZE_NAMES: tuple[str, ...] = ("leftEyeYaw", "leftEyePitch", "rightEyeYaw", "rightEyePitch")
CHANNEL_NAMES: tuple[str, ...] = BLENDSHAPE_NAMES + POSE_NAMES + GAZE_NAMES

NUM_BLENDSHAPES = len(BLENDSHAPE_NAMES)  # 51
MOTION_DIM = len(CHANNEL_NAMES)  # 61

BLENDSHAPES = slice(0, 51)
ROTATION = slice(51, 54)
TRANSLATION = slice(54, 57)
POSE = slice(51, 57)
GAZE = slice(57, 61)
CHANNEL = {name: i for i, name in enumerate(CHANNEL_NAMES)}

assert NUM_BLENDSHAPES == 51 and MOTION_DIM == 61


# A clip's blendshapes are measured from its resting face (docs/MOTION_SPACE.md): each one's value at this
# percentile over a clip of at least this many frames is rest. The tracker reads every clip so, and training
# motion is put the same way (`from_rest`), so a captured reference and the training data share one space.
REST_PERCENTILE = 5.0
MIN_FRAMES_FOR_REST = 10


def from_rest(
    codes: torch.Tensor, percentile: float = REST_PERCENTILE, min_frames: int = MIN_FRAMES_FOR_REST,
    channels: slice | list[int] = BLENDSHAPES,
):  # fmt: skip
    """Codes [n, 61] with blendshapes (or the given blendshape `channels`) measured from the clip's rest (its
    `percentile`, subtracted), within 0..1, as the tracker reads a video; pose and gaze are absolute and stay.
    Clips shorter than `min_frames` stay."""
    if codes.shape[0] < min_frames:
        return codes
    out = codes.clone()
    shapes = out[:, channels]
    out[:, channels] = (shapes - torch.quantile(shapes.float(), percentile / 100, dim=0)).clamp(0.0, 1.0)
    return out


# eyeLook* follow the gaze: ARKit's shapes move the lids with the eyes, the rig draws them so, and the tracker
# derives them from the gaze it measures rather than fitting them. Gaze angle (rad) at which each reaches 1:
LOOK_YAW_RANGE = 0.6
LOOK_PITCH_RANGE = 0.45
EYE_LOOK = tuple(i for i, n in enumerate(BLENDSHAPE_NAMES) if n.startswith("eyeLook"))


def look_from_gaze(gaze: np.ndarray) -> np.ndarray:
    """The 8 eyeLook* weights [..., 8] (in BLENDSHAPE_NAMES order, i.e. `EYE_LOOK`) implied by gaze [..., 4].
    The code's convention (the rig's head frame, y down): pitch > 0 looks down, yaw > 0 turns the eyes
    towards image left, the subject's right."""
    ly, lp, ry, rp = (gaze[..., i] for i in range(4))

    def c(v: np.ndarray) -> np.ndarray:
        return np.clip(v, 0.0, 1.0)

    # left eye (+x side): yaw > 0 moves the iris to -x, towards the nose = "in"
    left = [c(lp / LOOK_PITCH_RANGE), c(ly / LOOK_YAW_RANGE), c(-ly / LOOK_YAW_RANGE), c(-lp / LOOK_PITCH_RANGE)]
    right = [c(rp / LOOK_PITCH_RANGE), c(-ry / LOOK_YAW_RANGE), c(ry / LOOK_YAW_RANGE), c(-rp / LOOK_PITCH_RANGE)]
    return np.stack(left + right, -1)  # Down, In, Out, Up for left then right


def lids_follow_gaze(codes: np.ndarray) -> np.ndarray:
    """A copy of codes [..., 61] with eyeLook* = `look_from_gaze` of their gaze, as the corpus and the
    calibration's random codes have them (the tracker then measures them from the clip's rest)."""
    out = np.array(codes, copy=True)
    out[..., list(EYE_LOOK)] = look_from_gaze(out[..., GAZE])
    return out


def channel_groups() -> dict[str, slice]:
    """Groups used for per-part loss weights and error reports (paper: expression, pose, eye)."""
    return {"expression": BLENDSHAPES, "pose": POSE, "gaze": GAZE}


def resample(codes: torch.Tensor | np.ndarray, src_fps: float, dst_fps: float, num_frames: int | None = None):
    """Linear resampling along time of [T, C] codes; frame i sits at time i / fps."""
    is_np = isinstance(codes, np.ndarray)
    x = torch.as_tensor(codes, dtype=torch.float32)
    if x.ndim != 2:
        raise ValueError(f"motion codes must be [frames, channels], got shape {tuple(x.shape)}")
    t_src = x.shape[0]
    if num_frames is None:
        num_frames = max(1, round(t_src * dst_fps / src_fps))
    if t_src == 0:
        raise ValueError("cannot resample an empty motion sequence")
    if t_src == 1:
        out = x.expand(num_frames, -1).clone()
    else:
        pos = torch.arange(num_frames, dtype=torch.float32) * (src_fps / dst_fps)
        pos = pos.clamp(0, t_src - 1)
        lo = pos.floor().long().clamp(max=t_src - 2)
        w = (pos - lo).unsqueeze(-1)
        out = x[lo] * (1 - w) + x[lo + 1] * w
    return out.numpy() if is_np else out


def to_video_rate(codes_mel, num_video_frames: int | None = None, mel_fps: float = MEL_FPS):
    return resample(codes_mel, mel_fps, VIDEO_FPS, num_video_frames)


def clamp_valid(codes: torch.Tensor) -> torch.Tensor:
    """Blendshapes live in [0, 1]; pose and gaze are left as they are."""
    out = codes.clone()
    out[..., BLENDSHAPES] = out[..., BLENDSHAPES].clamp(0, 1)
    return out


def one_euro(
    codes: np.ndarray,
    fps: float,
    min_cutoff: float = 1.5,
    beta: float = 0.3,
    d_cutoff: float = 1.0,
    zero_phase: bool = False,
) -> np.ndarray:
    """One-Euro filter (Casiez et al., CHI 2012) along time of [T, C] codes: strong smoothing when
    a channel is still (kills tracking jitter), little lag when it moves fast (keeps lip motion).

    min_cutoff: cutoff (Hz) at rest; beta: how fast the cutoff grows with speed (per unit/s).
    zero_phase: for a whole clip at once: the mean of the filter run forwards and backwards. The causal
    filter lags slow motion by about fps / (2 pi min_cutoff) frames (2.7 at 25 fps and 1.5 Hz: a head turn),
    which puts a tracked reference's motion behind its own audio; the backward pass leads by as much."""
    x = np.asarray(codes, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"motion codes must be [frames, channels], got shape {x.shape}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    out_dtype = np.asarray(codes).dtype if np.asarray(codes).dtype.kind == "f" else np.float32
    if zero_phase:
        both = _one_euro(x, fps, min_cutoff, beta, d_cutoff) + _one_euro(x[::-1], fps, min_cutoff, beta, d_cutoff)[::-1]
        return (0.5 * both).astype(out_dtype)
    return _one_euro(x, fps, min_cutoff, beta, d_cutoff).astype(out_dtype)


def _one_euro(x: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float) -> np.ndarray:
    te = 1.0 / fps

    def alpha(cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / te)

    out = np.empty_like(x)
    out[0] = prev = x[0]
    dx_prev = np.zeros(x.shape[1])
    a_d = alpha(d_cutoff)
    for i in range(1, len(x)):
        dx = (x[i] - prev) / te
        dx_prev = a_d * dx + (1 - a_d) * dx_prev
        a = alpha(min_cutoff + beta * np.abs(dx_prev))
        prev = a * x[i] + (1 - a) * prev
        out[i] = prev
    return out


# -- normalisation ---------------------------------------------------------------------------
class MotionStats:
    """Per-channel mean/std of motion codes, for feeding a network zero-mean unit-variance input.

    Saved with a checkpoint as two [61] float arrays (`to_dict` / `from_dict`)."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, min_std: float = 1e-3):
        mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        if mean.shape != (MOTION_DIM,) or std.shape != (MOTION_DIM,):
            raise ValueError(f"MotionStats: mean and std must be [{MOTION_DIM}], got {mean.shape} and {std.shape}")
        self.mean, self.std = mean, np.maximum(std, min_std)

    @classmethod
    def from_codes(cls, codes: np.ndarray | torch.Tensor | list) -> MotionStats:
        """Stats over frames of one [T, 61] array or a list of them."""
        seqs = codes if isinstance(codes, list) else [codes]
        x = np.concatenate([np.asarray(torch.as_tensor(c, dtype=torch.float32)) for c in seqs])
        if x.ndim != 2 or x.shape[1] != MOTION_DIM or len(x) == 0:
            raise ValueError(f"MotionStats.from_codes: expected [frames, {MOTION_DIM}] codes, got {x.shape}")
        return cls(x.mean(0), x.std(0))

    def normalize(self, codes):
        return _affine(codes, -self.mean / self.std, 1 / self.std)

    def denormalize(self, codes):
        return _affine(codes, self.mean, self.std)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> MotionStats:
        return cls(np.asarray(d["mean"]), np.asarray(d["std"]))


def _affine(codes, shift: np.ndarray, scale: np.ndarray):
    if isinstance(codes, torch.Tensor):
        return codes * torch.as_tensor(scale, dtype=codes.dtype, device=codes.device) + torch.as_tensor(
            shift, dtype=codes.dtype, device=codes.device
        )
    return np.asarray(codes, np.float32) * scale + shift


# -- Live Link Face CSV -----------------------------------------------------------------------
# Live Link Face (Epic's iOS app) writes: Timecode, BlendShapeCount, the 52 ARKit shapes
# (capitalised, TongueOut included), then HeadYaw/Pitch/Roll and Left/RightEyeYaw/Pitch/Roll.
# Head translation has no column there: it is appended as HeadX/HeadY/HeadZ (importers of the
# standard layout ignore extra columns). Angles are written in radians.
LLF_BLENDSHAPES: tuple[str, ...] = tuple(n[0].upper() + n[1:] for n in BLENDSHAPE_NAMES) + ("TongueOut",)
LLF_TAIL: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll", "HeadX", "HeadY", "HeadZ",
)  # fmt: skip
LLF_COLUMNS: tuple[str, ...] = ("Timecode", "BlendShapeCount") + LLF_BLENDSHAPES + LLF_TAIL
_LLF_TO_CHANNEL = {
    **{n[0].upper() + n[1:]: CHANNEL[n] for n in BLENDSHAPE_NAMES},
    "HeadYaw": CHANNEL["headYaw"], "HeadPitch": CHANNEL["headPitch"], "HeadRoll": CHANNEL["headRoll"],
    "LeftEyeYaw": CHANNEL["leftEyeYaw"], "LeftEyePitch": CHANNEL["leftEyePitch"],
    "RightEyeYaw": CHANNEL["rightEyeYaw"], "RightEyePitch": CHANNEL["rightEyePitch"],
    "HeadX": CHANNEL["headX"], "HeadY": CHANNEL["headY"], "HeadZ": CHANNEL["headZ"],
}  # fmt: skip


def _timecode(i: int, fps: float) -> str:
    """HH:MM:SS:FF.mmm as Live Link Face writes it (frame number within the second + fraction)."""
    t = i / fps
    hh, rem = divmod(t, 3600)
    mm, ss = divmod(rem, 60)
    frame = (ss - int(ss)) * fps
    return f"{int(hh):02d}:{int(mm):02d}:{int(ss):02d}:{int(frame):02d}.{int(round((frame - int(frame)) * 1000)) % 1000:03d}"


def save_csv(path, codes: np.ndarray | torch.Tensor, fps: float = VIDEO_FPS, overwrite: bool = False) -> None:
    """Write [T, 61] codes as a Live Link Face CSV (one row per frame at `fps`)."""
    from pathlib import Path

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (or --overwrite) to replace it")
    x = np.asarray(torch.as_tensor(codes, dtype=torch.float32))
    if x.ndim != 2 or x.shape[1] != MOTION_DIM:
        raise ValueError(f"save_csv: codes must be [frames, {MOTION_DIM}], got {x.shape}")
    rows = [",".join(LLF_COLUMNS)]
    for i, c in enumerate(x):
        vals = [f"{c[_LLF_TO_CHANNEL[n]]:.6g}" if n in _LLF_TO_CHANNEL else "0" for n in LLF_BLENDSHAPES + LLF_TAIL]
        rows.append(",".join([_timecode(i, fps), str(len(LLF_COLUMNS) - 2)] + vals))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n")


def load_csv(path, fps: float | None = None) -> tuple[np.ndarray, float]:
    """Read a Live Link Face CSV into [T, 61] codes and the frame rate.

    fps: the rate the file was recorded at; None estimates it from the Timecode column (falls back
    to 25). Unknown columns are ignored, missing ones read as 0."""
    import csv
    from pathlib import Path

    path = Path(path)
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not any(n in _LLF_TO_CHANNEL for n in reader.fieldnames):
            raise ValueError(f"{path}: not a Live Link Face CSV (no blendshape columns in the header)")
        fields = [n.strip() for n in reader.fieldnames]
        reader.fieldnames = fields
        rows = list(reader)
    if not rows:
        raise ValueError(f"{path}: no frames")
    x = np.zeros((len(rows), MOTION_DIM), np.float32)
    for name, ch in _LLF_TO_CHANNEL.items():
        if name in fields:
            x[:, ch] = [float(r[name] or 0) for r in rows]
    if fps is None:
        fps = VIDEO_FPS
        if "Timecode" in fields and len(rows) > 2:
            # frame numbers run 0..fps-1 within each second: once a second has passed, max + 1 is the rate
            secs = [r["Timecode"].split(":")[2] for r in rows]
            if any(secs[i] != secs[i - 1] for i in range(1, len(secs))):
                fps = float(max(int(float(r["Timecode"].split(":")[3])) for r in rows) + 1)
    return x, float(fps)
