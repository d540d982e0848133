"""Make the bundled reference clip of workflow (a) with the project's own tools.

Source portrait: NASA photograph of astronaut Eileen Collins (1998, NASA image S98-06039 via
`skimage.data.astronaut()`), a work of the US federal government, in the public domain.
Voice: Kokoro-82M (`corpus --teacher kokoro`; needs `bash scripts/setup_train.sh`), one of the original
voices the demo model's corpus holds out, so the demo clones a voice it never trained on.
Motion: the corpus' face-motion model (visemes from the teacher's phoneme timings + a held-out speaker's
head, brow and blink style), rendered onto the portrait with the weightless geometric renderer.

    .venv/bin/python scripts/make_reference_clip.py [--out omnitalker_core/assets/omnitalker_reference.mp4]

Writes an H.264 + AAC mp4 (25 fps) and its transcript (`.txt` next to it), the portrait as a PNG in
`workflows/assets/` (workflow (d) loads it), and prints the transcript, which the workflows type into
Capture Style.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from omnitalker_core import motion as motion_lib
from omnitalker_core.audio import MEL_FPS, log_mel
from omnitalker_core.checkpoints import REFERENCE_CLIP
from omnitalker_core.corpus import kokoro
from omnitalker_core.corpus.generate import leveled_pcm
from omnitalker_core.corpus.prosody import analyse
from omnitalker_core.corpus.speakers import make_kokoro_speakers
from omnitalker_core.corpus.styles import face_motion
from omnitalker_core.face.render_geometric import GeometricRenderer
from omnitalker_core.pipeline import rest_codes
from omnitalker_core.video import write_mp4

ROOT = Path(__file__).resolve().parents[1]

TRANSCRIPT = "The children walked along the river after school, and the sun was warm on the water."
SIZE = 256
SPEED = 0.95  # Kokoro's speaking rate: a calm reference of about 5 s
CORPUS_SPEAKERS, CORPUS_SEED = 160, 0  # the demo corpus (scripts/train_demo.sh): its held-out voices


def portrait() -> np.ndarray:
    """The astronaut photograph cropped to head and shoulders, SIZE x SIZE."""
    from skimage import data

    img = Image.fromarray(data.astronaut()).crop((96, 0, 416, 320))  # face centred, shoulders in view
    return np.array(img.resize((SIZE, SIZE), Image.LANCZOS), dtype=np.uint8)


def speech_and_motion(seed: int) -> tuple[np.ndarray, int, np.ndarray]:
    """-> (int16 audio, sample rate, motion codes [frames, 61] at 25 fps)."""
    teacher = kokoro.KokoroTeacher(threads=2)
    held = [s for s in make_kokoro_speakers(CORPUS_SPEAKERS, CORPUS_SEED, list(teacher.voices)) if s.split == "heldout"]
    speaker = next(s for s in held if len(s.kokoro) == 1 and next(iter(s.kokoro)).startswith("af_"))
    speaker = dataclasses.replace(speaker, speed=SPEED)
    speech = teacher.speak(TRANSCRIPT, kokoro.blend(teacher.voices, speaker.kokoro), speaker.voice, speaker.speed)
    audio, phonemes, sample_rate = speech.audio, speech.phonemes, kokoro.SAMPLE_RATE
    print(f"voice: {speaker.kokoro}")
    pcm = leveled_pcm(audio, speaker.loudness)
    wave = torch.from_numpy(pcm.astype(np.float32) / 32767.0)
    n = log_mel(wave).shape[-1]  # motion on the 24 kHz mel clock, as Capture Style reads it
    prosody = analyse(wave.numpy(), phonemes, n, MEL_FPS)
    codes = face_motion(speaker.style, phonemes, prosody, MEL_FPS, np.random.default_rng([seed, 0xFACE]))
    frames = max(1, round(len(pcm) / sample_rate * motion_lib.VIDEO_FPS))
    return pcm, sample_rate, motion_lib.to_video_rate(torch.from_numpy(codes), frames).numpy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REFERENCE_CLIP, help="the clip; its transcript goes next to it")
    parser.add_argument(
        "--portrait", type=Path, default=ROOT / "workflows" / "assets" / "omnitalker_portrait.png", help="workflow (d)"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    pcm, rate, codes = speech_and_motion(args.seed)
    face = portrait()
    Image.fromarray(face).save(args.portrait)  # workflow (d)'s Load Image
    frames = GeometricRenderer(face, base_codes=rest_codes(face)).render(codes)  # codes mean what they mean everywhere
    write_mp4(args.out, frames, motion_lib.VIDEO_FPS, pcm.astype(np.float32) / 32767.0, rate, overwrite=True)
    args.out.with_suffix(".txt").write_text(TRANSCRIPT + "\n", encoding="utf-8")
    print(f"{args.out}: {len(frames)} frames, {len(pcm) / rate:.2f} s; transcript: {TRANSCRIPT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
