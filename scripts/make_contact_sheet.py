"""Contact sheet of the geometric renderer's mouth, lids and head turns: docs/images/mouth_contact_sheet.png.

Rows: per portrait, the face (crop around the fitted landmarks) and, under it, the mouth zoomed in.
Columns: rest, jawOpen 0.3 / 0.6 / 0.9, jawOpen 0.6 with mouthClose 0.6 (closed lips over the open jaw, /m/),
mouthFunnel 0.7, mouthPucker 0.7, mouthRollLower 1.0 (the lower lip rolled in: thinner, the mouth as it
was), mouthSmile 0.7, eyeBlink 1.0, gaze 0.3 rad aside, headYaw +0.3 / -0.3 rad. Portraits: skimage's
astronaut (smiling: her own teeth show), the astronaut flipped, recropped and at low resolution, skimage's
grayscale `camera` photograph (side-on) as RGB, and the astronaut with her mouth closed by the renderer itself
(mouthClose 1), so the teeth must be drawn; two bundled public-domain photos of other people
(`omnitalker_core/face/assets/faces/`): Barack Obama smiling with his teeth showing, Grace Hopper in
glasses. Portraits the renderer warns about (a head turned
too far) are labelled with the warning.

    .venv/bin/python scripts/make_contact_sheet.py [--out docs/images/mouth_contact_sheet.png]
"""

from __future__ import annotations

import argparse
import logging
import warnings
from pathlib import Path

import numpy as np

from omnitalker_core import motion
from omnitalker_core.face import canonical as C
from omnitalker_core.face.landmarks import FaceLandmarker
from omnitalker_core.face.opencv import cv2

ROOT = Path(__file__).resolve().parents[1]

CELL = 200  # pixels per face cell
ZOOM = (CELL, CELL // 2)  # mouth cell (width, height)


def code(**channels: float) -> np.ndarray:
    c = np.zeros(motion.MOTION_DIM, np.float32)
    for k, v in channels.items():
        for name in (f"{k}Left", f"{k}Right") if f"{k}Left" in motion.CHANNEL else (k,):
            c[motion.CHANNEL[name]] = v
    return c


COLUMNS = {
    "rest": code(),
    "jawOpen .3": code(jawOpen=0.3),
    "jawOpen .6": code(jawOpen=0.6),
    "jawOpen .9": code(jawOpen=0.9),
    "/m/ .6": code(jawOpen=0.6, mouthClose=0.6),
    "funnel .7": code(mouthFunnel=0.7),
    "pucker .7": code(mouthPucker=0.7),
    "roll lower 1": code(mouthRollLower=1.0),
    "smile .7": code(mouthSmile=0.7),
    "blink 1": code(eyeBlink=1.0),
    "gaze .3": code(leftEyeYaw=0.3, rightEyeYaw=0.3),
    "yaw +.3": code(headYaw=0.3),
    "yaw -.3": code(headYaw=-0.3),
}


def portraits() -> dict[str, np.ndarray]:
    import skimage.data

    astro = skimage.data.astronaut()
    flipped = np.ascontiguousarray(astro[:, ::-1][20:340, 90:410])
    flipped = cv2.resize(flipped, (160, 160), interpolation=cv2.INTER_AREA)  # a low-resolution face
    camera = np.repeat(skimage.data.camera()[..., None], 3, 2)
    from omnitalker_core.face.calibration import face_photo
    from omnitalker_core.face.render_geometric import GeometricRenderer

    closed = GeometricRenderer(astro).render(code(mouthClose=1.0)[None])[0]
    return {
        "astronaut": astro,
        "Obama (smiling, teeth)": face_photo("obama"),
        "Grace Hopper (glasses)": face_photo("hopper"),
        "astronaut flipped, 160px": flipped,
        "camera (side-on)": np.ascontiguousarray(camera),
        "astronaut, mouth closed by the renderer": closed,
    }


def _crop(img: np.ndarray, centre: np.ndarray, half: float, out: tuple[int, int]) -> np.ndarray:
    """Square-ish crop (aspect of `out`) around centre, half-width `half` px, resized to out (w, h)."""
    hw = half * out[1] / out[0]
    m = np.float32([[out[0] / (2 * half), 0, out[0] / 2 - centre[0] * out[0] / (2 * half)],
                    [0, out[1] / (2 * hw), out[1] / 2 - centre[1] * out[1] / (2 * hw)]])  # fmt: skip
    return cv2.warpAffine(img, m, out, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT, borderValue=(40, 40, 40))


def _label(img: np.ndarray, text: str, colour=(255, 255, 255)) -> np.ndarray:
    img = img.copy()
    cv2.putText(img, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, colour, 1, cv2.LINE_AA)
    return img


def rows_for(name: str, portrait: np.ndarray) -> list[np.ndarray]:
    from omnitalker_core.face.render_geometric import GeometricRenderer

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = GeometricRenderer(portrait)
    note = "; ".join(str(w.message) for w in caught)
    frames = r.render(np.stack(list(COLUMNS.values())))
    lm = r.landmarks[:, :2]
    face_c = (lm.min(0) + lm.max(0)) / 2
    face_half = 0.62 * float((lm.max(0) - lm.min(0)).max())
    lips = lm[list(C.UPPER_LIP_OUTER + C.LOWER_LIP_OUTER)]
    mouth_c = lips.mean(0) + [0, 0.12 * r.s0]
    mouth_half = 0.9 * float(lips[:, 0].max() - lips[:, 0].min())
    faces, mouths = [], []
    for (label, _), f in zip(COLUMNS.items(), frames):
        faces.append(_label(_crop(f, face_c, face_half, (CELL, CELL)), label))
        mouths.append(_crop(f, mouth_c, mouth_half, ZOOM))
    row = np.concatenate(faces, 1)
    header = np.full((22, row.shape[1], 3), 30, np.uint8)
    title = f"{name} ({portrait.shape[1]}x{portrait.shape[0]}, {r.s0:.0f} px between the eyes)"
    cv2.putText(header, title, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 140), 1, cv2.LINE_AA)
    if note:
        cv2.putText(
            header, "warning: " + note[:150], (480, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 130, 130), 1, cv2.LINE_AA
        )
    return [header, row, np.concatenate(mouths, 1)]


def first_second_strip(out: Path, seed: int = 0) -> None:
    """Frames 0, 5, 10, 15, 20 of workflow (a)'s clip (bundled model, reference and demo text): full frame
    above, the face zoomed below; the first second is what the player and the queue thumbnail show."""
    import torch
    from PIL import Image

    from omnitalker_core import checkpoints, pipeline
    from omnitalker_core.style import capture_style
    from omnitalker_core.video import read_video

    frames, fps, wave, rate = read_video(checkpoints.REFERENCE_CLIP)
    transcript = checkpoints.REFERENCE_TRANSCRIPT.read_text(encoding="utf-8").strip()
    style = capture_style(torch.from_numpy(wave), rate, frames=frames, fps=fps, transcript=transcript)
    text = checkpoints.DEMO_TEXT.read_text(encoding="utf-8").strip()
    gen = pipeline.generate(checkpoints.load_bundle(), style, text, seed=seed)
    face = pipeline.portrait_of(style)
    video = pipeline.render_frames(face, gen.motion[:21], base_codes=pipeline.rest_codes(face, style), resolution=256)
    lm = FaceLandmarker()(video[0], "the first frame")
    c, half = lm[:, :2].mean(0), 0.62 * float((lm.max(0) - lm.min(0)).max())
    picks = [video[i] for i in range(0, 21, 5)]
    top = np.concatenate(picks, 1)
    zoom = np.concatenate([_crop(f, c, half, (video.shape[2], video.shape[1])) for f in picks], 1)
    Image.fromarray(np.concatenate([top, zoom], 0)).save(out, optimize=True)
    print(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "mouth_contact_sheet.png")
    ap.add_argument("--strip", type=Path, default=None, help="also write the first second of workflow (a) here")
    args = ap.parse_args()
    if args.strip:
        first_second_strip(args.strip)
    logging.basicConfig(level=logging.WARNING)
    rows = []
    for name, img in portraits().items():
        rows += rows_for(name, img)
        rows.append(np.full((4, rows[-1].shape[1], 3), 20, np.uint8))
    sheet = np.concatenate(rows[:-1], 0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    Image.fromarray(sheet).save(args.out, optimize=True)
    print(args.out)


if __name__ == "__main__":
    main()
