"""The canonical 3D face: a frontal, left-right symmetric 468-point MediaPipe mesh in head
coordinates, plus the named landmark groups the rig and renderers use.

Why derived here: the mediapipe 0.10.21 wheel does not ship `canonical_face_model.obj`, so the
mesh is built once from the face-landmark model's own 3D output on a real frontal photograph
(`skimage.data.astronaut()`), de-rotated and symmetrised with the mesh's mirror pairing (found by
running the model on the mirrored photo). The result is stored in `assets/canonical_face.npz`
and rebuilt with `python -m omnitalker_core.face.canonical` (needs scikit-image).

Head frame: x right (towards the subject's left), y down, z away from the camera (like image
pixels with depth), origin at a pivot inside the head behind the eyes, units of the
inter-ocular distance (distance between the two eye centres = 1).

Landmark index lists are MediaPipe's face-mesh topology (Apache-2.0, `face_mesh_connections.py`
in the mediapipe wheel), written as ordered contours.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CANONICAL_PATH = Path(__file__).parent / "assets" / "canonical_face.npz"

# lips, subject's right corner -> left corner
UPPER_LIP_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LOWER_LIP_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
UPPER_LIP_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_LIP_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
MOUTH_CORNERS = (61, 291)  # right, left (outer)
# eyes: outer corner -> inner corner along the upper and the lower lid
RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LEFT_EYE_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
LEFT_EYE_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
RIGHT_BROW = (46, 52, 53, 55, 63, 65, 66, 70, 105, 107)
LEFT_BROW = (276, 282, 283, 285, 293, 295, 296, 300, 334, 336)
NOSE = (1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326, 327, 344, 440)
NOSE_WINGS = (64, 294)  # right, left alar
FACE_OVAL = (
    10, 109, 67, 103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152,
    377, 400, 378, 379, 365, 397, 288, 361, 323, 454, 356, 389, 251, 284, 332, 297, 338,
)  # fmt: skip
CHIN = 152
FOREHEAD = 10
NUM_MESH = 468
NUM_POINTS = 478
RIGHT_IRIS = tuple(range(468, 473))  # centre first
LEFT_IRIS = tuple(range(473, 478))

EYEBALL_RADIUS = 0.19  # 12 mm eyeball / 63 mm inter-ocular distance
IRIS_RADIUS = 0.094  # 5.9 mm iris radius / 63 mm
PIVOT_DEPTH = 0.9  # rotation pivot behind the eye plane (about 57 mm), in inter-ocular units


@dataclass(frozen=True)
class CanonicalFace:
    """Neutral head-frame points [478, 3] (mesh + iris at rest) and the mirror pairing [468]."""

    points: np.ndarray
    mirror: np.ndarray

    @property
    def mesh(self) -> np.ndarray:
        return self.points[:468]


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres (mean of the lid contours) of the subject's right and left eye; points [..., n, 3]."""
    right = points[..., list(RIGHT_EYE_UPPER + RIGHT_EYE_LOWER), :].mean(-2)
    left = points[..., list(LEFT_EYE_UPPER + LEFT_EYE_LOWER), :].mean(-2)
    return right, left


def iris_rest(mesh: np.ndarray) -> np.ndarray:
    """Iris points [10, 3] looking straight ahead: centre + 4 rim points (right, down, left, up)
    for each eye, on a sphere of EYEBALL_RADIUS around a centre behind the lid contour."""
    out = []
    for c in eye_centres(mesh):
        ic = c.copy()
        rim = ic + IRIS_RADIUS * np.array([[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]], dtype=mesh.dtype)
        out.append(np.concatenate([ic[None], rim]))
    return np.concatenate(out)


def _kabsch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation R minimising |a @ R.T - b| for centred point sets [n, 3]."""
    u, _, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1, 1, d]) @ vt


def symmetrise(points: np.ndarray, mirror: np.ndarray, iterations: int = 5) -> np.ndarray:
    """Rotate a mesh [468, 3] so it is left-right symmetric about x = 0, then average it with
    its mirror image."""
    from scipy.spatial.transform import Rotation

    x = points - points.mean(0)
    flip = np.array([-1.0, 1.0, 1.0])
    for _ in range(iterations):
        r = _kabsch(x, (x * flip)[mirror])  # rotation that maps x onto its mirror = 2 x the asymmetry
        half = Rotation.from_rotvec(Rotation.from_matrix(r).as_rotvec() / 2).as_matrix()
        x = x @ half.T
        x = x - x.mean(0)
    return (x + (x * flip)[mirror]) / 2


def build_canonical(image: np.ndarray) -> CanonicalFace:
    """Build the canonical face from one frontal RGB photograph [h, w, 3] uint8."""
    from scipy.optimize import linear_sum_assignment

    from .landmarks import FaceLandmarker

    lm = FaceLandmarker()
    pts = lm(image, "the canonical photograph")
    lm.reset()
    pts_m = lm(np.ascontiguousarray(image[:, ::-1]), "the mirrored canonical photograph")
    if pts is None or pts_m is None:
        raise ValueError("build_canonical: no face found in the photograph")
    mesh, mesh_m = pts[:468].astype(np.float64), pts_m[:468].astype(np.float64)
    mesh_m[:, 0] = image.shape[1] - mesh_m[:, 0]  # mirrored photo -> original coordinates
    # mesh_m[i] lies where the original's mirror partner of i lies
    cost = np.linalg.norm(mesh_m[:, None, :2] - mesh[None, :, :2], axis=-1)
    _, mirror = linear_sum_assignment(cost)
    bad = int((mirror[mirror] != np.arange(468)).sum())
    if bad:
        log.warning("mirror pairing is not an involution at %d points", bad)
    x = symmetrise(mesh, mirror)
    # pitch: forehead top and chin at equal depth
    d = x[CHIN] - x[FOREHEAD]
    a = -np.arctan2(d[2], d[1])
    c, s = np.cos(a), np.sin(a)
    x = x @ np.array([[1, 0, 0], [0, c, -s], [0, s, c]]).T
    right, left = eye_centres(x)
    x = x / np.linalg.norm(left - right)
    right, left = eye_centres(x)
    pivot = (right + left) / 2 + np.array([0.0, 0.0, PIVOT_DEPTH])
    x = x - pivot
    points = np.concatenate([x, iris_rest(x)]).astype(np.float32)
    return CanonicalFace(points, mirror.astype(np.int64))


@functools.lru_cache(maxsize=1)
def load_canonical() -> CanonicalFace:
    """The shipped canonical face (cached)."""
    if not CANONICAL_PATH.is_file():
        raise FileNotFoundError(
            f"{CANONICAL_PATH} is missing; rebuild it with `python -m omnitalker_core.face.canonical`"
        )
    with np.load(CANONICAL_PATH) as z:
        return CanonicalFace(z["points"], z["mirror"])


def main() -> None:
    import skimage.data

    face = build_canonical(skimage.data.astronaut())
    np.savez_compressed(CANONICAL_PATH, points=face.points, mirror=face.mirror)
    log.warning("wrote %s", CANONICAL_PATH)


if __name__ == "__main__":
    main()
