"""Mouth blendshapes from timed phonemes: visemes blended with coarticulation.

Each phoneme maps to a viseme (a target pose of the ARKit mouth/jaw blendshapes). Targets are
blended over time with the dominance model of Cohen & Massaro (1993, "Modeling coarticulation in
synthetic visual speech"): every segment exerts a dominance D_i(t) = a_i,c * exp(-theta_i |t - c_i|)
around its centre c_i, per channel c, and the pose is sum_i D_i T_i / sum_i D_i. Channels a
viseme must hit (lip closure for /p b m/, rounding for /w u/) get high dominance; channels it does
not care about get low dominance, so neighbours show through (anticipatory rounding in "soon").
Diphthongs are two targets (start and end vowel) inside their span. Jaw and lip opening are scaled
by the frame's loudness so that opening follows the speech envelope.

Legend: p - phoneme targets, n - mel frames, c - mouth channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..motion import CHANNEL
from ..text.espeak import SILENCE

# Mouth channels written here (the rest of the 61-D code comes from corpus.styles).
MOUTH_CHANNELS: tuple[str, ...] = (
    "jawOpen", "jawForward", "mouthClose", "mouthFunnel", "mouthPucker",
    "mouthStretchLeft", "mouthStretchRight", "mouthSmileLeft", "mouthSmileRight",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "cheekPuff",
)  # fmt: skip
_C = {name: i for i, name in enumerate(MOUTH_CHANNELS)}
MOUTH_INDEX = np.array([CHANNEL[c] for c in MOUTH_CHANNELS])
# channels whose opening follows loudness
_OPENING = [
    _C[c] for c in ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight")
]


def _t(**kw: float) -> dict[str, float]:
    """Symmetric target: 'Stretch' sets Left and Right, etc."""
    out: dict[str, float] = {}
    for k, v in kw.items():
        if k in ("mouthStretch", "mouthSmile", "mouthPress", "mouthLowerDown", "mouthUpperUp"):
            out[k + "Left"] = out[k + "Right"] = v
        else:
            out[k] = v
    return out


# viseme -> (targets, dominance of the channels it sets, dominance of the others, sharpness)
VISEMES: dict[str, tuple[dict[str, float], float, float, float]] = {
    "rest": (_t(), 0.35, 0.35, 6.0),
    "PP": (
        _t(jawOpen=0.06, mouthClose=0.06, mouthPress=0.4, mouthRollLower=0.12, mouthRollUpper=0.12, cheekPuff=0.05),
        1.0,
        0.12,
        1.6,
    ),
    "FF": (
        _t(jawOpen=0.09, mouthRollLower=0.45, mouthUpperUp=0.22, mouthPress=0.1, mouthShrugUpper=0.1),
        0.95,
        0.15,
        1.6,
    ),
    "TH": (_t(jawOpen=0.17, mouthStretch=0.1, mouthLowerDown=0.18), 0.6, 0.2, 1.3),
    "DD": (_t(jawOpen=0.15, mouthStretch=0.12, mouthLowerDown=0.1, mouthUpperUp=0.08), 0.45, 0.15, 1.2),
    "SS": (_t(jawOpen=0.06, mouthStretch=0.28, mouthSmile=0.1, mouthUpperUp=0.12, mouthLowerDown=0.12), 0.8, 0.2, 1.4),
    "SH": (
        _t(jawOpen=0.12, jawForward=0.12, mouthFunnel=0.45, mouthPucker=0.3, mouthUpperUp=0.2, mouthLowerDown=0.2),
        0.85,
        0.2,
        1.4,
    ),
    "KK": (_t(jawOpen=0.2, mouthStretch=0.06), 0.4, 0.12, 1.1),
    "HH": (_t(jawOpen=0.22), 0.2, 0.05, 1.0),
    "RR": (_t(jawOpen=0.14, mouthFunnel=0.3, mouthPucker=0.3, mouthShrugUpper=0.1), 0.65, 0.2, 1.3),
    "WW": (_t(jawOpen=0.08, mouthPucker=0.7, mouthFunnel=0.35), 0.95, 0.2, 1.4),
    "JJ": (_t(jawOpen=0.1, mouthStretch=0.3, mouthSmile=0.15), 0.55, 0.15, 1.2),
    "AA": (_t(jawOpen=0.62, mouthLowerDown=0.38, mouthUpperUp=0.15, mouthStretch=0.1), 0.75, 0.3, 1.0),
    "AE": (_t(jawOpen=0.5, mouthLowerDown=0.35, mouthUpperUp=0.2, mouthStretch=0.3, mouthSmile=0.08), 0.75, 0.3, 1.0),
    "AH": (_t(jawOpen=0.36, mouthLowerDown=0.16), 0.55, 0.25, 1.0),
    "SCHWA": (_t(jawOpen=0.24, mouthLowerDown=0.08), 0.3, 0.15, 1.0),
    "EH": (_t(jawOpen=0.4, mouthStretch=0.25, mouthSmile=0.1, mouthLowerDown=0.22), 0.6, 0.25, 1.0),
    "IY": (_t(jawOpen=0.14, mouthStretch=0.42, mouthSmile=0.25, mouthUpperUp=0.1), 0.65, 0.25, 1.0),
    "UW": (_t(jawOpen=0.15, mouthPucker=0.65, mouthFunnel=0.42), 0.85, 0.25, 1.0),
    "OH": (_t(jawOpen=0.42, mouthFunnel=0.5, mouthPucker=0.28, mouthLowerDown=0.1), 0.75, 0.25, 1.0),
    "ER": (_t(jawOpen=0.26, mouthFunnel=0.3, mouthPucker=0.22), 0.6, 0.2, 1.0),
}

# first sound of an IPA symbol (stress/length stripped) -> viseme
_CONSONANTS = {
    "p": "PP", "b": "PP", "m": "PP", "f": "FF", "v": "FF", "θ": "TH", "ð": "TH",
    "t": "DD", "d": "DD", "n": "DD", "l": "DD", "ɾ": "DD", "ɫ": "DD", "ʔ": "HH",
    "s": "SS", "z": "SS", "ʃ": "SH", "ʒ": "SH", "k": "KK", "ɡ": "KK", "g": "KK", "ŋ": "KK", "x": "KK",
    "h": "HH", "ɹ": "RR", "r": "RR", "ɻ": "RR", "w": "WW", "ʍ": "WW", "j": "JJ", "ç": "JJ",
}  # fmt: skip
_VOWELS = {
    "a": "AA", "ɑ": "AA", "ɒ": "OH", "æ": "AE", "ɐ": "AH", "ʌ": "AH", "ə": "SCHWA", "ɜ": "ER",
    "ɚ": "ER", "ɝ": "ER", "ɛ": "EH", "e": "EH", "i": "IY", "ɪ": "IY", "y": "IY", "ᵻ": "IY",
    "u": "UW", "ʊ": "UW", "ʉ": "UW", "o": "OH", "ɔ": "OH", "ø": "OH", "ɵ": "SCHWA",
}  # fmt: skip
_AFFRICATES = {"tʃ": "SH", "dʒ": "SH"}


def visemes_of(ipa: str) -> list[str]:
    """IPA symbol -> one viseme, or two for a diphthong ("aɪ" -> AA, IY)."""
    if ipa == SILENCE or not ipa:
        return ["rest"]
    base = "".join(ch for ch in ipa if ch not in "ˈˌːˑ̩̃")
    if not base:
        return ["rest"]
    if base in _AFFRICATES:
        return [_AFFRICATES[base]]
    vowels = [_VOWELS[ch] for ch in base if ch in _VOWELS]
    if len(vowels) >= 2:
        return vowels[:1] + vowels[-1:]
    if vowels:
        return vowels
    return [_CONSONANTS.get(base[0], "DD")]


def _target_table() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, float]]:
    targets, dominance, sharp = {}, {}, {}
    for name, (tgt, a_on, a_off, k) in VISEMES.items():
        v = np.zeros(len(MOUTH_CHANNELS), np.float32)
        d = np.full(len(MOUTH_CHANNELS), a_off, np.float32)
        for ch, val in tgt.items():
            v[_C[ch]] = val
            d[_C[ch]] = a_on
        if name in ("PP", "FF"):  # a closure also dominates the opening channels (they must close)
            for ch in ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight"):
                d[_C[ch]] = 1.0
        targets[name], dominance[name], sharp[name] = v, d, k
    return targets, dominance, sharp


_TARGETS, _DOMINANCE, _SHARP = _target_table()


def mouth_motion(
    phonemes: Sequence[tuple[str, float, float]],
    num_frames: int,
    energy: np.ndarray,
    fps: float,
    mouth_scale: float = 1.0,
    lead_s: float = 0.02,
) -> np.ndarray:
    """Mouth blendshapes [n, c] (c = MOUTH_CHANNELS) from phoneme spans (ipa, start_s, end_s).

    energy: [n] 0..1 loudness per frame; mouth_scale: the speaker's articulation amplitude;
    lead_s: how far the lips lead the sound (positive = earlier)."""
    centres, tgt, dom, theta = [], [], [], []
    bilabials = [(s, e) for ipa, s, e in phonemes if visemes_of(ipa) == ["PP"]]
    for ipa, s, e in phonemes:
        vs = visemes_of(ipa)
        dur = max(e - s, 1e-3)
        stressed = 1.15 if ipa.startswith("ˈ") else (1.0 if ipa.startswith("ˌ") else 0.9)
        pos = [0.5] if len(vs) == 1 else [0.3, 0.85]
        for v, frac in zip(vs, pos):
            T = _TARGETS[v].copy()
            if v not in ("rest", "PP", "FF"):
                T[_OPENING] *= stressed
            centres.append(s + frac * dur - lead_s)
            tgt.append(T)
            dom.append(_DOMINANCE[v])
            # narrower influence for short segments; long pauses relax to rest only near their middle
            theta.append(_SHARP[v] * 3.0 / max(dur / len(vs), 0.03) ** 0.7)  # 1/s
    if not centres or num_frames == 0:
        return np.zeros((num_frames, len(MOUTH_CHANNELS)), np.float32)
    c = np.asarray(centres, np.float32)  # p
    T = np.stack(tgt)  # p c
    A = np.stack(dom)  # p c
    th = np.asarray(theta, np.float32)  # p
    t = np.arange(num_frames, dtype=np.float32) / fps  # n
    w = np.exp(-th[:, None] * np.abs(t[None, :] - c[:, None]))  # p n
    D = w[:, :, None] * A[:, None, :]  # p n c
    out = (D * T[:, None, :]).sum(0) / np.maximum(D.sum(0), 1e-6)  # n c
    gain = (0.3 + 0.7 * np.clip(energy, 0, 1))[:, None]
    out[:, _OPENING] *= gain
    out *= mouth_scale
    out = _smooth(out, 3)  # muscle inertia, zero phase
    # Lip closure: a bilabial shuts the lips however far the jaw has dropped (ARKit: mouthClose ==
    # jawOpen is closed lips with an open jaw). Blending alone leaves short /p b m/ half open.
    jaw, close = _C["jawOpen"], _C["mouthClose"]
    shut = _closure(bilabials, t, lead_s)  # n
    out[:, jaw] *= 1.0 - 0.3 * shut
    out[:, close] = np.maximum(out[:, close], shut * out[:, jaw])
    out[:, close] = np.minimum(out[:, close], out[:, jaw])  # ARKit: close <= jaw
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _closure(spans: list[tuple[float, float]], t: np.ndarray, lead_s: float) -> np.ndarray:
    """1 while the lips are shut for a bilabial (its middle 70%, at least 30 ms), 20 ms cosine ramps."""
    shut = np.zeros(len(t), np.float32)
    ramp = 0.02
    for s, e in spans:
        mid, half = (s + e) / 2 - lead_s, max(0.35 * (e - s), 0.015)
        d = np.abs(t - mid) - half  # < 0 inside the plateau
        shut = np.maximum(shut, np.where(d <= 0, 1.0, np.where(d < ramp, 0.5 * (1 + np.cos(np.pi * d / ramp)), 0.0)))
    return shut


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along time of [n, c]."""
    if width <= 1 or x.shape[0] < 2:
        return x
    k = np.ones(width, np.float32) / width
    pad = width // 2
    xp = np.pad(x, ((pad, width - 1 - pad), (0, 0)), mode="edge")
    return np.stack([np.convolve(xp[:, j], k, mode="valid") for j in range(x.shape[1])], axis=1)
