"""Per-speaker facial and head-motion styles, and the 61-D motion they produce with the speech.

OmniTalker has no style encoder: it copies style from the reference clip by in-context infilling.
For that to be learnable, each synthetic speaker has a consistent style (its parameters are drawn
once from the corpus seed) that shows up in every clip *through the prosody*: nods land on
stressed syllables, brows rise on stressed high-pitched ones, blinks and gaze aversions cluster in
pauses, the head leans with loudness and tilts with pitch. Two clips of one speaker therefore share
statistics (nod size, blink rate, smile, gaze habit) that a model can read off the reference.

Signs are the code's, as the rig draws it and the tracker reads it (`motion`): head pitch > 0 = chin down,
yaw > 0 = turn to the subject's right, roll > 0 = tilt to the subject's left; gaze likewise (pitch > 0 = look
down), with the eyeLook* lids following it (`motion.look_from_gaze`). Translation in inter-ocular units, x > 0 =
the subject's left, y > 0 = down, z > 0 = toward the camera.
Legend: n - mel frames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from ..motion import CHANNEL, EYE_LOOK, GAZE, MOTION_DIM, ROTATION, TRANSLATION, look_from_gaze
from .prosody import Prosody
from .visemes import MOUTH_INDEX, mouth_motion


@dataclass(frozen=True)
class SpeakerStyle:
    """How one synthetic speaker moves. Drawn by `sample_style`; stored in the corpus manifest."""

    mouth_scale: float  # articulation amplitude (x viseme targets)
    smile_base: float  # resting mouthSmile (0..1)
    smile_asym: float  # left minus right smile
    brow_bias: float  # > 0: resting browInnerUp (expressive), < 0: browDown (serious)
    brow_gain: float  # brow raise on stressed, high-pitched syllables
    squint_base: float  # resting eyeSquint
    blink_rate: float  # spontaneous blinks per minute
    blink_dur: float  # seconds, close + open
    pause_blink_prob: float  # chance of a blink in a phrase pause
    nod_amp: float  # head-pitch dip on stressed syllables (rad)
    nod_prob: float  # fraction of stressed syllables that get a nod
    sway_amp: float  # slow yaw/roll sway amplitude (rad)
    sway_freq: float  # Hz
    pitch_follow: float  # chin raise (rad) per f0 z-unit
    lean_gain: float  # forward lean (z) with loudness
    pose_pitch: float  # resting head pitch (rad)
    pose_yaw: float  # resting head yaw (rad)
    pose_roll: float  # resting head roll (rad)
    gaze_shift_rate: float  # saccades per second while speaking
    gaze_spread: float  # fixation scatter while speaking (rad)
    gaze_avert_amp: float  # gaze aversion in pauses (rad)
    gaze_avert_dir: float  # direction of aversion (rad, 0 = the subject's right, pi/2 = down)

    def to_dict(self) -> dict[str, float]:
        return {k: round(float(v), 5) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> SpeakerStyle:
        return cls(**{f.name: float(d[f.name]) for f in fields(cls)})


def sample_style(rng: np.random.Generator) -> SpeakerStyle:
    """A random, plausible style; the spread between speakers is wide so that styles are tellable apart."""
    u = rng.uniform
    return SpeakerStyle(
        mouth_scale=u(0.75, 1.25),
        smile_base=u(0.0, 0.35) if rng.random() < 0.7 else 0.0,
        smile_asym=u(-0.08, 0.08),
        brow_bias=u(-0.15, 0.18),
        brow_gain=u(0.1, 0.6),
        squint_base=u(0.0, 0.25),
        blink_rate=u(8.0, 32.0),
        blink_dur=u(0.12, 0.26),
        pause_blink_prob=u(0.1, 0.8),
        nod_amp=u(0.01, 0.08),
        nod_prob=u(0.2, 0.9),
        sway_amp=u(0.008, 0.06),
        sway_freq=u(0.15, 0.6),
        pitch_follow=u(-0.02, 0.05),
        lean_gain=u(0.0, 0.06),
        pose_pitch=u(-0.06, 0.06),
        pose_yaw=u(-0.1, 0.1),
        pose_roll=u(-0.07, 0.07),
        gaze_shift_rate=u(0.1, 0.9),
        gaze_spread=u(0.01, 0.06),
        gaze_avert_amp=u(0.05, 0.3),
        gaze_avert_dir=u(0.0, 2 * np.pi),
    )


# ---- helpers -------------------------------------------------------------------------------------


def _bump(n: int, fps: float, centre_s: float, width_s: float) -> np.ndarray:
    """Raised-cosine bump [n] of total width `width_s` centred at `centre_s` (0 outside)."""
    t = np.arange(n) / fps
    x = (t - centre_s) / max(width_s / 2, 1e-3)
    return np.where(np.abs(x) < 1, 0.5 * (1 + np.cos(np.pi * x)), 0.0).astype(np.float32)


def _segments(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of True in a boolean [n] mask."""
    m = np.concatenate([[False], mask.astype(bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _lowpass(x: np.ndarray, fps: float, tau_s: float) -> np.ndarray:
    """Zero-phase smoothing by FFT with a Gaussian kernel (fast for long signals)."""
    n = len(x)
    if n < 2:
        return np.asarray(x, np.float32)
    sigma = tau_s * fps
    half = int(3 * sigma) + 1
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    k /= k.sum()
    xp = np.pad(np.asarray(x, np.float64), (half, half), mode="edge")
    return np.convolve(xp, k, mode="valid")[:n].astype(np.float32)


# ---- synthesis -----------------------------------------------------------------------------------


def face_motion(
    style: SpeakerStyle,
    phonemes: list[tuple[str, float, float]],
    prosody: Prosody,
    fps: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """The full 61-D code [n, 61] of one utterance: mouth from visemes, the rest from the style."""
    n = len(prosody.energy)
    out = np.zeros((n, MOTION_DIM), np.float32)
    t = np.arange(n) / fps
    C = CHANNEL
    energy_s = _lowpass(prosody.energy, fps, 0.04)

    # mouth: visemes with coarticulation, plus the speaker's smile
    out[:, MOUTH_INDEX] = mouth_motion(phonemes, n, energy_s, fps, style.mouth_scale)
    smile = style.smile_base + 0.08 * style.smile_base * _lowpass(np.maximum(prosody.pitch_z, 0), fps, 0.3)
    out[:, C["mouthSmileLeft"]] += smile + style.smile_asym / 2
    out[:, C["mouthSmileRight"]] += smile - style.smile_asym / 2
    out[:, C["cheekSquintLeft"]] += 0.5 * out[:, C["mouthSmileLeft"]]
    out[:, C["cheekSquintRight"]] += 0.5 * out[:, C["mouthSmileRight"]]
    out[:, C["mouthDimpleLeft"]] += 0.3 * smile
    out[:, C["mouthDimpleRight"]] += 0.3 * smile

    # stressed vowels: (onset s, duration s, strength from loudness and pitch, mean pitch z-score)
    accents: list[tuple[float, float, float, float]] = []
    for s, e in _segments(prosody.stress > 0.75):
        pz = float(prosody.pitch_z[s:e].mean())
        strength = float(energy_s[s:e].mean()) * (1.0 + 0.5 * max(pz, 0.0))
        accents.append((s / fps, (e - s) / fps, strength, pz))

    # brows: baseline + raises on stressed syllables with high pitch
    brow_up = np.full(n, max(style.brow_bias, 0.0), np.float32)
    brow_down = np.full(n, max(-style.brow_bias, 0.0), np.float32)
    for onset, dur, strength, pz in accents:
        if pz > 0.2:
            brow_up += style.brow_gain * min(pz, 2.0) / 2.0 * strength * _bump(n, fps, onset + dur / 2, dur + 0.35)
    out[:, C["browInnerUp"]] = brow_up
    out[:, C["browOuterUpLeft"]] = 0.8 * brow_up
    out[:, C["browOuterUpRight"]] = 0.8 * brow_up
    out[:, C["browDownLeft"]] = brow_down
    out[:, C["browDownRight"]] = brow_down
    out[:, C["eyeWideLeft"]] = 0.25 * np.maximum(brow_up - max(style.brow_bias, 0.0), 0)
    out[:, C["eyeWideRight"]] = out[:, C["eyeWideLeft"]]

    # blinks: spontaneous (Poisson) plus in phrase pauses
    blink = np.zeros(n, np.float32)
    times = []
    tt = rng.exponential(60.0 / style.blink_rate)
    while tt < n / fps:
        times.append(tt)
        tt += rng.exponential(60.0 / style.blink_rate) + style.blink_dur
    pauses = [(s, e) for s, e in _segments(prosody.speech < 0.5) if s > 0 and e < n and (e - s) / fps > 0.12]
    for s, e in pauses:
        if rng.random() < style.pause_blink_prob:
            times.append((s + e) / 2 / fps)
    for tb in times:
        close, opening = 0.4 * style.blink_dur, 0.6 * style.blink_dur
        x = t - tb
        shape = np.where((x >= -close) & (x < 0), 1 + x / close, 0) + np.where(
            (x >= 0) & (x < opening), 1 - x / opening, 0
        )
        blink = np.maximum(blink, np.clip(shape, 0, 1) ** 0.7)
    squint = style.squint_base + 0.3 * out[:, C["mouthSmileLeft"]]
    out[:, C["eyeBlinkLeft"]] = np.maximum(blink, squint * 0.3)
    out[:, C["eyeBlinkRight"]] = out[:, C["eyeBlinkLeft"]]
    out[:, C["eyeSquintLeft"]] = squint
    out[:, C["eyeSquintRight"]] = squint

    # head rotation: resting pose + sway + nods + pitch following
    ph = rng.uniform(0, 2 * np.pi, size=6)
    f = style.sway_freq
    sway_yaw = style.sway_amp * (np.sin(2 * np.pi * f * t + ph[0]) + 0.5 * np.sin(2 * np.pi * 1.7 * f * t + ph[1]))
    sway_roll = (
        0.5 * style.sway_amp * (np.sin(2 * np.pi * 0.8 * f * t + ph[2]) + 0.4 * np.sin(2 * np.pi * 2.1 * f * t + ph[3]))
    )
    drift_pitch = 0.3 * style.sway_amp * np.sin(2 * np.pi * 0.6 * f * t + ph[4])
    nods = np.zeros(n, np.float32)
    for onset, _dur, strength, _pz in accents:
        if rng.random() < style.nod_prob:
            # dip (chin down) peaking just after the vowel onset, then a small rebound
            nods += (
                style.nod_amp * strength * (_bump(n, fps, onset + 0.08, 0.36) - 0.3 * _bump(n, fps, onset + 0.34, 0.3))
            )
    pitch_follow = style.pitch_follow * _lowpass(prosody.pitch_z, fps, 0.15)
    out[:, C["headPitch"]] = style.pose_pitch + drift_pitch + nods - pitch_follow  # the chin rises with f0
    out[:, C["headYaw"]] = style.pose_yaw + sway_yaw
    out[:, C["headRoll"]] = style.pose_roll + sway_roll
    # translation follows rotation (the head pivots on the neck: a turn to the subject's left, yaw < 0, moves
    # the face that way, x > 0; a nod, pitch > 0, moves it down) plus the lean with loudness
    out[:, C["headX"]] = -0.6 * (out[:, C["headYaw"]] - style.pose_yaw)
    out[:, C["headY"]] = 0.5 * (out[:, C["headPitch"]] - style.pose_pitch)
    out[:, C["headZ"]] = style.lean_gain * _lowpass(energy_s, fps, 0.4)

    # gaze: fixations while speaking, aversion in pauses, saccades between
    gaze = np.zeros((n, 2), np.float32)  # yaw, pitch
    target = rng.normal(0, style.gaze_spread, size=2)
    next_shift = rng.exponential(1.0 / style.gaze_shift_rate)
    avert = np.array([np.cos(style.gaze_avert_dir), np.sin(style.gaze_avert_dir)]) * style.gaze_avert_amp
    in_pause = np.zeros(n, bool)
    for s, e in pauses:
        if (e - s) / fps > 0.18:
            in_pause[s + int(0.05 * fps) : e] = True
    for i in range(n):
        if t[i] >= next_shift:
            target = rng.normal(0, style.gaze_spread, size=2)
            next_shift = t[i] + rng.exponential(1.0 / style.gaze_shift_rate)
        gaze[i] = avert + target * 0.5 if in_pause[i] else target
    gaze[:, 0] = _lowpass(gaze[:, 0], fps, 0.015)
    gaze[:, 1] = _lowpass(gaze[:, 1], fps, 0.015)
    # eyes counter-rotate a little against head yaw/pitch (vestibulo-ocular reflex)
    gaze[:, 0] -= 0.3 * (out[:, C["headYaw"]] - style.pose_yaw)
    gaze[:, 1] -= 0.3 * (out[:, C["headPitch"]] - style.pose_pitch)
    out[:, GAZE] = np.stack([gaze[:, 0], gaze[:, 1], gaze[:, 0], gaze[:, 1]], axis=1)
    out[:, list(EYE_LOOK)] = look_from_gaze(out[:, GAZE])  # the lids follow the eyes, as the rig and tracker have them

    out[:, :51] = np.clip(out[:, :51], 0.0, 1.0)
    assert out.shape == (n, MOTION_DIM) and ROTATION.stop <= TRANSLATION.start
    return out
