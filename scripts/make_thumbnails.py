"""Write the template browser's thumbnail for each example workflow: `workflows/<name>.jpg`, a picture of
what that workflow itself outputs when run through a real ComfyUI host.

ComfyUI 0.3.64 serves the pack's `workflows/` folder at `/api/workflow_templates/<pack folder>/`, and the
bundled frontend (1.27) shows a custom node's template `<name>.json` as a card with the image
`<name>.jpg` next to it (square box, 256 CSS pixels), the file name as its title and again as its
description. So each workflow is queued as it is, and its output becomes the picture:

- a video (Save Video): a frame of speech (mouth opening at the clip's 90th percentile);
- an image (Preview Image, e.g. the Motion Preview curves): that image;
- only audio (Save Audio): the spectrogram and waveform of the generated speech.

Run after scripts/build_workflows.py (the workflows' seeds are fixed, so the pictures are reproducible):

    .venv/bin/python scripts/make_thumbnails.py [--only "Text to talking video"] [--base DIR]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from omnitalker_core.host import load_workflow, start_host

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / "workflows"
SIDE = 512  # pixels: sharp in the card's 256 CSS px box on a 2x display
MAX_BYTES = 60_000
BACKGROUND = (32, 33, 36)  # near the frontend's dark card colour


def node_id(workflow: dict, ntype: str) -> str | None:
    ids = [str(n["id"]) for n in workflow["nodes"] if n["type"] == ntype]
    return ids[0] if ids else None


def read_frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].rate
        x = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1).astype(np.float32)
    return (x.mean(axis=0) if x.ndim == 2 else x), rate


def talking_frame(frames: np.ndarray, percentile: float = 90) -> np.ndarray:
    """A typical frame of speech: the one whose mouth opening (inner lip gap / mouth width) is nearest the
    given percentile over the clip (not the widest, which would show an extreme)."""
    from omnitalker_core.face.canonical import LOWER_LIP_INNER, MOUTH_CORNERS, UPPER_LIP_INNER
    from omnitalker_core.face.landmarks import FaceLandmarker

    landmarker = FaceLandmarker()
    opening = np.full(len(frames), np.nan)
    for i, frame in enumerate(frames):
        pts = landmarker(np.ascontiguousarray(frame), f"frame {i}")
        if pts is not None:
            gap = np.linalg.norm(pts[list(UPPER_LIP_INNER), :2] - pts[list(LOWER_LIP_INNER), :2], axis=1).mean()
            opening[i] = gap / max(np.linalg.norm(pts[MOUTH_CORNERS[0], :2] - pts[MOUTH_CORNERS[1], :2]), 1e-6)
    if np.isnan(opening).all():
        return frames[len(frames) // 2]
    return frames[int(np.nanargmin(np.abs(opening - np.nanpercentile(opening, percentile))))]


def colormap(v: np.ndarray) -> np.ndarray:
    """[0, 1] -> RGB uint8, dark blue -> purple -> orange -> pale yellow (a magma-like ramp)."""
    stops = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
                      [250, 193, 39], [252, 255, 164]], np.float32)  # fmt: skip
    pos = np.clip(v, 0, 1) * (len(stops) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(stops) - 2)
    t = (pos - lo)[..., None]
    return (stops[lo] * (1 - t) + stops[lo + 1] * t).astype(np.uint8)


def audio_picture(audio: np.ndarray, rate: int, label: str) -> Image.Image:
    """Spectrogram (0-8 kHz, log magnitude) above the waveform of the speech, with a caption."""
    n_fft = 1024
    window = np.hanning(n_fft).astype(np.float32)
    padded = np.pad(audio, (n_fft // 2, n_fft // 2))
    starts = np.linspace(0, len(padded) - n_fft, SIDE).astype(int)
    spec = np.abs(np.fft.rfft(np.stack([padded[s : s + n_fft] * window for s in starts]), axis=1)).T
    spec = spec[: int(8000 / (rate / 2) * spec.shape[0])]  # up to 8 kHz
    db = 20 * np.log10(spec + 1e-6)
    db = (db - (db.max() - 70)) / 70  # 70 dB range
    spec_h, wave_h, caption_h = 300, 150, SIDE - 450
    spec_img = Image.fromarray(colormap(db[::-1])).resize((SIDE, spec_h), Image.BICUBIC)
    img = Image.new("RGB", (SIDE, SIDE), BACKGROUND)
    img.paste(spec_img, (0, 0))
    draw = ImageDraw.Draw(img)
    mid, amp = spec_h + wave_h // 2, 0.45 * wave_h / max(float(np.abs(audio).max()), 1e-6)
    for x, col in enumerate(np.array_split(audio, SIDE)):
        if len(col):
            draw.line([(x, mid - float(col.max()) * amp), (x, mid - float(col.min()) * amp)], fill=(250, 193, 39))
    font = ImageFont.load_default(size=22)
    draw.text((16, spec_h + wave_h + (caption_h - 26) // 2), label, fill=(230, 230, 230), font=font)
    return img


def square(image: Image.Image, background=BACKGROUND) -> Image.Image:
    """Fit into SIDE x SIDE (kept whole, centred on `background`)."""
    image = image.convert("RGB")
    scale = SIDE / max(image.size)
    resized = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    out = Image.new("RGB", (SIDE, SIDE), background)
    out.paste(resized, ((SIDE - resized.width) // 2, (SIDE - resized.height) // 2))
    return out


def jpeg(image: Image.Image) -> bytes:
    for quality in range(88, 40, -4):
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=quality, optimize=True, progressive=True)
        if buf.tell() <= MAX_BYTES:
            return buf.getvalue()
    raise ValueError(f"no JPEG under {MAX_BYTES} bytes")


def thumbnail(host, path: Path) -> Image.Image:
    wf = load_workflow(path)
    entry = host.run(host.ui_to_api(wf), wf, timeout=1800)
    if save := node_id(wf, "SaveVideo") or node_id(wf, "OmniTalkerRenderVideo"):
        (mp4,) = host.output_files(entry, node_id=save, suffix=".mp4")
        return square(Image.fromarray(talking_frame(read_frames(mp4))))
    if preview := node_id(wf, "PreviewImage"):
        (png,) = host.output_files(entry, node_id=preview)
        image = Image.open(png)
        return square(image, image.convert("RGB").getpixel((0, 0)))
    if save := node_id(wf, "SaveAudio"):
        (sound,) = host.output_files(entry, node_id=save)
        audio, rate = read_audio(sound)
        return audio_picture(audio, rate, f"{sound.name}  {len(audio) / rate:.1f} s of speech")
    raise ValueError(f"{path.name}: no Save Video, Preview Image or Save Audio node to take a picture of")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", metavar="NAME", help="workflow name (file stem); repeatable")
    parser.add_argument("--base", type=Path, help="ComfyUI base directory (default: a new temporary one)")
    args = parser.parse_args()
    paths = sorted(WORKFLOWS.glob("*.json"))
    if args.only:
        paths = [p for p in paths if p.stem in args.only]
        if missing := set(args.only) - {p.stem for p in paths}:
            parser.error(f"no workflows/<name>.json for {sorted(missing)}")
    host = start_host(args.base or Path(tempfile.mkdtemp(prefix="omnitalker-thumbs-")))
    try:
        for path in paths:
            data = jpeg(thumbnail(host, path))
            out = path.with_suffix(".jpg")
            out.write_bytes(data)
            print(f"{out} ({len(data) // 1000} KB)")
    finally:
        host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
