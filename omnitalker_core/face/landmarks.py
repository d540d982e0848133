"""Face landmarks offline: MediaPipe's face detector, 468-point face mesh and iris models, run
through LiteRT (`ai-edge-litert`) without the `mediapipe` package.

Why not `mediapipe` itself: only its 0.10.21 wheel ships the face models, and it pins
numpy<2 and protobuf<5, which would break a user's ComfyUI. The three `.tflite` files are
copied out of that wheel into `assets/` (Apache-2.0, see assets/README.md); this module
re-implements the small bits of graph glue around them (anchors, ROI crops, un-projection).

Conventions: image pixel coordinates, x right, y down; landmark z is the model's relative depth
in the same pixel units (smaller = closer to the camera), so points are [x, y, z] pixels.

Shape legend: f - frames, n - landmarks (468 mesh + 10 iris = 478), h w - image size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .opencv import cv2

log = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "assets"
NUM_MESH = 468
NUM_LANDMARKS = 478  # mesh + 5 iris points per eye (centre first), MediaPipe "refined" order
RIGHT_IRIS = slice(468, 473)  # subject's right eye (image left in a frontal photo)
LEFT_IRIS = slice(473, 478)
# eye corners (outer, inner) of the subject's right and left eye in the 468-point mesh
RIGHT_EYE_CORNERS = (33, 133)
LEFT_EYE_CORNERS = (263, 362)

# the iris model's 71 eye points (lid contours, halos around them, brow) as face-mesh indices, for
# the subject's right eye (corners 33, 133) and left eye (263, 362), MediaPipe's
# `update_face_landmarks_calculator.cc` order (Apache-2.0)
EYE_REFINE_RIGHT = (
    33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173,  # lower, upper lid
    130, 25, 110, 24, 23, 22, 26, 112, 243, 247, 30, 29, 27, 28, 56, 190,
    226, 31, 228, 229, 230, 231, 232, 233, 244, 113, 225, 224, 223, 222, 221, 189,
    35, 124, 46, 53, 52, 65, 143, 111, 117, 118, 119, 120, 121, 128, 245, 156, 70, 63, 105, 66, 107, 55, 193,
)  # fmt: skip
EYE_REFINE_LEFT = (
    263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398,
    359, 255, 339, 254, 253, 252, 256, 341, 463, 467, 260, 259, 257, 258, 286, 414,
    446, 261, 448, 449, 450, 451, 452, 453, 464, 342, 445, 444, 443, 442, 441, 413,
    265, 353, 276, 283, 282, 295, 372, 340, 346, 347, 348, 349, 350, 357, 465, 383, 300, 293, 334, 296, 336, 285, 417,
)  # fmt: skip
# how many of those 71 replace the mesh's own points (16: the lid contours)
EYE_REFINE_COUNT = 16

# several detections: the runner-up must be this much smaller (area) for the choice to be clear
AMBIGUOUS_FACE_AREA_RATIO = 0.5


def _interpreter(name: str):
    from ai_edge_litert.interpreter import Interpreter

    path = ASSETS / f"{name}.tflite"
    if not path.is_file():
        raise FileNotFoundError(f"face model {path} is missing; reinstall the node pack (see face/assets/README.md)")
    it = Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    return it


def _ssd_anchors() -> np.ndarray:
    """BlazeFace short-range anchors [896, 2] (x, y centres in 0..1): strides 8, 16, 16, 16,
    two anchors per cell on the 16x16 map and six on the 8x8 map (layers sharing a stride merge)."""
    out = []
    for stride, per_cell in ((8, 2), (16, 6)):
        fm = 128 // stride
        ys, xs = np.mgrid[0:fm, 0:fm]
        centres = np.stack([(xs + 0.5) / fm, (ys + 0.5) / fm], -1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


@dataclass(frozen=True)
class Roi:
    """A rotated square crop: centre (px), side (px) and angle of its x axis in the image (rad)."""

    cx: float
    cy: float
    size: float
    angle: float

    def crop_to_image(self, out_size: int) -> np.ndarray:
        """2x3 affine matrix mapping crop pixel coords (0..out_size) to image pixel coords."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        k = self.size / out_size
        # image = centre + R @ (k * (u, v) - size / 2)
        a = np.array([[c * k, -s * k], [s * k, c * k]])
        t = np.array([self.cx, self.cy]) - a @ np.array([out_size / 2, out_size / 2])
        return np.concatenate([a, t[:, None]], 1)


def _crop(image: np.ndarray, roi: Roi, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    m = roi.crop_to_image(out_size)
    crop = cv2.warpAffine(
        image, m, (out_size, out_size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT
    )
    return crop, m


def _uncrop(points: np.ndarray, m: np.ndarray, roi: Roi, out_size: int) -> np.ndarray:
    """Crop-space [n, 3] points -> image space; z scaled like x, y."""
    out = np.empty_like(points)
    out[:, :2] = points[:, :2] @ m[:, :2].T + m[:, 2]
    out[:, 2] = points[:, 2] * (roi.size / out_size)
    return out


def _roi_from_points(points: np.ndarray, a: int, b: int, scale: float) -> Roi:
    """Square ROI around `points` [n, 2], rotated so the line from point a to point b is horizontal."""
    d = points[b] - points[a]
    angle = float(np.arctan2(d[1], d[0]))
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, s], [-s, c]])  # image -> rotated frame
    q = points @ rot.T
    lo, hi = q.min(0), q.max(0)
    centre = ((lo + hi) / 2) @ rot  # rotated frame -> image
    size = float((hi - lo).max() * scale)
    return Roi(float(centre[0]), float(centre[1]), size, angle)


@dataclass
class Detection:
    box: np.ndarray  # [4] x0, y0, x1, y1 in pixels
    keypoints: np.ndarray  # [6, 2] right eye, left eye, nose, mouth, right ear, left ear (pixels)
    score: float

    @property
    def area(self) -> float:
        return float((self.box[2] - self.box[0]) * (self.box[3] - self.box[1]))


class FaceLandmarker:
    """Detect a face, then track its 478 landmarks frame to frame (detector re-runs only when
    tracking is lost), like MediaPipe FaceMesh with refine_landmarks=True.

    Not thread-safe: one instance per thread (the LiteRT interpreters keep state).
    """

    def __init__(self, min_detection_score: float = 0.5, min_presence_logit: float = 0.0, refine_eyes: bool = True):
        self.detector = _interpreter("face_detection_short_range")
        self.mesh = _interpreter("face_landmark")
        self.iris = _interpreter("iris_landmark")
        self.anchors = _ssd_anchors()
        self.min_detection_score = min_detection_score
        self.min_presence_logit = min_presence_logit
        self.refine_eyes = refine_eyes
        self._roi: Roi | None = None

    def reset(self) -> None:
        """Forget the tracked face (call between unrelated clips)."""
        self._roi = None

    # -- detection -------------------------------------------------------------------------
    def detect(self, image: np.ndarray) -> list[Detection]:
        """All faces in an RGB uint8 image [h, w, 3], best first, after non-maximum suppression."""
        h, w = image.shape[:2]
        side = max(h, w)
        # letterbox to a square so the 128x128 input keeps the aspect ratio
        pad = np.zeros((side, side, 3), np.uint8)
        pad[:h, :w] = image
        x = cv2.resize(pad, (128, 128), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1.0
        det = self.detector
        det.set_tensor(det.get_input_details()[0]["index"], x[None])
        det.invoke()
        outs = {d["name"]: det.get_tensor(d["index"]) for d in det.get_output_details()}
        raw, logits = outs["regressors"][0], outs["classificators"][0, :, 0]  # [896, 16], [896]
        scores = 1 / (1 + np.exp(-np.clip(logits, -80, 80)))
        keep = np.nonzero(scores >= self.min_detection_score)[0]
        if keep.size == 0:
            return []
        raw, scores = raw[keep] / 128.0, scores[keep]
        anc = self.anchors[keep]
        cxy = raw[:, :2] + anc
        wh = raw[:, 2:4]
        boxes = np.concatenate([cxy - wh / 2, cxy + wh / 2], 1) * side  # [k, 4]
        kps = (raw[:, 4:16].reshape(-1, 6, 2) + anc[:, None]) * side  # [k, 6, 2]
        return self._nms(boxes, kps, scores)

    @staticmethod
    def _nms(boxes: np.ndarray, kps: np.ndarray, scores: np.ndarray, iou_thr: float = 0.3) -> list[Detection]:
        """Weighted NMS (MediaPipe's blending variant): overlapping boxes are averaged by score."""
        order = np.argsort(-scores)
        out: list[Detection] = []
        used = np.zeros(len(scores), bool)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        for i in order:
            if used[i]:
                continue
            xx0 = np.maximum(boxes[i, 0], boxes[:, 0])
            yy0 = np.maximum(boxes[i, 1], boxes[:, 1])
            xx1 = np.minimum(boxes[i, 2], boxes[:, 2])
            yy1 = np.minimum(boxes[i, 3], boxes[:, 3])
            inter = np.clip(xx1 - xx0, 0, None) * np.clip(yy1 - yy0, 0, None)
            iou = inter / (area[i] + area - inter + 1e-9)
            group = np.nonzero((iou >= iou_thr) & ~used)[0]
            used[group] = True
            wgt = scores[group] / scores[group].sum()
            out.append(Detection(boxes[group].T @ wgt, np.einsum("k,kij->ij", wgt, kps[group]), float(scores[i])))
        return out

    # -- landmarks -------------------------------------------------------------------------
    def _mesh_in_roi(self, image: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        crop, m = _crop(image, roi, 192)
        it = self.mesh
        it.set_tensor(it.get_input_details()[0]["index"], (crop.astype(np.float32) / 255.0)[None])
        it.invoke()
        outs = {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}
        pts = outs["conv2d_21"].reshape(NUM_MESH, 3)
        return _uncrop(pts, m, roi, 192), float(outs["conv2d_31"].reshape(()))

    def _iris(
        self, image: np.ndarray, mesh: np.ndarray, corners: tuple[int, int], flip: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """5 iris points [5, 3] (centre first) and 71 eye points [71, 3] (lids, halos, brow) of one
        eye. The model expects an eye with its outer corner on the crop's left, as the subject's
        right eye (points 33 -> 133) appears in a frontal image; the left eye's crop (362 -> 263,
        inner corner left) is mirrored, as MediaPipe does. (Fed the other way round the iris
        centre is still fine, but the 71 contour points come out mirrored.)"""
        a, b = mesh[corners[0], :2], mesh[corners[1], :2]
        d, c = b - a, (a + b) / 2
        roi = Roi(float(c[0]), float(c[1]), float(np.hypot(*d) * 2.3), float(np.arctan2(d[1], d[0])))
        crop, m = _crop(image, roi, 64)
        if flip:
            crop = crop[:, ::-1]
        it = self.iris
        it.set_tensor(it.get_input_details()[0]["index"], np.ascontiguousarray(crop, dtype=np.float32)[None] / 255.0)
        it.invoke()
        outs = {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}
        pts = outs["output_iris"].reshape(5, 3).copy()
        eye = outs["output_eyes_contours_and_brows"].reshape(71, 3).copy()
        if flip:
            pts[:, 0] = 64 - pts[:, 0]
            eye[:, 0] = 64 - eye[:, 0]
        return _uncrop(pts, m, roi, 64), _uncrop(eye, m, roi, 64)

    def _choose(self, dets: list[Detection], where: str) -> Detection | None:
        if not dets:
            return None
        dets = sorted(dets, key=lambda d: -d.area)
        if len(dets) > 1 and dets[1].area >= AMBIGUOUS_FACE_AREA_RATIO * dets[0].area:
            raise ValueError(
                f"several faces of similar size found in {where} ({len(dets)} faces, areas "
                f"{', '.join(f'{d.area:.0f}' for d in dets[:3])} px^2): crop the video to one person"
            )
        return dets[0]

    def __call__(self, image: np.ndarray, where: str = "the frame") -> np.ndarray | None:
        """478 landmarks [n, 3] (pixels) of the face in an RGB uint8 image, or None if no face."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"{where}: expected an RGB image [H, W, 3], got shape {image.shape}")
        image = np.ascontiguousarray(image)
        mesh = None
        if self._roi is not None:
            mesh, logit = self._mesh_in_roi(image, self._roi)
            if logit < self.min_presence_logit:
                mesh = None
        if mesh is None:
            det = self._choose(self.detect(image), where)
            if det is None:
                self._roi = None
                return None
            # eyes horizontal, side 1.5x the box (MediaPipe's detection-to-ROI rule)
            d = det.keypoints[1] - det.keypoints[0]
            c = (det.box[:2] + det.box[2:]) / 2
            size = float(max(det.box[2] - det.box[0], det.box[3] - det.box[1]) * 1.5)
            mesh, logit = self._mesh_in_roi(image, Roi(float(c[0]), float(c[1]), size, float(np.arctan2(d[1], d[0]))))
            if logit < self.min_presence_logit:
                self._roi = None
                return None
        # next frame's ROI from this frame's mesh (eye line 33 -> 263 horizontal)
        self._roi = _roi_from_points(mesh[:, :2], RIGHT_EYE_CORNERS[0], LEFT_EYE_CORNERS[0], 1.5)
        iris_r, eye_r = self._iris(image, mesh, RIGHT_EYE_CORNERS, flip=False)
        iris_l, eye_l = self._iris(image, mesh, LEFT_EYE_CORNERS[::-1], flip=True)
        if self.refine_eyes:
            # the eye model sees the lids at 64x64 per eye, far sharper than the 192x192 face
            # mesh (which barely follows a blink): its lid contours replace the mesh's, in x, y
            k = EYE_REFINE_COUNT
            mesh = mesh.copy()
            mesh[list(EYE_REFINE_RIGHT[:k]), :2] = eye_r[:k, :2]
            mesh[list(EYE_REFINE_LEFT[:k]), :2] = eye_l[:k, :2]
        return np.concatenate([mesh, iris_r, iris_l]).astype(np.float32)
