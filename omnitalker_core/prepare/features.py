"""Per-utterance training features, stored exactly as the synthetic corpus stores them, and the face checks.

- audio: the 24 kHz mono track as int16 PCM (as recorded; no loudness change);
- mel: the model's front-end (`audio.mel_spec(name)`) computed from that PCM, as `corpus.generate` does;
- motion: the tracker's calibrated 61-D codes (`face.tracker.track_frames`, as Capture Style reads a reference)
  resampled from the video's frame rate onto the mel frames (`motion.resample`);
- phonemes: eSpeak's phonemes of the text, their durations stretched to fill the utterance, one vocabulary id
  per mel frame (`text.phonemes.stretch_durations`, as `PhonemeTokenizer.reference_ids` aligns a reference clip at inference). Real speech has
  no exact timing; the manifest says so ("phoneme_timing": "espeak_stretched").
Legend: n - mel frames, f - video frames, t - audio samples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..audio import SAMPLE_RATE, MelSpec, pcm16


@dataclass(frozen=True)
class FaceLimits:
    """When an utterance's face is not usable for training (checked on the tracked clip)."""

    min_face_px: float = 64.0  # median face height (brow to chin landmarks) in the file's own pixels
    max_yaw_deg: float = 45.0  # head turned sideways further than this ...
    max_pitch_deg: float = 35.0  # ... or up/down further than this ...
    max_turned_fraction: float = 0.2  # ... in more than this share of the frames
    max_lost_fraction: float = 0.2  # share of frames without a detected face (the tracker interpolates them)
    faces_sampled: int = 3  # frames per utterance checked for a second face (detector only: cheap)

    def to_dict(self) -> dict:
        return asdict(self)


def face_problem(
    found: np.ndarray, landmarks: np.ndarray, angles: np.ndarray, scale: float, expected: int, limits: FaceLimits
) -> tuple[str, str] | None:
    """(reason, detail) when the tracked face of a clip fails a limit, else None.

    found [f] bool, landmarks [f, 478, 3] in decoded pixels, angles [f, 3] head (pitch, yaw, roll) in radians,
    scale: decoded / file pixels, expected: video frames the utterance should have (missing ones count as lost)."""
    f = len(found)
    seen = int(np.count_nonzero(found))
    lost = 1.0 - seen / max(expected, f, 1)
    if seen == 0:
        return "no_face", "no face detected"
    if lost > limits.max_lost_fraction:
        return "face_lost", f"no face in {lost:.0%} of the frames (limit {limits.max_lost_fraction:.0%})"
    pts = landmarks[found]
    height = float(np.median(pts[:, :, 1].max(1) - pts[:, :, 1].min(1))) / max(scale, 1e-9)
    if height < limits.min_face_px:
        return "face_too_small", f"face {height:.0f} px high (limit {limits.min_face_px:.0f} px)"
    deg = np.degrees(np.abs(angles[found]))
    turned = (deg[:, 1] > limits.max_yaw_deg) | (deg[:, 0] > limits.max_pitch_deg)
    if turned.mean() > limits.max_turned_fraction:
        return "face_turned", (
            f"head turned more than {limits.max_yaw_deg:.0f} deg sideways or {limits.max_pitch_deg:.0f} deg up/down "
            f"in {turned.mean():.0%} of the frames (median yaw {np.median(deg[:, 1]):.0f} deg)"
        )
    return None


def several_faces(detector, frames: np.ndarray, count: int) -> int:
    """The most faces of similar size (`landmarks.AMBIGUOUS_FACE_AREA_RATIO` of the largest) seen in `count`
    frames spread over the clip. The tracker re-detects only when it loses the face, so a second person who
    walks in later would go unnoticed without this."""
    from ..face.landmarks import AMBIGUOUS_FACE_AREA_RATIO

    most = 0
    for i in np.unique(np.linspace(0, len(frames) - 1, max(1, count)).round().astype(int)):
        dets = detector.detect(np.ascontiguousarray(frames[i]))
        if dets:
            big = max(d.area for d in dets)
            most = max(most, sum(d.area >= AMBIGUOUS_FACE_AREA_RATIO * big for d in dets))
    return most


def audio_features(wave: np.ndarray, spec: MelSpec) -> tuple[np.ndarray, np.ndarray]:
    """24 kHz float audio [t] -> (PCM int16 [t], mel f16 [n, n_mels]), as `corpus.generate` stores them."""
    import torch

    pcm = pcm16(np.asarray(wave, np.float32))
    mel = spec.features(torch.from_numpy(pcm.astype(np.float32) / 32767.0), SAMPLE_RATE)  # n_mels n
    return pcm, mel.T.contiguous().numpy().astype(np.float16)


def motion_on_mel(codes: np.ndarray, video_fps: float, spec: MelSpec, num_frames: int) -> np.ndarray:
    """Tracked codes [f, 61] at the video's rate -> [n, 61] f16 on the mel frames (frame 0 at the same instant)."""
    from .. import motion

    return motion.resample(np.asarray(codes, np.float32), video_fps, spec.fps, num_frames).astype(np.float16)
