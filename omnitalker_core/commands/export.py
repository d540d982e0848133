"""`export`: a training run's model -> the file users load (fp16 weights, renderer settings in metadata)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..checkpoints import load_bundle, save_bundle

HELP = "export a trained model (RUN/latest.safetensors) as a compact model file, e.g. the bundled demo checkpoint"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, type=Path, help="trained model file, e.g. runs/demo/latest.safetensors")
    p.add_argument("--out", required=True, type=Path, help="where to write the exported .safetensors")
    p.add_argument("--fp32", action="store_true", help="keep float32 weights (default: float16, half the size)")
    p.add_argument("--resolution", type=int, default=512, help="default render resolution stored with the model")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")


def run(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.model)
    if bundle.renderer_config is None:
        bundle.renderer_config = {"kind": "geometric", "resolution": args.resolution, "fps": 25}
    bundle.info = dict(bundle.info, exported_from=args.model.name)
    path = save_bundle(bundle, args.out, overwrite=args.overwrite, half=not args.fp32)
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB, step {bundle.info.get('step')})")
    return 0
