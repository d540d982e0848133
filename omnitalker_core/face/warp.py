"""Moving the photograph with the face mesh: control points, a triangulated flow field, its inverse.

Why this way: it must run in real time on a laptop CPU with no trained weights, and hold the
background still while the face moves.

1. control points = the face mesh + iris, a ring just outside the face that moves rigidly with
   the head (hair, ears), a wider static ring and the image border (background stays put);
2. their source positions are triangulated once (Delaunay); every pixel of a (half-resolution)
   flow grid gets its triangle's 3 vertex ids and barycentric weights, so a frame's forward flow
   is one gather + weighted sum (no per-triangle loop);
3. the forward flow is inverted by fixed-point iteration (p = q - flow(p)), and the portrait is
   sampled once at full resolution: with `grid_sample` (torch, any device) or `cv2.remap` (CPU);
4. around the mouth the flow is too steep for that iteration (an opening jaw stretches a sliver
   of lip line into the whole mouth, and the iteration bounces there: dark, jagged "fangs" at
   the corners). There the inverse is made exact: each pixel of a box around the mouth starts
   from the triangle its approximate source position lies in and walks across the mesh (at the
   destination) to the triangle that covers it, whose affine map takes it back to the portrait (a
   walk that circles, where the moved mesh is far from Delaunay, goes on over any edge the pixel lies
   beyond; the few still lost are located among the triangles near them); the box's rim blends into
   the smooth map.

With zero motion every displacement is exactly zero, so the output equals the portrait.

Shape legend: f - frames, p - control points, h w - image, g - flow grid pixels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import Delaunay

from . import canonical as C
from .portrait_fit import FittedFace

# the exact-inverse box: the lips' bounding box grown by this much (inter-ocular units), and the
# rim (pixels) over which it blends into the smooth map
EXACT_MARGIN = 0.3
EXACT_RIM = 4.0
EXACT_WALK = 10  # steps from triangle to triangle across the edge a pixel lies furthest beyond
EXACT_WALK_MAX = 60  # ... and in all
LIPS = list(C.UPPER_LIP_OUTER + C.LOWER_LIP_OUTER)


class MeshWarp:
    """Control points of one fitted portrait [width x height] and the flow field they span."""

    def __init__(self, face: FittedFace, width: int, height: int, down: int, device: torch.device):
        self.face = face
        self.width, self.height = width, height
        self.device = device
        self._build_control_points()
        self._build_flow_grid(down)
        self.map_x, self.map_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))

    # -- set-up ------------------------------------------------------------------------------
    def _build_control_points(self) -> None:
        face = self.face
        head = face.head
        oval = head[list(C.FACE_OVAL)]  # o 3
        centre = head[: C.NUM_MESH].mean(0)
        # rigid ring (hair, ears): 25% outside the face oval, same depth as the oval
        ring = oval.copy()
        ring[:, :2] = centre[:2] + 1.25 * (oval[:, :2] - centre[:2])
        self.ring_head = ring
        # below the chin line the ring half-follows the head (neck and collar stretch)
        self.ring_follow = np.where(ring[:, 1] > head[C.CHIN, 1] - 0.3, 0.5, 1.0)
        src_face = face.landmarks[:, :2].astype(np.float64)
        src_ring = face.project(ring[None], np.eye(3)[None], np.array([face.s0]), face.t0[None])[0]
        # static ring and image border
        c2 = src_face.mean(0)
        src_far = c2 + 2.2 * (src_face[list(C.FACE_OVAL)] - c2)
        w, h = self.width, self.height
        n = 8
        t = np.linspace(0, 1, n, endpoint=False)
        border = np.concatenate(
            [
                np.stack([t * w, np.zeros(n)], 1),
                np.stack([np.full(n, w), t * h], 1),
                np.stack([w - t * w, np.full(n, h)], 1),
                np.stack([np.zeros(n), h - t * h], 1),
            ]
        )
        border = (border - [w / 2, h / 2]) * 1.02 + [w / 2, h / 2]  # just outside the image
        self.n_face, self.n_ring = len(src_face), len(src_ring)
        self.src = np.concatenate([src_face, src_ring, src_far, border]).astype(np.float64)  # p 2

    def _build_flow_grid(self, down: int) -> None:
        gh, gw = max(1, self.height // down), max(1, self.width // down)
        self.grid_hw = (gh, gw)
        ys = (np.arange(gh) + 0.5) * self.height / gh
        xs = (np.arange(gw) + 0.5) * self.width / gw
        q = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)  # g 2 (pixel-centre coordinates)
        tri = Delaunay(self.src)
        self.simplices, self.neighbors = tri.simplices, tri.neighbors
        # triangle ids of the portrait's pixels around the mouth (start of the exact inverse's walk)
        m = (EXACT_MARGIN + 0.4) * self.face.s0
        lips = self.src[LIPS]
        bx0, by0 = np.maximum(np.floor(lips.min(0) - m), 0).astype(int)
        bx1, by1 = np.minimum(np.ceil(lips.max(0) + m), [self.width, self.height]).astype(int)
        self.id_box = (int(bx0), int(by0), int(max(bx1, bx0 + 1)), int(max(by1, by0 + 1)))
        gx, gy = np.meshgrid(np.arange(bx0, self.id_box[2]) + 0.5, np.arange(by0, self.id_box[3]) + 0.5)
        self.id_map = tri.find_simplex(np.stack([gx, gy], -1).reshape(-1, 2)).reshape(gx.shape)
        simplex = tri.find_simplex(q)
        inside = simplex >= 0
        simplex = np.where(inside, simplex, 0)
        trans = tri.transform[simplex]  # g 3 2
        b2 = np.einsum("gij,gj->gi", trans[:, :2], q - trans[:, 2])
        bary = np.concatenate([b2, 1 - b2.sum(1, keepdims=True)], 1) * inside[:, None]  # g 3
        self.tri_idx = torch.from_numpy(tri.simplices[simplex].astype(np.int64)).to(self.device)  # g 3
        self.tri_w = torch.from_numpy(bary.astype(np.float32)).to(self.device)  # g 3
        import scipy.sparse as sp

        rows = np.repeat(np.arange(len(q)), 3)
        self.bary_csr = sp.csr_matrix(
            (bary.reshape(-1).astype(np.float32), (rows, tri.simplices[simplex].reshape(-1))),
            shape=(len(q), len(self.src)),
        )
        self.src_t = torch.from_numpy(self.src.astype(np.float32)).to(self.device)
        self.px_to_norm = torch.tensor([2.0 / self.width, 2.0 / self.height], device=self.device)
        self.q_grid = pixel_grid(gh, gw, self.device)
        self.q_full = pixel_grid(self.height, self.width, self.device)

    # -- per frame ---------------------------------------------------------------------------
    def control_points(self, codes: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Destination image positions [f, p, 2] of all control points for codes [f, 61]."""
        face, pose = self.face.points(codes, base)  # f 478 2
        f = len(codes)
        ring_rigid = self.face.project(np.broadcast_to(self.ring_head, (f,) + self.ring_head.shape), *pose)
        ring_src = self.src[self.n_face : self.n_face + self.n_ring]
        ring = ring_src + self.ring_follow[None, :, None] * (ring_rigid - ring_src)
        rest = np.broadcast_to(
            self.src[self.n_face + self.n_ring :], (f,) + self.src[self.n_face + self.n_ring :].shape
        )
        return np.concatenate([face, ring, rest], 1)

    def backward_grid(self, dst: torch.Tensor) -> torch.Tensor:
        """Sampling grid [f, h, w, 2] (normalised, for grid_sample) from control points [f, p, 2]."""
        f = dst.shape[0]
        gh, gw = self.grid_hw
        disp = dst - self.src_t[None]  # f p 2
        flow = (disp[:, self.tri_idx] * self.tri_w[None, :, :, None]).sum(2)  # f g 2 (pixels)
        flow = flow.reshape(f, gh, gw, 2) * self.px_to_norm  # f gh gw 2, normalised units
        flow_c = flow.permute(0, 3, 1, 2)  # f 2 gh gw
        q = self.q_grid  # 1 gh gw 2
        # invert the forward flow on the coarse grid: p = q - flow(p), a few fixed-point steps
        p = q - flow
        for _ in range(2):
            p = q - F.grid_sample(flow_c, p, mode="bilinear", padding_mode="border", align_corners=False).permute(
                0, 2, 3, 1
            )
        if (gh, gw) != (self.height, self.width):
            back = (p - q).permute(0, 3, 1, 2)  # f 2 gh gw: backward displacement, smooth
            back = F.interpolate(back, size=(self.height, self.width), mode="bilinear", align_corners=False)
            p = self.q_full + back.permute(0, 2, 3, 1)
        dst_np = dst.cpu().numpy().astype(np.float64)
        half = torch.tensor([self.width / 2.0, self.height / 2.0], device=p.device, dtype=p.dtype)
        for i in range(f):
            box = self.exact_box(dst_np[i])
            if box is None:
                continue
            x0, y0, x1, y1 = box
            approx = ((p[i, y0:y1, x0:x1] + 1) * half).cpu().numpy().astype(np.float64)  # image coordinates
            src = torch.from_numpy(self.exact_inverse(dst_np[i], box, approx)).to(p)
            p[i, y0:y1, x0:x1] = src / half - 1
        return p

    def exact_box(self, dst: np.ndarray) -> tuple[int, int, int, int] | None:
        """Box (x0, y0, x1, y1) around the mouth for one frame's control points [p, 2] where the
        inverse is made exact; None when the mouth did not move (or is out of view)."""
        lips = dst[LIPS]
        if np.array_equal(lips, self.src[LIPS]):
            return None
        # where the lips are and where they came from: rounded lips pull the corners of a wide mouth in by
        # a third of its width, and the cheek they leave is as steep as the opening (the smooth map's two
        # fixed-point steps left round blotches of stretched mouth corner there)
        lips = np.concatenate([lips, self.src[LIPS]])
        m = EXACT_MARGIN * self.face.s0
        x0, y0 = np.floor(lips.min(0) - m).astype(int)
        x1, y1 = np.ceil(lips.max(0) + m).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.width), min(y1, self.height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        return int(x0), int(y0), int(x1), int(y1)

    @staticmethod
    def _locate(
        v: np.ndarray, e1: np.ndarray, e2: np.ndarray, det: np.ndarray, q: np.ndarray, chunk: int = 256
    ) -> tuple[np.ndarray, np.ndarray]:
        """For points q [n, 2]: the triangle of v [T, 3, 2] (edges e1, e2 [T, 2] from vertex 0, determinants
        det [T]) each lies deepest inside (or, outside the mesh, least outside) and its barycentric weights
        [n, 3]. Brute force over the triangles whose bounding box meets each tile of points, for the few points
        a walk loses."""
        usable = np.abs(det) > 1e-6
        lo, hi = v.min(1), v.max(1)  # T 2: each triangle's bounding box
        tile = np.floor(q / 16).astype(np.int64)
        order = np.lexsort((tile[:, 0], tile[:, 1]))  # chunks of nearby points: few triangles near each
        t_out, b_out = np.zeros(len(q), np.int64), np.zeros((len(q), 3))
        for s in range(0, len(q), chunk):
            idx = order[s : s + chunk]
            qc = q[idx]
            near = usable & (lo <= qc.max(0)).all(1) & (hi >= qc.min(0)).all(1)
            cand = np.nonzero(near)[0] if near.any() else np.nonzero(usable)[0]
            b = _barycentric(qc[:, None], v[None, cand, 0], e1[cand], e2[cand], det[cand])  # n c 3
            best = b.min(-1).argmax(1)
            t_out[idx], b_out[idx] = cand[best], b[np.arange(len(best)), best]
        return t_out, b_out

    def exact_inverse(self, dst: np.ndarray, box: tuple[int, int, int, int], approx: np.ndarray) -> np.ndarray:
        """Source positions [hb, wb, 2] (image coordinates) of the pixels of `box`, the exact inverse of
        the piecewise-affine mesh map for control points dst [p, 2], blended into `approx` [hb, wb, 2]
        (the smooth map's source positions) over the box's rim."""
        x0, y0, x1, y1 = box
        gx, gy = np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
        q = np.stack([gx, gy], -1).reshape(-1, 2)
        # start: the triangle the approximate source position lies in (portrait pixels' triangle ids)
        bx0, by0, bx1, by1 = self.id_box
        ax = np.clip(approx[..., 0].reshape(-1).astype(int), bx0, bx1 - 1) - bx0
        ay = np.clip(approx[..., 1].reshape(-1).astype(int), by0, by1 - 1) - by0
        t = self.id_map[ay, ax]
        t = np.where(t >= 0, t, 0)
        v = dst[self.simplices]  # T 3 2, the triangles where they are now
        e1, e2 = v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]
        det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
        det = np.where(np.abs(det) > 1e-9, det, 1e-9)

        def bary(t: np.ndarray, q: np.ndarray) -> np.ndarray:
            return _barycentric(q, v[t, 0], e1[t], e2[t], det[t])

        b = bary(t, q)
        todo = np.arange(len(q))
        rng = np.random.default_rng(0)  # our own: the process's RNG stays untouched
        for step in range(EXACT_WALK_MAX):  # walk towards the pixel: across the edge it lies beyond
            out = b[todo].min(1) < -1e-9
            todo = todo[out]
            if not len(todo):
                break
            if step < EXACT_WALK:  # the edge it lies furthest beyond ...
                edge = b[todo].argmin(1)
            else:  # ... then any edge it lies beyond: a walk that circles (the moved mesh is far from Delaunay) ends
                edge = np.argmax((b[todo] < -1e-9) * rng.random((len(todo), 3)), 1)
            nt = self.neighbors[t[todo], edge]
            moved = nt >= 0
            todo = todo[moved]
            t[todo] = nt[moved]
            b[todo] = bary(t[todo], q[todo])
        lost = np.nonzero(b.min(1) < -1e-9)[0]
        if len(lost):  # still lost (a fold's far side, the hull): look among the triangles near them
            t[lost], b[lost] = self._locate(v, e1, e2, det, q[lost])
        b = b.clip(0, None)
        b /= np.maximum(b.sum(1, keepdims=True), 1e-12)  # still outside (a fold, the mesh's edge): nearest
        src = np.einsum("nk,nkd->nd", b, self.src[self.simplices[t]]).reshape(y1 - y0, x1 - x0, 2)
        rim = np.minimum(np.minimum(gx - x0, x1 - gx), np.minimum(gy - y0, y1 - gy))
        w = np.clip(rim / EXACT_RIM, 0, 1)[..., None]
        return approx + w * (src - approx)

    def remap(self, portrait: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """CPU path (numpy + OpenCV, fastest there): control points [f, p, 2] -> uint8 [f, h, w, 3]."""
        return self.remap_all([portrait], dst)[0]

    def remap_all(self, images: list[np.ndarray], dst: np.ndarray) -> list[np.ndarray]:
        """`remap` of several images of the portrait's size ([h, w] or [h, w, c]) along the same warp: each
        [f, h, w, ...] (the portrait with a mask of it, one inverse warp for both)."""
        from .opencv import cv2

        f = len(dst)
        gh, gw = self.grid_hw
        disp = (dst - self.src[None]).astype(np.float32)  # f p 2
        flow = self.bary_csr @ disp.transpose(1, 0, 2).reshape(len(self.src), f * 2)  # g (f*2), pixels
        flow = flow.reshape(gh, gw, f, 2).transpose(2, 0, 1, 3)  # f gh gw 2
        kx, ky = gw / self.width, gh / self.height  # full-res pixels -> coarse grid index units
        qx, qy = np.meshgrid(np.arange(gw, dtype=np.float32), np.arange(gh, dtype=np.float32))
        out = [np.empty((f, self.height, self.width) + im.shape[2:], im.dtype) for im in images]
        for i in range(f):  # one remap chain per frame
            fl = np.ascontiguousarray(flow[i])
            # invert p = q - flow(p) on the coarse grid (coarse index units)
            bx, by = -fl[..., 0] * kx, -fl[..., 1] * ky
            for _ in range(2):
                s_ = cv2.remap(fl, qx + bx, qy + by, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                bx, by = -s_[..., 0] * kx, -s_[..., 1] * ky
            back = cv2.resize(
                np.stack([bx / kx, by / ky], -1), (self.width, self.height), interpolation=cv2.INTER_LINEAR
            )
            box = self.exact_box(dst[i])
            if box is not None:
                x0, y0, x1, y1 = box
                q = np.stack(np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5), -1)
                src = self.exact_inverse(dst[i].astype(np.float64), box, q + back[y0:y1, x0:x1])
                back[y0:y1, x0:x1] = src - q
            mx, my = self.map_x + back[..., 0], self.map_y + back[..., 1]
            for im, o in zip(images, out):
                o[i] = cv2.remap(im, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return out


def _barycentric(q: np.ndarray, v0: np.ndarray, e1: np.ndarray, e2: np.ndarray, det: np.ndarray) -> np.ndarray:
    """Weights [..., 3] of points q [..., 2] in triangles with vertex 0 at v0 [..., 2], edges e1, e2 [..., 2]
    from it and determinant det [...] (all broadcast)."""
    r = q - v0
    b1 = (r[..., 0] * e2[..., 1] - r[..., 1] * e2[..., 0]) / det
    b2 = (e1[..., 0] * r[..., 1] - e1[..., 1] * r[..., 0]) / det
    return np.stack([1 - b1 - b2, b1, b2], -1)  # weights of the triangle's vertices 0, 1, 2


def pixel_grid(h: int, w: int, device: torch.device) -> torch.Tensor:
    """Normalised (align_corners=False) coordinates of pixel centres, [1, h, w, 2] as (x, y)."""
    ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h, device=device)
    xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w, device=device)
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)[None]
