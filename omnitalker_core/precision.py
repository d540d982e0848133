"""Weight precision per device: what runs fast where, and the names the CLI and nodes offer.

bfloat16 pays on a CPU only with AMX tiles (Intel Sapphire Rapids and later): there oneDNN runs bf16
matrix products and convolutions on them, and the demo model samples 2.2x and HiFi-GAN decodes 1.7x
faster than in float32 (`python -m omnitalker_core bench e2e --dtype ...`, docs/SPEED.md). Without
AMX, bf16 is emulated and slower, so `auto` stays float32. Only the networks change precision: ODE
state, guidance, motion statistics and audio/mel front-ends stay float32.
"""

from __future__ import annotations

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
CHOICES = ("auto", *DTYPES)


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with AMX tiles (torch asks the CPU itself; the helper is private, so fail closed)."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool(probe()) if probe is not None else False
    except RuntimeError:
        return False


def auto_dtype(device: str | torch.device) -> torch.dtype:
    """bfloat16 on AMX CPUs and on GPUs that have it, float16 on older GPUs, else float32."""
    device = torch.device(device)
    if device.type == "cpu":
        return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def resolve_dtype(choice: str, device: str | torch.device) -> torch.dtype:
    """A CLI/widget choice ('auto' or a name in DTYPES) -> torch dtype."""
    if choice == "auto":
        return auto_dtype(device)
    try:
        return DTYPES[choice]
    except KeyError:
        raise ValueError(f"unknown precision {choice!r}: choose one of {', '.join(CHOICES)}") from None
