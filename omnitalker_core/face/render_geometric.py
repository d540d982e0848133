"""Geometric renderer (weightless): portrait + per-frame motion codes -> frames.

Why this design: it must work on any portrait with no trained weights and run in real time on
a laptop CPU. The portrait's 478 landmarks are fitted once by the tracker (pose, expression,
identity); each frame re-poses and re-expresses that fitted mesh with the rig and warps the
photograph along with it, then paints what a warp cannot make. One module per part:

- `portrait_fit`: the portrait's fitted face, and its points under a code;
- `warp`: control points, triangulated flow field and its inverse (torch or OpenCV back-end);
- `lids`: upper lids painted over the eye when it closes past the portrait's lid;
- `mouth`: the mouth interior when the lips part past the portrait's opening.

With zero motion (codes equal to the base code) every displacement is exactly zero, so the
output equals the portrait: no jitter at rest.

Limits: the mesh is a frontal face. A face turned (yaw) past YAW_WARN_DEG, in the portrait or
in a rendered frame, has its far half hidden or folded over: the portrait's far mouth corner
lies in the background and the warp drags that along. Such a portrait or code gets a
`FaceTurnedWarning` naming the angle; a portrait turned past YAW_MAX_DEG is refused (ValueError).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .. import motion
from .eyeballs import EyeBalls, without_gaze
from .lids import EyeLids
from .mouth import ROUNDING_CHANNELS, Mouth, close_field, close_room, rounding_fields, seal_field, shut_ahead
from .portrait_fit import FittedFace, as_codes, fit_portrait
from .rig import FaceRig, euler_to_matrix, matrix_to_euler
from .tracker import RigFitter
from .warp import MeshWarp

__all__ = ["FaceTurnedWarning", "GeometricRenderer", "fit_portrait"]

log = logging.getLogger(__name__)

YAW_WARN_DEG = 30.0  # past this the frontal mesh no longer fits the far half of the face
YAW_MAX_DEG = 60.0  # past this a portrait is refused
# bumped whenever what a code looks like changes; renders cached for training (train_appearance) carry it
# 2: lids painted in the skin colour, not a glasses rim's or brow's; 3: gaze drawn by sliding the eye's contents;
# 4: mouthClose = jawOpen shuts the lips (`mouth.seal_field`); 5: mouthRoll* thin the lip instead of lifting it
# (`rig._Builder.lip_roll`); 6: the roll fades out towards the mouth corners (no seam there); 7: the opening's
# lower rim and corners shaded lip, not black, and its ends anti-aliased; 8: the rim never near-black on dark lips
# and fading into the mouth, the opening's contours smooth (no polygon), mouthClose past closed lips stops there;
# 9: the mouth layer fades in with rounding as well as with the opening's height; 10: pixels the inverse warp's walk
# lost are located among all triangles (no streaks and specks along the cheeks and the jaw); 11: both irises turn
# at the face's mean depth in front of their eyeballs (`FittedFace.iris_depth`); 12: rounded lips gather no dark or
# grey ring (the gathered mouth corners become the band's lip colour over a smoothed mask; the opening's rim is red);
# 13: an open mouth narrowing shows the portrait's own mouth, squeezed by the warp at first, then hanging from the
# upper lip (no flat band of drawn teeth), and mouthClose 1 shuts lips parted wider than the rig closes them;
# 14: the portrait's own teeth behind rounded lips are in the lips' shade, as drawn ones are; 15: rounded lips' band is
# cleaned to past the outer lip contour (the painted box no longer cuts it off in a straight line); 16: a portrait's own
# open mouth stays as the jaw drops (upper teeth hanging from the upper lip, tongue and lower teeth standing on the
# lower one, the dark gap between them growing) instead of drawn teeth over it; 17: the iris's shift up and down is
# bounded smoothly (`eyeballs._saturated`), so a half-shut eye that looks further up or down moves its iris further;
# 18: rounded lips clean wherever the portrait's own opening lands (`Mouth.own_opening`, warped with the photograph),
# not only in a band past the outer lip contour (a smile's gathered corners left a grey outline around a round mouth),
# and a portrait enlarged to the output size is bicubic (`opencv.resize`), not nearest-neighbour blocks; 19: a pucker
# shuts parted lips ahead of its rounding (`mouth.shut_ahead`), so pucker 0.5 is no longer funnel 0.5's half-open O;
# the rim of every opening is the lip's wet inside, red at its shaded luminance (a pale lip's was a grey outline);
# 20: drawn upper teeth fill at most half of a narrow opening and stop short of its corners, the lower rim and the
# lower teeth fit inside it (lips parted a little were a grey tube of teeth from lip to lip); 21: rounded lips on a
# mouth that shows nothing keep their own texture (their band was cleaned into a flat patch with hard edges); 22: rounded
# lips keep their area (`mouth.POUT_MAX`): a pucker pouts instead of pressing the lips into a thin line; 23: closing
# lips' band takes the lips' colour from the cleaned band (`Mouth._wings`) and reaches the opening's anti-aliased ends
# (the speaking Obama's open mouth, squeezed above his lip line, was copied into it as a jagged dark line; closed and
# puckered lips had black dots at their ends), and a frame is drawn the same whatever frames share its batch (narrowing
# lips' band was cleaned only as far as the batch's box reached; a barely closing lid or turning iris was drawn only
# beside frames that moved theirs); a portrait's own teeth are lighter than its lips (pale lips pressed together were
# taken for teeth, and an opening jaw drew their lip colour where teeth belong)
RENDER_REVISION = 23


class FaceTurnedWarning(UserWarning):
    """The face is turned further than the geometric renderer's frontal mesh can follow."""


def _warn_turned(message: str) -> None:
    warnings.warn(message, FaceTurnedWarning, stacklevel=3)


class GeometricRenderer:
    """Animate one portrait with 61-D motion codes.

    portrait: RGB uint8 [H, W, 3]. size: output (width, height) or None for the portrait's size.
    base_codes: the code [61] the portrait itself shows (e.g. its tracked code in the reference
    video); codes are rendered relative to it. None: codes are offsets from the portrait (all
    zeros = the portrait unchanged).
    """

    def __init__(
        self,
        portrait: np.ndarray,
        size: tuple[int, int] | None = None,
        base_codes: np.ndarray | None = None,
        device: str | torch.device = "cpu",
        flow_downscale: int = 2,
        landmarks: np.ndarray | None = None,
    ):
        portrait = np.asarray(portrait)
        if portrait.ndim != 3 or portrait.shape[2] != 3 or portrait.dtype != np.uint8:
            raise ValueError(f"portrait must be an RGB uint8 image [H, W, 3], got {portrait.dtype} {portrait.shape}")
        if size is not None and tuple(size) != (portrait.shape[1], portrait.shape[0]):
            from .opencv import resize

            portrait = resize(portrait, size)
        self.height, self.width = portrait.shape[:2]
        self.device = torch.device(device)
        self.rig = FaceRig.default()
        if landmarks is None:
            pts, fit = fit_portrait(portrait)
        else:
            pts = np.asarray(landmarks, np.float32)
            fit = RigFitter().fit(pts[None])
        self.landmarks = pts  # [478, 3]
        self.fit = fit
        # the code the portrait shows; a plain attribute (callers may set it after construction)
        self.base = (
            np.zeros(motion.MOTION_DIM, np.float32) if base_codes is None else as_codes(np.asarray(base_codes)[None])[0]
        )
        self.face = FittedFace(pts, fit, self.rig)
        self.yaw_deg = float(np.degrees(matrix_to_euler(self.face.r0)[1]))  # the portrait's own head turn
        if abs(self.yaw_deg) > YAW_MAX_DEG:
            raise ValueError(
                f"the portrait's face is turned {self.yaw_deg:+.0f} degrees (yaw); the geometric renderer needs a face "
                f"within {YAW_MAX_DEG:.0f} degrees of frontal (best within {YAW_WARN_DEG:.0f}): use a more frontal photo"
            )
        if abs(self.yaw_deg) > YAW_WARN_DEG:
            _warn_turned(
                f"the portrait's face is turned {self.yaw_deg:+.0f} degrees (yaw), past the {YAW_WARN_DEG:.0f} degrees "
                "the geometric renderer's frontal face mesh fits: the far side of the mouth and face will be misplaced; "
                "use a more frontal photo"
            )
        self._warned_turn = abs(self.yaw_deg) > YAW_WARN_DEG
        self.warp = MeshWarp(self.face, self.width, self.height, flow_downscale, self.device)
        self.portrait = np.array(
            portrait, dtype=np.uint8, order="C"
        )  # our own copy: a read-only or shared array stays untouched
        self.lids = EyeLids(self.face, self.portrait)
        self.eyes = EyeBalls(self.face, self.portrait)
        self.mouth = Mouth(self.face, self.portrait)
        self.face.correctives.update(rounding_fields(self.face.head, self.rig.basis))
        self.face.shut_ahead.update(shut_ahead(self.face.correctives))
        self.face.close_extra = close_field(self.face.head, self.rig.basis)
        self.face.seal = seal_field(self.face.head, self.rig.basis, self.face.close_extra)
        self.face.close_room = close_room(self.face.head, self.rig.basis, self.face.close_extra)
        self.image = torch.from_numpy(self.portrait).to(self.device).permute(2, 0, 1)[None].float() / 255.0  # 1 3 h w
        # the portrait's own mouth opening is warped with the photograph where lips round (a 4th channel here, a
        # second image on the CPU path), so the mouth finds it wherever the warp puts it (`Mouth.own_opening`)
        self._image_own = None  # 1 4 h w
        if self.mouth.tex is not None:
            own = torch.from_numpy(self.mouth.own_opening).to(self.device)[None, None].float() / 255.0
            self._image_own = torch.cat([self.image, own], 1)

    @property
    def s0(self) -> float:
        """Pixels per inter-ocular unit of the portrait's face."""
        return self.face.s0

    def drawn_codes(self, codes: np.ndarray | torch.Tensor) -> np.ndarray:
        """Codes [f, 61] as this face draws them (`FittedFace.drawn`): the value a frame shows, which is what
        tracking a render can read back."""
        c = as_codes(codes)
        return (self.base[None] + self.face.drawn(c - self.base[None])).astype(np.float32)

    def control_points(self, codes: np.ndarray) -> np.ndarray:
        """Destination image positions [f, p, 2] of all control points for codes [f, 61]; the irises stay where the
        portrait has them (the gaze is drawn by `eyeballs`)."""
        self._check_turn(codes)
        return self.mouth.contact(self.warp.control_points(without_gaze(codes, self.base), self.base))

    def _check_turn(self, codes: np.ndarray) -> None:
        """Warn (once per renderer) when codes turn the head past YAW_WARN_DEG."""
        if self._warned_turn or not len(codes):
            return
        d = codes[:, 51:54] - self.base[51:54]
        yaw = np.degrees(matrix_to_euler(euler_to_matrix(d[:, 0], d[:, 1], d[:, 2]) @ self.face.r0)[:, 1])
        worst = int(np.argmax(np.abs(yaw)))
        if abs(yaw[worst]) > YAW_WARN_DEG:
            self._warned_turn = True
            _warn_turned(
                f"the codes turn the face to {yaw[worst]:+.0f} degrees (yaw), past the {YAW_WARN_DEG:.0f} degrees the "
                "geometric renderer's frontal face mesh fits: the far side of the face will fold over"
            )

    def _mouth_args(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The face's scale [f] (image pixels per inter-ocular unit) and the lips' rounding [f] (0..1)."""
        d = codes - self.base[None]
        scale = self.face.s0 * (1 + d[:, 56]).astype(np.float64)
        return scale, np.clip(d[:, ROUNDING_CHANNELS].sum(1), 0.0, 1.0)

    def _with_own_mouth(self, rounding: np.ndarray) -> bool:
        """Warp the portrait's own opening along (`Mouth.own_opening`)? Only rounded lips on a face whose mouth
        shows use it; other frames skip its warp."""
        return self.mouth.tex is not None and bool((rounding > 0).any())

    @torch.inference_mode()
    def render_tensor(self, codes: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Codes [f, 61] -> float frames [f, 3, h, w] in 0..1 on the renderer's device (torch path)."""
        return self.render_with_flow(codes)[0]

    @torch.inference_mode()
    def render_with_flow(self, codes: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames [f, 3, h, w] (0..1) and their backward warp [f, 2, h, w] (normalised offsets of
        the sampling grid from identity): the inputs of the GAN renderer."""
        c = as_codes(codes)
        dst_np = self.control_points(c)  # f p 2
        grid = self.warp.backward_grid(torch.from_numpy(dst_np.astype(np.float32)).to(self.device))
        scale, rounding = self._mouth_args(c)
        image = self._image_own if self._with_own_mouth(rounding) else self.image
        warped = F.grid_sample(
            image.expand(len(c), -1, -1, -1), grid, mode="bilinear", padding_mode="border", align_corners=False
        )
        frames = self.lids.paint(self.eyes.paint(warped[:, :3], c, self.base, dst_np), c, self.base, dst_np)
        own = warped[:, 3:] if warped.shape[1] == 4 else None
        frames = self.mouth.paint(frames, dst_np, scale, rounding, own=own)
        return frames, (grid - self.warp.q_full).permute(0, 3, 1, 2)

    def render_iter(self, codes: np.ndarray | torch.Tensor, batch: int = 8) -> Iterator[np.ndarray]:
        """Yield uint8 frames [b, h, w, 3] in chunks of `batch` (progress bars, cancelling)."""
        c = as_codes(codes)
        for i in range(0, len(c), batch):
            chunk = c[i : i + batch]
            if self.device.type == "cpu":
                dst = self.control_points(chunk)
                scale, rounding = self._mouth_args(chunk)
                own = None
                if self._with_own_mouth(rounding):
                    frames, own = self.warp.remap_all([self.portrait, self.mouth.own_opening], dst)
                else:
                    frames = self.warp.remap(self.portrait, dst)
                frames = self.eyes.paint_uint8(frames, chunk, self.base, dst)
                frames = self.lids.paint_uint8(frames, chunk, self.base, dst)
                yield self.mouth.paint_uint8(frames, dst, scale, rounding, own=own)
            else:
                out = self.render_tensor(chunk)
                yield out.permute(0, 2, 3, 1).mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()

    def render(self, codes: np.ndarray | torch.Tensor, batch: int = 8) -> np.ndarray:
        """Codes [f, 61] -> uint8 frames [f, h, w, 3]."""
        chunks = list(self.render_iter(codes, batch))
        if not chunks:
            return np.zeros((0, self.height, self.width, 3), np.uint8)
        return np.concatenate(chunks)
