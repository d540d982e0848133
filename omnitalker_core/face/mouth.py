"""The mouth: lip contact, and what shows between the lips when they part past the portrait's opening.

Why painted: the warp moves the lips with the mesh (they are never painted over), but between
parted lips it has nothing to move: a closed-mouth portrait has no teeth or cavity, and a
smiling one has only its teeth, which the warp would stretch from lip to lip. So the opening
between the inner lip contours is drawn as a layer, back to front:

- the oral cavity: a dark red-brown gradient, darkest under the upper teeth, at the lower lip
  and towards the corners, lighter between;
- the tongue: a rounded hump rising from behind the lower teeth once the mouth is well open;
- lower teeth: a short, shaded row just above the lower lip, once the mouth is well open;
- upper teeth: the portrait's own (its mouth interior sampled unstretched, hanging from the
  upper lip, with a soft incisal edge) where the portrait shows them, else drawn: crowns with
  faint gaps, shorter and darker towards the corners (the arch turns away), shaded under the lip,
  over half a narrow opening at most, and ending before its dark corners.

A portrait whose mouth is open to speak (upper teeth, a dark gap, tongue and lower teeth: `Mouth._split`)
keeps all of it as the jaw drops: the part above the gap hangs from the upper lip, the tongue and lower
teeth stand on the lower lip (they go with the jaw), and only the dark gap between them is drawn.

The opening's contours run smoothly through the inner-lip landmarks (a shape-preserving cubic):
joined by straight lines, a wide opening was drawn as a polygon.

The lips shade the edges of the opening (they occlude the teeth); the lower lip's inner edge
keeps a rim, the lip's wet inside in shade fading into the mouth. That rim, the soft edge of the
upper teeth and the small, shaded lower teeth and tongue are there for the tracker as much as
for the eye: a landmark model puts the lower
lip where the dark inside meets it, and reads a lit band or a red tongue right at its edge (or a
sharp teeth edge above it) as the lip, so the opening would read smaller than it is (the
mixed-motion round trip in tests/test_face_render.py). Colours come from the portrait: teeth
from its own teeth or a light tone of its skin; cavity and tongue scaled to its lighting, and
grey in a grey photograph. The layer fades in with the change of opening, so a code equal to
the portrait's shows the portrait unchanged. Only the pixels in and near each opening are
computed (flat numpy arrays); the CPU path writes them straight into the uint8 frames.

Lip contact (`Mouth.contact`): the lower lip's inner contour never rises above the upper one's;
where a code would push it past (mouthClose on a portrait that already shows its teeth), both
meet in the middle, so a closed code gives a closed mouth instead of folded triangles. Lips that
are closed close no further (`close_room`: mouthClose runs past jawOpen only as far as the portrait's
own lip gap): pushed past each other, the lips between the held contours folded the warp into a
jagged line. Lips parted wider than the rig's mouthClose closes them at 1 get the rest of their gap
closed too, half by each lip (`close_field`): mouthClose 1 is shut lips on any face.

An open mouth narrowing (mouthClose, or a code below the portrait's jawOpen) shows the portrait's own
mouth: squeezed by the warp at first, then, as the layer fades in over a larger change than for
opening, its interior hanging unstretched from the upper lip, the lower lip rising over the rest.

Lips shut over an open jaw (`seal_field`): in ARKit, mouthClose equal to jawOpen is closed lips with
the jaw dropped (every /p b m/ in a Live Link Face take, and in our viseme corpus). The rig's linear
mouthClose lifts the lower lip by a fixed amount, less than half of what jawOpen lowers it, so the
renderer adds, per unit of min(mouthClose, jawOpen), the field that takes the lower lip back to the
upper one (the skin below follows part of the way, the chin stays on the jaw).

Rounded lips (`rounding_fields`): the rig's mouthFunnel and mouthPucker only draw the lips
towards the middle, which on a wide or smiling mouth leaves a wide slot. The renderer adds a
corrective per shape, built on the portrait's own mouth, that brings the lips at weight 1 to a
rounded shape: for the funnel an open "O" (the lips as a thick ring around it), for the pucker
closed, pouted lips; the skin around follows with a falloff. The teeth recede behind rounded lips,
the opening's rim is the lips' red inside all round, and the dark mouth corners (and the teeth
beside them) a smiling portrait has in its lip band, gathered in with the lips, are turned into
the band's own lip colour (`Mouth._wings`): the pixels whose warp source lies in the portrait's own
opening (`Mouth.own_opening`, warped with the photograph) wherever they land, and dark ones in the band. A mouth
that shows nothing (lips closed) keeps its band as the warp moves it: its dark pixels are lip shadows and wrinkles.

Coordinates: a per-frame mouth frame, u along the line between the inner mouth corners (0 at
the upper lip's middle) and v perpendicular to it, down; the inner contours become v = U(u),
v = L(u). Shape legend: f - frames, k - contour points, n - pixels of the painted box.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.interpolate import PchipInterpolator

from .. import motion
from . import canonical as C
from .overlay import clip_box, paint_box
from .portrait_fit import FittedFace
from .rig import smoothstep

UPPER_INNER = list(C.UPPER_LIP_INNER)  # right inner corner (78) -> left (308)
LOWER_INNER = list(C.LOWER_LIP_INNER)
CORNERS = (C.UPPER_LIP_INNER[0], C.UPPER_LIP_INNER[-1])
MID = C.UPPER_LIP_INNER[5]  # upper lip, middle of its inner edge (13)

# colours at a typical exposure (skin luminance 0.62); scaled by the portrait's lighting
CAVITY_DEEP = (0.085, 0.022, 0.022)
CAVITY_LIT = (0.3, 0.1, 0.09)
CAVITY_PEAK = 0.75  # where the cavity is lightest: sin(pi t^peak), t = 0 under the upper lip, 1 at the lower
TONGUE_RGB = (0.45, 0.14, 0.13)
TONGUE_MIX = 0.2  # how much of the portrait's lip colour the tongue takes
TONGUE_LIGHT = 0.4  # the tongue's shade, before its lit top
TEETH_RGB = (0.94, 0.91, 0.84)
# sizes in inter-ocular units (63 mm): visible crowns, the teeth's half-span, the tongue
UPPER_TEETH = 0.095
# ... but no more than this part of a drawn opening (the lips parted a little show the crowns' tips over a dark gap,
# not a row of teeth from lip to lip: a grey tube on Grace Hopper at jawOpen 0.2-0.4)
UPPER_FILL = 0.5
LOWER_TEETH = 0.035
LOWER_TEETH_FROM = 0.08  # opening (inter-ocular units) from which the lower teeth show
LOWER_SPAN = 0.55  # of the upper teeth's span
LOWER_SHADE = 0.8  # the lower teeth are in the upper lip's and teeth's shade
TEETH_SPAN = 0.42
TOOTH_EDGES = (0.0, 0.125, 0.225, 0.31, 0.385)  # upper gaps from the midline, frontal projection
LOWER_TOOTH_EDGES = (0.0, 0.085, 0.17, 0.25, 0.33)
TONGUE_HEIGHT = 0.1
TONGUE_FROM = 0.15  # opening from which the tongue shows
TONGUE_HALF_WIDTH = 0.2
# the layer fades in over this change of the opening (inter-ocular units) past the portrait's
FADE_START = 0.004
FADE_WIDTH = 0.02
ROUNDING_FADE = 0.2  # ... and over this much rounding (funnel + pucker)
# ... and, where the portrait's mouth is open, over this narrowing past this much
NARROW_FADE_START = 0.03
NARROW_FADE_WIDTH = 0.08
# the portrait shows its teeth when its lips are this far apart and the inside is light
OWN_TEETH_GAP = 0.035
OWN_TEETH_LIGHTER = 0.15  # their light half's median luminance at least this much over the lip's: all teeth
OWN_TEETH_EDGE = 1.5  # px: softness of their lower (incisal) edge (a sharp one reads as the lower lip)
OWN_TEETH_KEEP = 0.65  # the part of the portrait's opening (from the top) its upper teeth are taken from
OWN_PARTS_OVERLAP = 1  # edges (`OWN_TEETH_EDGE`) its lower part reaches under the upper one's soft edge
# a dark gap across the portrait's opening (`Mouth._split`): at least this much of the skin's luminance darker than
# the lightest above and below it, in a profile of this many rows
SPLIT_GAP = 0.25
SPLIT_ROWS = 21
SPLIT_LOWEST = 0.65  # ... no lower than this (0 at its upper lip, 1 at its lower)
OWN_CAVITY_DARK = 0.6  # how much darker the drawn cavity is between such a portrait's own teeth and tongue
# the lower lip's inner edge: a rim this wide (inter-ocular units), between the lip and the lower teeth
# or tongue, in the lip's own colour darkened by LOWER_RIM_DARK (the lip rolling in, in its shadow), but
# no darker than RIM_SKIN of the skin's luminance (dark lips got a black rim), fading into the mouth over
# RIM_FADE of its width. A landmark model finds the lower lip where the darker inside meets it; lit teeth
# or a red tongue right at its edge read as lip, and the opening reads smaller than it is
LOWER_RIM = 0.05
LOWER_RIM_DARK = 0.7
RIM_SKIN = 0.33
RIM_FADE = 1.5
RIM_SHARE = 0.2  # ... the rim no taller than this part of the opening (with its fade it shaded all of a narrow one)
RIM_RED = 0.6  # how much of the tongue's red the rim takes, at its luminance (the lip's wet inside)
CORNER_LIP = 0.8  # how much the opening's ends take the shaded lip colour
CORNER_REACH = 0.9  # how far the wide-open opening's corners reach towards the outer lip corners
# rounded lips at weight 1 (inter-ocular units): inner half-width, inner half-height, outer
# half-width, lip thickness relative to the portrait's
ROUNDING = {"mouthFunnel": (0.15, 0.1, 0.26, 1.0), "mouthPucker": (0.11, 0.0, 0.24, 1.15)}
# ... at least as thick as keeps each lip's area as the mouth narrows (its thickness times the outer half-width's
# shrink), up to this (inter-ocular units; lips of 0.1 drawn in to half their width came out a thin line)
POUT_MAX = 0.2
ROUNDING_CHANNELS = [motion.CHANNEL[n] for n in ROUNDING]
SHUT_AHEAD = ("mouthPucker",)  # rounded shapes whose lips shut ahead of their rounding (`shut_ahead`)
CLOSE_UPPER = 0.5  # the part of a wide gap's rest (`close_field`) the upper lip closes
# rounded lips' band (`Mouth._wings`): how far past the outer lip contour it reaches and how far its dark mask is
# widened (inter-ocular units); a pixel there is mouth corner, not lip, below WING_DARK of the lip's luminance or,
# lighter than the lip (teeth), below WING_RED of the lip's and the skin's redness (red - green)
WING_MARGIN = 0.05
WING_BLUR = 0.015
WING_DARK = 0.85
WING_RED = 0.5
# the portrait's own opening (`Mouth.own_opening`) grown by this much (inter-ocular units), past its lips' soft edge
OWN_OPENING_GROW = 0.025


def rounding_fields(head: np.ndarray, basis: np.ndarray) -> dict[int, np.ndarray]:
    """Corrective displacement fields {code channel: [478, 3]} (head frame) that round the lips of
    the portrait's own mouth `head` [478, 3] for mouthFunnel and mouthPucker, on top of the rig's
    fields `basis` [51, 478, 3]."""
    p = head[: C.NUM_MESH, :2].astype(np.float64)
    z = head[: C.NUM_MESH, 2].astype(np.float64)
    xc = (p[CORNERS[0], 0] + p[CORNERS[1], 0]) / 2
    yc = (p[MID, 1] + p[C.LOWER_LIP_INNER[5], 1]) / 2
    wi = max((p[CORNERS[1], 0] - p[CORNERS[0], 0]) / 2, 1e-3)
    wo = max((p[C.MOUTH_CORNERS[1], 0] - p[C.MOUTH_CORNERS[0], 0]) / 2, 1e-3)
    th_u = max(p[MID, 1] - p[C.UPPER_LIP_OUTER[5], 1], 0.03)
    th_l = max(p[C.LOWER_LIP_OUTER[5], 1] - p[C.LOWER_LIP_INNER[5], 1], 0.03)
    contours = ((C.UPPER_LIP_INNER, wi, -1, 0.0), (C.LOWER_LIP_INNER, wi, 1, 0.0),
                (C.UPPER_LIP_OUTER, wo, -1, th_u), (C.LOWER_LIP_OUTER, wo, 1, th_l))  # fmt: skip
    idx = sorted({i for c, *_ in contours for i in c})
    near, fall = _around_lips(p, idx)
    out = {}
    for name, (a_i, b_i, a_o, thick) in ROUNDING.items():
        k = motion.BLENDSHAPE_NAMES.index(name)
        moved = p + basis[k, : C.NUM_MESH, :2]  # where the rig alone puts the points at weight 1
        target = {}
        for contour, w, sign, th in contours:
            a = a_i if th == 0 else a_o
            # a lip drawn in keeps its area: thicker by the outer width's shrink (`POUT_MAX`)
            lip = max(thick * th, min(th * wo / a_o, POUT_MAX))
            for i in contour:
                t = np.clip((p[i, 0] - xc) / w, -1, 1)
                target[i] = (xc + a * t, yc + sign * (b_i + lip) * np.sqrt(1 - t * t))
        delta = np.array([target[i] for i in idx]) - moved[idx]  # c 2
        # the rounded lips face the camera: one depth for the ring (a pitched head would otherwise
        # show the protruding middle of the lips lower than their corners, a flat slot again)
        dz = (z[idx].mean() - z[idx])[:, None]
        delta = np.concatenate([delta, dz], 1)  # c 3
        out[motion.CHANNEL[name]] = _spread(delta, idx, near, fall, len(head))
    return out


def shut_ahead(correctives: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """The vertical part [478, 3] of the `SHUT_AHEAD` shapes' rounding correctives (`rounding_fields`), which the
    face draws ahead of their weight (`portrait_fit.ahead`). The rig's pucker moves nothing up or down, so on
    parted lips its corrective shut them only in step with its rounding: pucker 0.5 on the speaking Obama was a
    half-open O like funnel 0.5 (a pursed mouth closes first), and the tracker mixed the two up."""
    out = {}
    for name in SHUT_AHEAD:
        field = correctives[motion.CHANNEL[name]].copy()
        field[:, [0, 2]] = 0.0
        out[motion.CHANNEL[name]] = field
    return out


def _around_lips(p: np.ndarray, idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """`_spread`'s weights for a field moving the lip points idx of the mesh p [n, 2]: nearness of each point to
    each of them [n, c], and its falloff [n] (1 inside the lips' outline, fading over the skin around)."""
    near = np.exp(-0.5 * (np.linalg.norm(p[:, None] - p[idx][None], axis=-1) / 0.05) ** 2)  # n c
    lips = p[list(C.UPPER_LIP_OUTER + C.LOWER_LIP_OUTER[::-1])]
    d_lips = np.linalg.norm(p[:, None] - lips[None], axis=-1).min(1)
    return near, np.where(_in_polygon(p, lips), 1.0, np.exp(-0.5 * (d_lips / 0.1) ** 2) * (d_lips < 0.3))


def _spread(delta: np.ndarray, idx, near: np.ndarray, fall: np.ndarray, points: int) -> np.ndarray:
    """A corrective field [points, 3]: displacements delta [c, 3] at the mesh points idx (indices or a mask),
    and elsewhere on the mesh their mean weighted by near [n, c], scaled by the falloff fall [n]; iris 0."""
    field = (near @ delta) / np.maximum(near.sum(1, keepdims=True), 1e-9) * fall[:, None]
    field[idx] = delta
    full = np.zeros((points, 3), np.float64)
    full[: C.NUM_MESH] = field
    return full


def seal_field(head: np.ndarray, basis: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """Displacement [478, 3] (head frame) per unit of min(mouthClose, jawOpen) that keeps the lips closed
    while the jaw drops: ARKit's mouthClose equal to jawOpen is shut lips over an open jaw (/p b m/, and
    every Live Link Face take), but the rig's mouthClose alone lifts the lower lip far less than jawOpen
    lowers it. With this field the lower lip goes where the upper lip goes, so mouthClose = jawOpen gives
    the portrait's own lip gap; mouthClose past jawOpen closes further (`Mouth.contact` stops the lips).
    extra: the face's `close_field`."""
    close, jaw = _close_shape(basis, extra)[: C.NUM_MESH], basis[motion.CHANNEL["jawOpen"], : C.NUM_MESH]
    upper = list(C.UPPER_LIP_INNER[1:-1])
    # the lower lip: the points the rig's mouthClose lifts (towards the upper lip, against its own motion)
    lower = (close @ close[upper].mean(0)) < 0
    delta = (jaw + close)[upper].mean(0)[None] - jaw[lower] - close[lower]  # c 3: go where the upper lip goes
    p = head[: C.NUM_MESH, :2].astype(np.float64)
    # the skin just below follows part of the way (no crease at the lip's edge); the chin stays on the jaw,
    # and what the jaw does not move (the upper lip, touching the lower one) stays where it is
    dist = np.linalg.norm(p[:, None] - p[lower][None], axis=-1)  # n c
    near = np.exp(-0.5 * (dist / 0.05) ** 2)
    on_jaw = np.linalg.norm(jaw, axis=1) > 1e-6
    fall = np.exp(-0.5 * (dist.min(1) / 0.08) ** 2) * (dist.min(1) < 0.25) * on_jaw
    return _spread(delta, lower, near, fall, len(head))


def close_room(head: np.ndarray, basis: np.ndarray, extra: np.ndarray | None = None) -> float:
    """How much mouthClose past jawOpen the portrait's own lips `head` [478, 3] take before they meet: its
    lip gap over the mouthClose lift per unit (the rig's, plus the face's `close_field` `extra`; middle of the
    mouth; 0 for closed lips)."""
    close = _close_shape(basis, extra)
    mid_u, mid_l = list(C.UPPER_LIP_INNER[3:-3]), list(C.LOWER_LIP_INNER[3:-3])
    gap = float(np.mean(head[mid_l, 1] - head[mid_u, 1]))
    lift = float(np.mean(close[mid_u, 1] - close[mid_l, 1]))  # the gap closed per unit
    return max(gap, 0.0) / lift if lift > 1e-6 else float("inf")


def close_field(head: np.ndarray, basis: np.ndarray) -> np.ndarray | None:
    """Displacement [478, 3] (head frame) per unit of mouthClose, on top of the rig's, for lips parted wider than
    the rig's mouthClose lifts at 1 (the speaking Obama's, twice as wide): the rest of each point's gap, closed
    half by the upper lip and half by the lower, so mouthClose 1 shuts them. Without it his lips never met, and
    what mouthClose did to him was mostly the opening's painted layer fading in: a step, then a slow slope.
    Scaling the rig's lift instead stretched his chin into vertical streaks. None when the rig closes the lips."""
    k = motion.CHANNEL["mouthClose"]
    upper, lower = list(C.UPPER_LIP_INNER[1:-1]), list(C.LOWER_LIP_INNER[1:-1])
    gap = head[lower, 1] - head[upper, 1]
    lift = basis[k, upper, 1] - basis[k, lower, 1]
    rest = np.maximum(gap - np.maximum(lift, 0), 0)  # the gap the rig leaves at mouthClose 1, per point pair
    if rest.max() < 1e-3:
        return None
    idx = upper + lower
    delta = np.zeros((len(idx), 3))
    delta[: len(upper), 1] = CLOSE_UPPER * rest
    delta[len(upper) :, 1] = -(1 - CLOSE_UPPER) * rest
    near, fall = _around_lips(head[: C.NUM_MESH, :2].astype(np.float64), idx)
    return _spread(delta, idx, near, fall, len(head))


def _close_shape(basis: np.ndarray, extra: np.ndarray | None) -> np.ndarray:
    """What mouthClose moves per unit [478, 3]: the rig's field plus the face's `close_field`."""
    close = basis[motion.CHANNEL["mouthClose"]]
    return close if extra is None else close + extra


def _mid_gap(dst: np.ndarray) -> np.ndarray:
    """The lips' gap in the middle [f] (px, image y) for control points [f, p, 2]."""
    return dst[:, C.LOWER_LIP_INNER[5], 1] - dst[:, MID, 1]


def _grow(mask: np.ndarray, px: float) -> np.ndarray:
    """mask [h, w] dilated by a disc of radius px (rounded, at least 1)."""
    from .opencv import cv2

    r = max(1, int(round(px)))
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))


def _lum(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


class Mouth:
    """Lip contact and the painted mouth interior of one fitted portrait [h, w, 3] uint8."""

    def __init__(self, face: FittedFace, portrait: np.ndarray):
        self.face = face
        self.height, self.width = portrait.shape[:2]
        src = face.landmarks[:, :2].astype(np.float64)
        self.src_frame = _mouth_frames(src[None])  # the portrait's own mouth
        self.gap0 = float(_mid_gap(src[None])[0])
        self.overlap0 = np.minimum(self._lip_gaps(src[None])[0], 0.0)  # [9] where the portrait's own lips overlap
        self._colours(portrait, src)
        self._own_teeth(portrait, src)
        self.own_opening = self._own_opening(src)

    def _own_opening(self, src: np.ndarray) -> np.ndarray:
        """The portrait's own opening between its inner lips, grown a little [h, w] uint8 (255 inside): warped with
        the photograph, it marks where the portrait's own mouth (dark corners, teeth) lands in each frame. A mouth
        that shows nothing (`tex` None) has none: its lip line is stretched by a dropping jaw, not gathered, and
        cleaning all of it left a flat patch with straight edges beside Grace Hopper's open funnel."""
        from .opencv import cv2

        mask = np.zeros((self.height, self.width), np.uint8)
        if self.tex is None:
            return mask
        poly = np.concatenate([src[list(C.UPPER_LIP_INNER)], src[list(C.LOWER_LIP_INNER)][::-1]])
        cv2.fillPoly(mask, [np.round((poly - 0.5) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        return _grow(mask, OWN_OPENING_GROW * self.face.s0)

    # -- set-up ------------------------------------------------------------------------------
    def _patch(self, img: np.ndarray, centre: np.ndarray, r: int) -> np.ndarray:
        x, y = int(round(centre[0])), int(round(centre[1]))
        p = img[max(y - r, 0) : y + r + 1, max(x - r, 0) : x + r + 1].reshape(-1, 3)
        return p.astype(np.float32) / 255.0

    def _colours(self, portrait: np.ndarray, src: np.ndarray) -> None:
        """Skin, lip and painted colours matched to the portrait's lighting and colourfulness."""
        r = max(1, int(0.06 * self.face.s0))
        cheeks = np.concatenate([self._patch(portrait, src[i], r) for i in (50, 280, 205, 425)])
        skin = np.median(cheeks, 0) if len(cheeks) else np.array([0.75, 0.58, 0.5], np.float32)
        lip_pts = (
            src[list(C.UPPER_LIP_OUTER[2:-2] + C.LOWER_LIP_OUTER[2:-2])] * 0.5
            + src[list(C.UPPER_LIP_INNER[2:-2] + C.LOWER_LIP_INNER[2:-2])] * 0.5
        )  # the middle of the lip band
        lips = np.concatenate([self._patch(portrait, p, 0) for p in lip_pts])
        lip = np.median(lips, 0) if len(lips) else skin * [1.0, 0.8, 0.8]
        self.skin, self.lip = skin.astype(np.float32), lip.astype(np.float32)
        # the lip turning into the mouth, in shade: darker than the lip, but never near-black on dark lips
        shade = max(1 - LOWER_RIM_DARK, RIM_SKIN * float(_lum(skin)) / max(float(_lum(lip)), 1e-3))
        rim = min(shade, 1.0) * lip
        self.light = float(np.clip(_lum(skin) / 0.62, 0.35, 1.4))
        # a grey photograph gets grey teeth, cavity and tongue
        self.chroma = float(np.clip((skin.max() - skin.min()) / 0.12, 0.0, 1.0))
        tint = 0.85 + 0.15 * skin / max(float(skin.max()), 1e-3)  # warm light: warm teeth
        teeth = np.array(TEETH_RGB, np.float32) * tint * min(1.0, 0.25 + 0.8 * self.light)
        self.teeth = self._tone(teeth, light=False)
        self.cavity = (self._tone(np.array(CAVITY_DEEP)), self._tone(np.array(CAVITY_LIT)))
        self.tongue = self._tone(
            TONGUE_MIX * lip / max(self.light, 0.35) + (1 - TONGUE_MIX) * np.array(TONGUE_RGB, np.float32)
        )
        # ... and wet inside: as red as the tongue at the shaded lip's luminance (a pale lip's shade alone is
        # grey-brown: around a round opening it read as a grey ring, and along an open smile as a drawn grey outline)
        red_rim = self.tongue * float(_lum(rim)) / max(float(_lum(self.tongue)), 1e-3)
        self.rim = (rim + RIM_RED * (red_rim - rim)).astype(np.float32)

    def _tone(self, rgb: np.ndarray, light: bool = True) -> np.ndarray:
        rgb = np.asarray(rgb, np.float32) * (self.light if light else 1.0)
        y = _lum(rgb)
        return np.clip(y + self.chroma * (rgb - y), 0, 1).astype(np.float32)

    def _own_teeth(self, portrait: np.ndarray, src: np.ndarray) -> None:
        """Does the portrait's mouth show, and its upper teeth? Then keep a crop of its mouth to sample its
        interior from (all of it as the opening narrows; as it widens, its upper part hanging from the upper lip
        and its lower part standing on the lower lip, the dark mouth drawn between), and take the teeth colour
        from them. The crop is kept for any open mouth: narrowing one used to paint drawn teeth over the speaking
        Obama's own teeth, dark mouth and tongue (his teeth count 0.16 here: his opening is mostly cavity and
        tongue), a flat grey band from mouthClose 0.125 on; widening it did the same from jawOpen 0.125 on."""
        s0 = self.face.s0
        self.own = 0.0
        self.interior = 0.0  # how much of the portrait's own interior shows as the opening changes
        self.split, self.lower_part = OWN_TEETH_KEEP, False
        self.tex = None
        if self.gap0 < OWN_TEETH_GAP * s0 * 0.5:
            return
        poly = src[UPPER_INNER + LOWER_INNER[-2:0:-1]]
        from .opencv import cv2

        mask = np.zeros(portrait.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
        mask = cv2.erode(mask, np.ones((3, 3), np.uint8)) if mask.sum() > 20 else mask
        inside = portrait[mask > 0].astype(np.float32) / 255.0
        if len(inside) < 4:
            return
        y = _lum(inside)
        bright = inside[y >= np.quantile(y, 0.5)]
        # teeth: light, not much redder than they are green (lips, tongue and gums are red), and lighter than the lips
        # (pale lips pressed into a lip line are light and barely red: the astronaut with her lips closed by the
        # renderer, read as her own teeth at 0.83, drew that line's lip colour where teeth should be)
        light_inside = float(np.mean(y > 0.75 * _lum(self.skin)))
        redness = float(np.median(bright[:, 0] - bright[:, 1]))
        lighter = float(np.median(_lum(bright))) / max(float(_lum(self.lip)), 1e-3) - 1
        own = np.clip((light_inside - 0.25) / 0.25, 0, 1) * np.clip((0.18 - redness) / 0.08, 0, 1)
        own = own * np.clip(lighter / OWN_TEETH_LIGHTER, 0, 1)
        self.interior = float(np.clip((self.gap0 / s0 - 0.5 * OWN_TEETH_GAP) / (0.5 * OWN_TEETH_GAP), 0, 1))
        self.own = float(own * self.interior)
        if self.own > 0:
            self.teeth = np.quantile(bright, 0.6, axis=0).astype(np.float32) * self.own + self.teeth * (1 - self.own)
        pad = int(0.1 * s0) + 2
        x0, y0 = np.floor(poly.min(0)).astype(int) - pad
        x1, y1 = np.ceil(poly.max(0)).astype(int) + pad
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.width), min(y1, self.height)
        self.tex_box = (x0, y0, x1, y1)
        self.tex = portrait[y0:y1, x0:x1].astype(np.float32) / 255.0  # h w 3
        # its opening as the layer draws one at rest, to its ends
        upper, lower = (c[0] for c in _opening(src[None], np.array([self.gap0 / s0]), np.zeros(1), self.src_frame))
        self.src_upper, self.src_lower = _sorted(upper), _sorted(lower)
        self.src_ends = float(upper[0, 0]), float(upper[-1, 0])  # its ur, ul
        self.split, self.lower_part = self._split()

    def _own_at(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """The portrait's mouth crop at its own mouth-frame points (u, v) [...] -> colour [..., 3]."""
        sf = self.src_frame
        p = sf["o"][0] + u[..., None] * sf["eu"][0] + v[..., None] * sf["ev"][0]
        x, y = p[..., 0].ravel() - self.tex_box[0] - 0.5, p[..., 1].ravel() - self.tex_box[1] - 0.5
        return _bilinear(self.tex, x, y).reshape(*u.shape, 3)

    def _split(self) -> tuple[float, bool]:
        """Where the portrait's opening divides into what hangs from the upper lip and what stands on the lower
        one (0 at its upper lip, 1 at its lower), and whether anything stands there. A mouth open to speak
        shows upper teeth, a dark gap, then tongue and lower teeth: it divides at the gap, the darkest row
        across its middle, and the jaw takes the tongue and the lower teeth down with it. Without such a gap, a
        smile's row of teeth hangs from the upper lip down to where the teeth end (their light ending half-way
        to the shade below them; a split at a fixed depth cut a narrow smile's teeth at their lit lower half, and
        they went grey as the jaw opened), a dark opening down to OWN_TEETH_KEEP."""
        ur, ul = self.src_ends
        u = np.linspace(0.25 * ur, 0.25 * ul, 9)  # the middle half of its width
        top, bottom = np.interp(u, *self.src_upper), np.interp(u, *self.src_lower)
        t = np.linspace(0, 1, SPLIT_ROWS)
        v = top[None] + t[:, None] * (bottom - top)[None]  # rows cols
        y = np.median(_lum(self._own_at(np.broadcast_to(u, v.shape), v)), 1)
        y = np.convolve(np.pad(y, 1, mode="edge"), np.ones(3) / 3, mode="valid")
        # the gap leaves a third of the opening below it at least, for the tongue and lower teeth: a dark row just
        # above the lower lip is the lip's shadow (the bundled clip's face at 448 px and up: its lower lip's lit
        # inner edge then stood on the lip as the jaw dropped, and covered the drawn teeth with its grey)
        middle = np.nonzero((t >= 0.15) & (t <= SPLIT_LOWEST))[0]
        i = int(middle[np.argmin(y[middle])])
        depth = min(y[:i].max(), y[i + 1 :].max()) - y[i]
        contrast = SPLIT_GAP * float(_lum(self.skin))
        if depth > contrast:
            return float(t[i]), True
        if y.max() - y.min() > contrast:
            peak = int(np.argmax(y))
            lit = np.nonzero(y[peak:] < (y.max() + y.min()) / 2)[0]
            end = peak + (int(lit[0]) if len(lit) else len(y))  # the first row in shade below them, or none
            return float(min(end / (len(y) - 1), 1.0)), False
        return OWN_TEETH_KEEP, False

    # -- per frame ---------------------------------------------------------------------------
    @staticmethod
    def _lip_gaps(pts: np.ndarray) -> np.ndarray:
        """Opening [f, 9] between the inner lips (lower minus upper, along the mouth's down axis)."""
        ev = _mouth_frames(pts)["ev"]
        return np.einsum("fkd,fd->fk", pts[:, LOWER_INNER[1:-1]] - pts[:, UPPER_INNER[1:-1]], ev)

    def contact(self, dst: np.ndarray) -> np.ndarray:
        """Control points [f, p, 2] with the lower inner lip kept from passing the upper one (in place;
        no further than the portrait's own lips overlap, so a code equal to the portrait's changes nothing)."""
        cross = np.minimum(self._lip_gaps(dst) - self.overlap0, 0.0)  # f 9, negative where the lips overlap
        if (cross < 0).any():
            ev = _mouth_frames(dst)["ev"][:, None]
            dst[:, UPPER_INNER[1:-1]] += (0.5 * cross)[..., None] * ev
            dst[:, LOWER_INNER[1:-1]] -= (0.5 * cross)[..., None] * ev
        return dst

    def alpha(self, dst: np.ndarray, px_per_ipd: np.ndarray, rounding: np.ndarray) -> np.ndarray:
        """Per-frame opacity [f] of the layer: how far the opening changed from the portrait's, in height or
        by rounding. Rounded lips narrow the opening while a dropped jaw deepens it, so its height alone can stay
        as it was; without the layer the portrait's own open mouth (teeth, dark gaps) was squeezed into a
        narrow, ragged slot."""
        gap = _mid_gap(dst)
        change = gap / px_per_ipd - self.gap0 / self.face.s0
        by_gap = np.clip((np.abs(change) - FADE_START) / FADE_WIDTH, 0.0, 1.0)
        if self.tex is not None:
            # narrowing an open mouth: at first the warp's gently squeezed mouth is the portrait's own (the layer,
            # even with its own teeth, redrew the corners and the teeth's edge, a visible step at mouthClose 0.125
            # on the speaking Obama)
            by_gap = np.where(change < 0, np.clip((-change - NARROW_FADE_START) / NARROW_FADE_WIDTH, 0, 1), by_gap)
        return np.maximum(by_gap, _rounding_fade(np.asarray(rounding, np.float64)))

    def closing(self, dst: np.ndarray, px_per_ipd: np.ndarray) -> np.ndarray:
        """How far the lips close past the portrait's own opening [f], 0..1 (1 at 0.03 inter-ocular units)."""
        gap = _mid_gap(dst)
        return np.clip((self.gap0 / self.face.s0 - gap / np.asarray(px_per_ipd, np.float64)) / 0.03, 0, 1)

    def _gathering(self, dst: np.ndarray, px_per_ipd: np.ndarray, rounding: np.ndarray) -> np.ndarray:
        """How far each frame gathers the portrait's own mouth into the lip band [f], 0..1 (`_wings`): rounding
        lips, and narrowing lips as far as the layer is drawn."""
        alpha = self.alpha(dst, px_per_ipd, rounding)
        return np.maximum(np.asarray(rounding, np.float64), self.closing(dst, px_per_ipd) * alpha)

    def box(self, dst: np.ndarray, px_per_ipd: np.ndarray, rounding: np.ndarray) -> tuple[int, int, int, int] | None:
        if not (self.alpha(dst, px_per_ipd, rounding) > 0).any():
            return None
        poly = dst[:, UPPER_INNER + LOWER_INNER + list(C.MOUTH_CORNERS)]
        pad = int(np.ceil(0.02 * float(np.max(px_per_ipd)))) + 2  # room for the closing lips' band
        x0, y0 = np.floor(poly.min((0, 1))).astype(int) - pad
        x1, y1 = np.ceil(poly.max((0, 1))).astype(int) + pad + 1
        gathered = self._gathering(dst, px_per_ipd, rounding) > 0
        if gathered.any() and self.tex is not None:
            # rounded and narrowing lips' whole band, to a little past the outer contour, is cleaned (`_wings`): a box
            # cut to the opening cut the cleaned band off in straight lines, a flat rectangle around a tall round
            # opening; and narrowing lips were cleaned as far as the other frames of the batch took the box
            outer = dst[gathered][:, list(C.UPPER_LIP_OUTER + C.LOWER_LIP_OUTER)]
            margin = int(np.ceil(WING_MARGIN * float(np.max(px_per_ipd)))) + 2
            x0, y0 = np.minimum([x0, y0], np.floor(outer.min((0, 1))).astype(int) - margin)
            x1, y1 = np.maximum([x1, y1], np.ceil(outer.max((0, 1))).astype(int) + margin + 1)
        return clip_box(x0, y0, x1, y1, self.width, self.height)

    def paint(
        self,
        frames: torch.Tensor,
        dst: np.ndarray,
        px_per_ipd: np.ndarray,
        rounding: np.ndarray,
        box: tuple[int, int, int, int] | None = None,
        own: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Draw the mouth interior into the opening (torch path).

        frames: [f, 3, h, w] float, the full image, or only `box` (x0, y0, x1, y1) of it.
        px_per_ipd: [f] image pixels per inter-ocular unit (the face's scale in each frame).
        rounding: [f] 0..1 how rounded the lips are (funnel, pucker): the teeth recede behind them.
        own: [f, 1, h, w] 0..1, `own_opening` warped as the frames were (full image), or None."""
        full_box = self.box(dst, px_per_ipd, rounding)
        if full_box is None:
            return frames
        x0, y0, x1, y1 = full_box
        own_box = None if own is None else self._grown(own[:, 0, y0:y1, x0:x1].cpu().numpy(), px_per_ipd)
        layer = self._layer(dst, px_per_ipd, rounding, full_box, own_box)
        if layer is None:
            return frames
        f, (hb, wb), dev = len(dst), (y1 - y0, x1 - x0), frames.device
        fi, ni, colour, alpha, seam, wings = layer

        def dense(values: np.ndarray, channels: int) -> torch.Tensor:
            out = np.zeros((f, hb * wb, channels), np.float32)
            out[fi, ni] = values.reshape(len(fi), channels)
            return torch.from_numpy(out).to(dev).permute(0, 2, 1).reshape(f, channels, hb, wb)

        def draw(region: torch.Tensor) -> torch.Tensor:  # f 3 hb wb
            a = dense(alpha, 1)
            out = region + a * (dense(colour, 3) - region)
            if wings is not None:
                on, weight, gathered = wings
                crop = out[torch.from_numpy(on)].permute(0, 2, 3, 1).cpu().numpy()
                for k, i in enumerate(on):
                    crop[k] = self._clean_wings(
                        crop[k], weight[k].reshape(hb, wb), gathered[k].reshape(hb, wb), float(px_per_ipd[i])
                    )
                out = out.clone()
                out[torch.from_numpy(on)] = torch.from_numpy(crop).to(dev).permute(0, 3, 1, 2)
            if seam is not None:
                # closing lips: the band around the lip line takes the lips' colour from just outside it, once the
                # band is cleaned (`_wings`): the speaking Obama's dark gap, squeezed above his lip line, was copied
                # into the line
                band, line, pos, below = seam
                lips = 0
                for k, w in ((0, 1 - below), (1, below)):
                    src = dense(pos[:, k], 2).permute(0, 2, 3, 1)
                    grid = torch.stack([src[..., 0] / wb * 2 - 1, src[..., 1] / hb * 2 - 1], -1)
                    sample = F.grid_sample(out, grid, mode="bilinear", padding_mode="border", align_corners=False)
                    lips = lips + dense(w, 1) * sample
                fade = dense(band * self.alpha(dst, px_per_ipd, rounding)[fi], 1)
                out = out + fade * (lips * dense(line, 1) - out)
            return out

        return paint_box(frames, full_box, box is not None, draw)

    def paint_uint8(
        self,
        frames: np.ndarray,
        dst: np.ndarray,
        px_per_ipd: np.ndarray,
        rounding: np.ndarray,
        own: np.ndarray | None = None,
    ) -> np.ndarray:
        """`paint` on uint8 [f, h, w, 3] frames in place (CPU path: only the painted pixels are touched);
        own: `own_opening` warped as the frames were, uint8 [f, h, w], or None."""
        box = self.box(dst, px_per_ipd, rounding)
        if box is None:
            return frames
        x0, y0, x1, y1 = box
        own_box = None if own is None else self._grown(own[:, y0:y1, x0:x1].astype(np.float32) / 255.0, px_per_ipd)
        layer = self._layer(dst, px_per_ipd, rounding, box, own_box)
        if layer is None:
            return frames
        fi, ni, colour, alpha, seam, wings = layer
        ys, xs = y0 + ni // (x1 - x0), x0 + ni % (x1 - x0)
        px = frames[fi, ys, xs].astype(np.float32) / 255.0
        px += alpha[:, None] * (colour - px)
        frames[fi, ys, xs] = np.clip(px * 255 + 0.5, 0, 255).astype(np.uint8)
        if wings is not None:
            on, weight, gathered = wings
            hb, wb = y1 - y0, x1 - x0
            for k, i in enumerate(on):
                crop = frames[i, y0:y1, x0:x1].astype(np.float32) / 255.0
                crop = self._clean_wings(
                    crop, weight[k].reshape(hb, wb), gathered[k].reshape(hb, wb), float(px_per_ipd[i])
                )
                frames[i, y0:y1, x0:x1] = np.clip(crop * 255 + 0.5, 0, 255).astype(np.uint8)
        if seam is not None:
            band, line, pos, below = seam
            on = np.nonzero(band > 0)[0]
            if len(on):
                fade = (band * self.alpha(dst, px_per_ipd, rounding)[fi])[on]
                lips = np.empty((len(on), 3), np.float32)
                for i in np.unique(fi[on]):  # the lips' colour just past the band, from the painted, cleaned frame
                    sel = np.nonzero(fi[on] == i)[0]
                    j = on[sel]
                    crop = frames[i, y0:y1, x0:x1].astype(np.float32) / 255.0
                    up, down = (_bilinear(crop, pos[j, k, 0] - 0.5, pos[j, k, 1] - 0.5) for k in (0, 1))
                    lips[sel] = up + below[j, None] * (down - up)
                cur = frames[fi[on], ys[on], xs[on]].astype(np.float32) / 255.0
                cur += fade[:, None] * (lips * line[on, None] - cur)
                frames[fi[on], ys[on], xs[on]] = np.clip(cur * 255 + 0.5, 0, 255).astype(np.uint8)
        return frames

    @staticmethod
    def _grown(own: np.ndarray, px_per_ipd: np.ndarray) -> np.ndarray:
        """The warped `own_opening` in the box [f, hb, wb] (0..1) grown by `OWN_OPENING_GROW` at each frame's scale,
        flat [f, hb * wb]: its darkest rim lands on the mask's soft edge, and gathered corners squeeze the grown
        margin of the source into a fraction of a pixel."""
        out = np.empty((len(own), own[0].size), np.float32)
        for i, m in enumerate(own):
            out[i] = _grow(m, OWN_OPENING_GROW * float(px_per_ipd[i])).reshape(-1)
        return out

    def _layer(
        self,
        dst: np.ndarray,
        px_per_ipd: np.ndarray,
        rounding: np.ndarray,
        box: tuple[int, int, int, int],
        own: np.ndarray | None = None,
    ) -> tuple | None:
        """The pixels in and around each frame's opening, flat: frame index [n], index in the box
        (row-major) [n], colour [n, 3], opacity [n] (coverage by the opening times the frame's fade),
        where lips close the seam band (`_seam`: opacity [n], shading [n], source position in the box
        [n, 2]) and where they round or narrow the band to clean (`_wings`); None when no pixel is painted.
        The box is the union over the frames; own [f, box pixels] 0..1: `own_opening` warped, or None."""
        x0, y0, x1, y1 = box
        f = len(dst)
        fr = _mouth_frames(dst)
        ipd_f = np.asarray(px_per_ipd, np.float64)
        gap = _mid_gap(dst)
        upper, lower = _opening(dst, gap / ipd_f, np.asarray(rounding), fr)
        ur, ul = upper[:, 0, 0], upper[:, -1, 0]  # f: the ends' u
        # closing lips: the seam band's half-width past the contours, px
        closing = self.closing(dst, ipd_f)
        seam_m = closing * (0.02 * ipd_f + 0.8)
        # every box pixel in each frame's mouth frame; keep those in or near the opening
        gx, gy = np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
        gx, gy = gx.reshape(-1), gy.reshape(-1)
        u_all = (gx[None] - fr["o"][:, :1]) * fr["eu"][:, :1] + (gy[None] - fr["o"][:, 1:]) * fr["eu"][:, 1:]
        v_all = (gx[None] - fr["o"][:, :1]) * fr["ev"][:, :1] + (gy[None] - fr["o"][:, 1:]) * fr["ev"][:, 1:]
        U_all = np.stack([_smooth_interp(u_all[i], *_sorted(upper[i])) for i in range(f)])
        L_all = np.stack([_smooth_interp(u_all[i], *_sorted(lower[i])) for i in range(f)])
        near = (u_all > ur[:, None] - 1) & (u_all < ul[:, None] + 1)
        near &= (v_all > U_all - seam_m[:, None] - 1.5) & (v_all < L_all + seam_m[:, None] + 1.5)
        alpha = self.alpha(dst, px_per_ipd, rounding)
        near &= (alpha > 0)[:, None]
        fi, ni = np.nonzero(near)
        if not len(fi):
            return None
        # narrowing an open mouth gathers its dark corners (and the teeth beside them) into the lip band as rounding
        # does: the band's lip colour covers them too, as the layer takes over from the warp
        wings = None
        if self.tex is not None:  # a mouth that shows nothing has no corners to gather (`_wings`)
            gather = self._gathering(dst, px_per_ipd, rounding)
            if own is not None:  # rounded lips only: a narrowing mouth's own corners close into its lip line
                own = own * (np.asarray(rounding) > 0)[:, None]
            wings = self._wings(dst, gather, fr, u_all, v_all, U_all, L_all, ur, ul, ipd_f, own)
        u, v, U, L = u_all[fi, ni], v_all[fi, ni], U_all[fi, ni], L_all[fi, ni]
        ipd, recede = ipd_f[fi], 1 - np.asarray(rounding, np.float64)[fi]  # teeth recede behind round lips
        colour, cover = self._colour(u, v, U, L, ur[fi], ul[fi], ipd, recede, closing[fi])
        seam = None
        if (closing > 0).any():
            seam = self._seam(u, v, U, L, ur[fi], ul[fi], seam_m[fi], fr, fi, (x0, y0))
        return fi, ni, colour, cover * alpha[fi].astype(np.float32), seam, wings

    def _wings(
        self,
        dst: np.ndarray,
        rounding: np.ndarray,
        fr: dict[str, np.ndarray],
        u: np.ndarray,
        v: np.ndarray,
        U: np.ndarray,
        L: np.ndarray,
        ur: np.ndarray,
        ul: np.ndarray,
        ipd: np.ndarray,
        own: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Rounded lips gather the lip band's corners towards the middle, and with them whatever dark
        mouth corners the portrait had there (a smile's shadowed corners, its own open mouth): those
        would show as dark jagged wings beside a round mouth. The lip band outside the opening (and a
        little past the outer lip contour), and wherever the portrait's own opening lands outside the drawn
        one (own [f, n], 0..1: a smile's wings landed past the band's edge, a dotted grey outline), per frame
        with rounding, from box pixels [f, n] at u, v (U, L: the opening): frame indices [k], weights [k, n]
        (the rounding) and the part of each pixel that is the portrait's own mouth [k, n]; `_clean_wings`
        turns those and the band's dark pixels into lip."""
        rounding = np.asarray(rounding, np.float64)
        on = np.nonzero(rounding > 0)[0]
        if not len(on):
            return None
        u, v, U, L, ur, ul = u[on], v[on], U[on], L[on], ur[on], ul[on]
        sub = {k: a[on] for k, a in fr.items()}
        uo = _to_frame_np(dst[on][:, list(C.UPPER_LIP_OUTER)], sub)
        lo = _to_frame_np(dst[on][:, list(C.LOWER_LIP_OUTER)], sub)
        Uo = np.stack([np.interp(u[i], *_sorted(uo[i])) for i in range(len(on))])
        Lo = np.stack([np.interp(u[i], *_sorted(lo[i])) for i in range(len(on))])
        m = (WING_MARGIN * ipd[on] + 0.5)[:, None]  # px past the outer contour
        band = (u > uo[:, :1, 0] - m) & (u < uo[:, -1:, 0] + m) & (v > Uo - m) & (v < Lo + m)
        opening = (u > ur[:, None] - 0.5) & (u < ul[:, None] + 0.5) & (v > U - 0.5) & (v < L + 0.5)
        gathered = np.zeros(u.shape, np.float32) if own is None else own[on] * ~opening
        # the portrait's own mouth outside the opening goes as fully as the opening is drawn (`Mouth.alpha`): by the
        # rounding alone, a tenth of a smile's dark corners stayed at funnel + pucker 0.9 (faint streaks above the lips)
        fade = _rounding_fade(rounding[on, None])
        weight = np.maximum((band & ~opening) * rounding[on, None], (gathered > 0) * fade).astype(np.float32)
        return on, weight, gathered.astype(np.float32)

    def _clean_wings(self, crop: np.ndarray, weight: np.ndarray, gathered: np.ndarray, ipd: float) -> np.ndarray:
        """One frame's box [hb, wb, 3] (0..1) with the portrait's own mouth gathered into rounded lips' band
        (`gathered` [hb, wb], 0..1) and the band's dark pixels (`weight` [hb, wb]) turned into lip. The mask is
        widened and smoothed over a few pixels, and the lip colour is the band's own, blurred from its other
        pixels: blended pixel by pixel by their darkness, the gathered corners' jagged streaks and their halos
        stayed as a rough grey-brown ring around the opening (workflow (a) at 512 px)."""
        from .opencv import cv2

        y, y_lip = _lum(crop), float(_lum(self.lip))
        inside = weight > 0
        dark = np.clip((WING_DARK * y_lip - y) / (0.3 * y_lip), 0, 1)
        red = min(float(self.lip[0] - self.lip[1]), float(self.skin[0] - self.skin[1]))
        if red > 0.03:  # ... and its teeth at the corners: light, and less red than lip and skin (a colour photo)
            grey = np.clip((WING_RED * red - (crop[..., 0] - crop[..., 1])) / (0.3 * red), 0, 1)
            dark = np.maximum(dark, grey * (y > y_lip))
        dark = dark * inside
        sigma = max(WING_BLUR * ipd, 0.7)

        def blur(a: np.ndarray, s: float) -> np.ndarray:  # zero past the crop: the same whatever box the batch took
            return cv2.GaussianBlur(a, (0, 0), s, borderType=cv2.BORDER_CONSTANT)

        dark = np.maximum(dark, np.clip(2 * blur(dark, sigma), 0, 1))
        dark = np.maximum(dark, gathered) * inside
        light = ((1 - dark) * inside).astype(np.float32)
        total = blur(light, 3 * sigma)[..., None]
        lip = blur(crop * light[..., None], 3 * sigma) / np.maximum(total, 1e-4)
        lip = np.where(total > 0.05, lip, 0.95 * self.lip)  # no light lip nearby: the portrait's lip colour
        w = (weight * dark)[..., None]
        return crop + w * (lip - crop)

    def _colour(
        self,
        u: np.ndarray,
        v: np.ndarray,
        U: np.ndarray,
        L: np.ndarray,
        ur: np.ndarray,
        ul: np.ndarray,
        ipd: np.ndarray,
        recede: np.ndarray,
        narrow: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Colour [n, 3] and coverage [n] of pixels at mouth-frame (u, v), between the upper and lower
        inner lips at v = U and v = L (all [n], px); ipd: px per inter-ocular unit [n]; narrow [n]: 0..1 how far
        the opening is narrower than the portrait's (there the portrait's own mouth shows, whatever it holds)."""
        # vertical coverage of each pixel by the opening [U, L] (exact box filter along v)
        cover = np.clip(np.minimum(v + 0.5, L) - np.maximum(v - 0.5, U), 0, 1)
        cover = cover * np.clip(u - ur + 0.5, 0, 1) * np.clip(ul - u + 0.5, 0, 1)  # and across u at its ends
        h = np.maximum(L - U, 0)
        a = v - U  # depth below the upper lip, px
        b = L - v  # height above the lower lip, px
        x = u / ipd  # across the mouth, inter-ocular units from the midline
        side = np.clip(np.where(u < 0, u / np.minimum(ur, -1e-3), u / np.maximum(ul, 1e-3)), 0, 1)  # 1 at a corner
        h_ipd = h / ipd
        t = np.clip(a / np.maximum(h, 1e-3), 0, 1)  # 0 at the upper lip, 1 at the lower

        # cavity: darkest under the upper teeth, at the lower lip and towards the corners, lighter between (where
        # the drawn tongue rises; behind the portrait's own tongue, a lit cavity read as a second one)
        stands = self.interior * self.lower_part  # the portrait's own tongue and lower teeth show
        deep, lit = self.cavity
        g = (np.sin(np.pi * t**CAVITY_PEAK) * (1 - 0.7 * side**2) * (1 - OWN_CAVITY_DARK * stands))[:, None]
        colour = deep + g * (lit - deep)  # n 3
        # tongue: a rounded hump behind the lower teeth, its visible height grows with the opening;
        # lit from the front: brightest on its upper middle, darker to its sides and back
        arch = np.maximum(1 - (x / TONGUE_HALF_WIDTH) ** 2, 0)
        tongue_h = np.minimum(0.45 * np.maximum(h - TONGUE_FROM * ipd, 0), TONGUE_HEIGHT * ipd) * np.sqrt(arch)
        # px; round lips keep their full rim all round (their opening's edge is lip, the teeth behind it)
        rim = np.minimum(LOWER_RIM, np.maximum(RIM_SHARE * h_ipd, (1 - recede) * LOWER_RIM)) * ipd + 0.3
        tg = _sigmoid((tongue_h + rim - b) / 0.8) * (tongue_h > 0.3)
        depth_t = np.clip((tongue_h - b) / np.maximum(tongue_h, 1e-3), 0, 1)  # 0 at its top edge
        lit_t = arch * (1 - np.abs(depth_t - 0.35) / 0.65)
        tongue = self.tongue * (TONGUE_LIGHT + 0.4 * lit_t)[:, None]
        colour += (0.95 * tg * (1 - stands))[:, None] * (tongue - colour)
        # lower teeth: a short row along the lower lip, once the mouth is well open, in shade
        show_lo = np.clip((h_ipd - LOWER_TEETH_FROM) / 0.1, 0, 1)
        lo_h = LOWER_TEETH * ipd * show_lo * recede * np.maximum(1 - (x / (LOWER_SPAN * TEETH_SPAN)) ** 2, 0)
        tl = _sigmoid((lo_h + rim - b) / 0.6) * np.clip(lo_h / 0.8, 0, 1) * show_lo  # fading in, not a light band
        lo_shade = LOWER_SHADE * (1 - 0.45 * np.clip(np.abs(x) / TEETH_SPAN, 0, 1) ** 2)
        lo_shade = lo_shade * _gaps(x, LOWER_TOOTH_EDGES, ipd, 0.06)
        lip_shade = 0.55 + 0.45 * recede  # behind rounded lips, teeth are in their shade
        own_up = own_lo = np.zeros_like(a)
        colour += (tl * (1 - stands))[:, None] * (self.teeth * lo_shade[:, None] - colour)
        if self.tex is not None:
            # the portrait's own mouth, at the face's scale down (across, to the opening's ends): its upper part
            # hanging from the upper lip (its teeth), its lower part (lower teeth, tongue) standing on the lower lip,
            # the drawn dark mouth between; as the opening narrows, all of it from the upper lip (the lower lip rises
            # over the rest)
            shown = max(self.own, self.interior * self.lower_part)  # teeth, or a mouth open to speak: not a dark slit
            own = shown + (1 - shown) * narrow
            (tex_up, op_up), (tex_lo, op_lo) = self._sample_own(u, a, b, ur, ul, ipd, recede, narrow)
            own_up, own_lo = own * op_up, own * op_lo
            colour += own_lo[:, None] * (tex_lo * lip_shade[:, None] - colour)
        # upper teeth (drawn): crowns hanging from the upper lip, shorter and darker towards the corners
        span = np.clip(np.abs(x) / TEETH_SPAN, 0, 1.2)
        up_h = UPPER_TEETH * ipd * (0.4 + 0.6 * recede) * np.maximum(1 - 0.45 * span**2, 0)
        # at most UPPER_FILL of the opening, less behind rounded lips: the dark mouth shows below them; and the
        # opening's ends are its dark corners, not teeth
        up_h = np.minimum(up_h, (0.35 + (UPPER_FILL - 0.35) * recede) * h)
        tu = _sigmoid((up_h - a) / 0.6) * np.clip((1.05 - span) / 0.2, 0, 1) * np.clip((1 - side) / 0.2, 0, 1)
        up_shade = (1 - 0.4 * np.minimum(span, 1) ** 2) * (0.93 + 0.07 * (1 - np.clip(a / np.maximum(up_h, 1), 0, 1)))
        up_shade = up_shade * _gaps(x, TOOTH_EDGES, ipd, 0.08)
        drawn = self.teeth * (up_shade * lip_shade)[:, None]
        if self.tex is not None:
            drawn += own_up[:, None] * (tex_up * lip_shade[:, None] - drawn)  # the own ones too
            tu += own * (op_up - tu)  # its own teeth, not drawn ones below them
        colour += tu[:, None] * (drawn - colour)
        # the lips occlude the edges of the opening: soft contact shadows (the portrait's own
        # teeth have theirs already)
        occ = 1 - 0.35 * np.exp(-a / (0.012 * ipd + 0.4)) * (1 - own_up)
        colour = colour * np.maximum(occ, 0.1)[:, None]
        # the lower lip's inner edge and the stretched corners are lip turning into the mouth, in its shade
        # (darker than the lip, so the landmark model still finds the lip's edge there; never near-black), fading
        # into the mouth over the rim's width: a flat band read as a drawn outline. The portrait's own lower lip
        # has its edge already, unless rounded lips roll it in
        lower_rim = smoothstep(RIM_FADE * rim, 0.0, b) * (1 - own_lo * recede)
        inner = np.maximum(lower_rim, CORNER_LIP * side**4)  # 1 at the lip's edge
        # rounded lips: the upper lip's inner edge is lip too (the teeth are behind it)
        inner = np.maximum(inner, (1 - recede) * smoothstep(RIM_FADE * rim, 0.0, a))[:, None]
        colour += inner * (self.rim - colour)
        return colour.astype(np.float32), cover.astype(np.float32)

    def _seam(
        self,
        u: np.ndarray,
        v: np.ndarray,
        U: np.ndarray,
        L: np.ndarray,
        ur: np.ndarray,
        ul: np.ndarray,
        m: np.ndarray,
        fr: dict[str, np.ndarray],
        fi: np.ndarray,
        origin: tuple[int, int],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Where the lips close past the portrait's opening, a band a little wider than the opening
        around the lip line (the portrait's teeth reach a pixel past its inner lip landmarks, `m` px
        either side) that takes the lips' own colour, with a faint dark line where they meet: per
        pixel the band's opacity [n], the shading [n], the box positions [n, 2 (above, below), 2] its
        colour comes from and how much from below [n]."""
        mid = (U + L) / 2
        inner = np.clip(np.minimum(v + 0.5, L) - np.maximum(v - 0.5, U), 0, 1)
        band = np.clip(np.minimum(v + 0.5, L + m) - np.maximum(v - 0.5, U - m), 0, 1) - inner
        band = band * (u > ur - 0.5) * (u < ul + 0.5)  # as far as `_wings` leaves the opening uncleaned
        # the lip pixels just past the band, straight up and down, blended over a pixel across the lip line
        # (measured against a hard choice between them: under 0.01 grey levels per frame on the smiling Obama's
        # closing lips, not visible)
        pos = np.stack(
            [fr["o"][fi] + u[:, None] * fr["eu"][fi] + v_to[:, None] * fr["ev"][fi] - np.array(origin)
             for v_to in (U - m - 1.0, L + m + 1.0)], 1
        )  # fmt: skip
        below = _sigmoid((v - mid) / 0.5)
        line = 1 - 0.3 * np.exp(-0.5 * ((v - mid) / 0.6) ** 2) * (1 - np.clip((L - U) / 2, 0, 1))
        return band, line, pos, below.astype(np.float32)

    def _sample_own(
        self,
        u: np.ndarray,
        a: np.ndarray,
        b: np.ndarray,
        ur: np.ndarray,
        ul: np.ndarray,
        ipd: np.ndarray,
        recede: np.ndarray,
        narrow: np.ndarray,
    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """The portrait's mouth interior, as (colour [n, 3], opacity [n]) for its upper part at the same depth `a`
        below its upper lip (1 over its teeth, fading out towards where its lower lip was) and for its lower part
        at the same height `b` above its lower lip (reaching a little under the upper part's soft edge, so the two
        make up the portrait's own mouth where the opening is its own). ur, ul [n]: the opening's ends; recede [n]:
        1 - rounding (rounded lips cover more of them); narrow [n]: as the opening narrows, all of its interior
        from the upper lip."""
        k = self.face.s0 / ipd  # frame px -> portrait px
        # across, the opening's ends are its own (a wider opening shows its teeth and dark corners widened, not
        # drawn teeth beside them), but rounded lips narrow the opening over its middle (not squeezing all of
        # it in); down, depth at the face's scale
        ur_s, ul_s = self.src_ends
        fit = np.where(u < 0, ur_s / np.minimum(ur, -1e-3), ul_s / np.maximum(ul, 1e-3))
        u_s = u * (k + recede * (fit - k))
        a_s, b_s = a * k, b * k
        length = 0.4 + 0.6 * recede
        U_s = np.interp(u_s, *self.src_upper)
        L_s = np.interp(u_s, *self.src_lower)
        H_s = np.maximum(L_s - U_s, 0)
        inside = (u_s > ur_s) & (u_s < ul_s)
        edge = OWN_TEETH_EDGE * k
        keep = (self.split + (1 - self.split) * narrow) * H_s * length  # the part that hangs from the upper lip
        op_up = _sigmoid((keep - a_s) / edge) * _sigmoid((a_s + 0.5) / 0.5) * inside * (keep > 1.0)
        upper = (self._own_at(u_s, U_s + a_s), op_up)
        if not self.lower_part:  # nothing stands on its lower lip
            return upper, (np.zeros_like(upper[0]), np.zeros_like(op_up))
        keep_lo = (1 - self.split) * H_s * length
        op_lo = _sigmoid((keep_lo + OWN_PARTS_OVERLAP * edge - b_s) / edge) * _sigmoid((b_s + 0.5) / 0.5)
        op_lo = op_lo * inside * (keep_lo > 1.0) * (1 - narrow)
        return upper, (self._own_at(u_s, L_s - b_s), op_lo)


def _in_polygon(p: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Which points [n, 2] lie inside the closed polygon [k, 2] (even-odd rule) -> [n] bool."""
    a, b = poly, np.roll(poly, -1, 0)
    x, y = p[:, None, 0], p[:, None, 1]
    crosses = (a[None, :, 1] > y) != (b[None, :, 1] > y)
    xi = a[None, :, 0] + (y - a[None, :, 1]) * (b[None, :, 0] - a[None, :, 0]) / np.where(
        b[None, :, 1] == a[None, :, 1], 1e-12, b[None, :, 1] - a[None, :, 1]
    )
    return (crosses & (x < xi)).sum(1) % 2 == 1


def _mouth_frames(pts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame mouth frames of points [f, p, 2]: origin o [f, 2] (on the corner line, under the
    upper lip's middle), unit axes eu (towards the left corner) and ev (down) [f, 2], and the
    corners' u: ur < 0 < ul [f]."""
    cr, cl = pts[:, CORNERS[0]].astype(np.float64), pts[:, CORNERS[1]].astype(np.float64)
    d = cl - cr
    eu = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-6)
    ev = np.stack([-eu[:, 1], eu[:, 0]], -1)
    o = cr + ((pts[:, MID] - cr) * eu).sum(-1, keepdims=True) * eu
    return {
        "o": o,
        "eu": eu,
        "ev": ev,
        "ur": ((cr - o) * eu).sum(-1),
        "ul": ((cl - o) * eu).sum(-1),
    }


def _opening(
    pts: np.ndarray, gap: np.ndarray, rounding: np.ndarray, fr: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The opening's upper and lower contours [f, k, 2] in the mouth frames `fr`, for points [f, p, 2] with the lips
    `gap` [f] inter-ocular units apart: the inner lips between its ends, which reach part of the way from the inner
    to the outer lip corners as it opens (the stretched corners of the lips are in shadow, and a portrait's own dark
    mouth corners, stretched by the warp, would show there as jagged dark streaks); rounded lips have no stretched
    corners."""
    reach = (CORNER_REACH * np.clip((gap - 0.04) / 0.2, 0, 1) * (1 - rounding))[:, None]  # f 1
    ends = [(pts[:, c] + reach * (pts[:, o] - pts[:, c]))[:, None] for c, o in zip(CORNERS, C.MOUTH_CORNERS)]
    return tuple(
        _to_frame_np(np.concatenate([ends[0], pts[:, idx[1:-1]], ends[1]], 1), fr) for idx in (UPPER_INNER, LOWER_INNER)
    )


def _to_frame_np(pts: np.ndarray, fr: dict[str, np.ndarray]) -> np.ndarray:
    """Image points [f, k, 2] -> mouth-frame (u, v) [f, k, 2]."""
    rel = pts - fr["o"][:, None]
    return np.stack([(rel * fr["eu"][:, None]).sum(-1), (rel * fr["ev"][:, None]).sum(-1)], -1)


def _sorted(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contour points [k, 2] (u, v) as (u, v) sorted by u, for np.interp (flat beyond the ends)."""
    order = np.argsort(pts[:, 0], kind="stable")
    return pts[order, 0], pts[order, 1]


def _smooth_interp(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """A contour v(u) through the points (xp, fp) [k] at x [n]: a shape-preserving cubic (no kinks at
    the landmarks, which drew a wide opening as a polygon, and no overshoot), flat beyond the ends."""
    xp = xp + np.arange(len(xp)) * 1e-6  # strictly increasing (points that share a u)
    return PchipInterpolator(xp, fp)(np.clip(x, xp[0], xp[-1]))


def _rounding_fade(rounding: np.ndarray) -> np.ndarray:
    """How fully the painted layer is drawn for lips this rounded (0..1 over `ROUNDING_FADE`)."""
    return np.clip(rounding / ROUNDING_FADE, 0.0, 1.0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples [n, 3] of img [h, w, 3] at pixel-index coordinates x, y [n] (edges clamped)."""
    h, w = img.shape[:2]
    x, y = np.clip(x, 0, w - 1), np.clip(y, 0, h - 1)
    xa, ya = np.minimum(x.astype(int), w - 2).clip(0), np.minimum(y.astype(int), h - 2).clip(0)
    fx, fy = (x - xa)[:, None], (y - ya)[:, None]
    xb, yb = np.minimum(xa + 1, w - 1), np.minimum(ya + 1, h - 1)
    top = img[ya, xa] * (1 - fx) + img[ya, xb] * fx
    bottom = img[yb, xa] * (1 - fx) + img[yb, xb] * fx
    return top * (1 - fy) + bottom * fy


def _gaps(x: np.ndarray, edges: tuple[float, ...], ipd: np.ndarray, depth: float) -> np.ndarray:
    """Shading factor [n] with a faint dark line at each tooth boundary (x in inter-ocular units)."""
    width = np.maximum(0.006, 0.35 / ipd)  # a third of a pixel at least
    depth_px = depth * np.clip((ipd - 20) / 25, 0, 1)  # on a small face the gaps would be noise
    d = np.full_like(x, 1e3)
    for e in edges:
        for s in (1.0,) if e == 0 else (1.0, -1.0):
            d = np.minimum(d, np.abs(x - s * e))
    return 1 - depth_px * np.exp(-0.5 * (d / width) ** 2)
