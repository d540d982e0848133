"""Speed bookkeeping: named stage timings and the real-time factor (seconds of compute per second
of output; < 1 means faster than real time)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class StageTimer:
    """Accumulates wall-clock seconds per named stage: `with timer("generate"): ...`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0

    def total(self, stages: list[str] | None = None) -> float:
        return sum(v for k, v in self.seconds.items() if stages is None or k in stages)


def real_time_factor(compute_seconds: float, output_seconds: float) -> float:
    if output_seconds <= 0:
        raise ValueError(f"output duration must be positive to compute an RTF, got {output_seconds}")
    if compute_seconds < 0:
        raise ValueError(f"compute time cannot be negative, got {compute_seconds}")
    return compute_seconds / output_seconds


def process_seconds() -> float | None:
    """Seconds since this process started, interpreter start-up and imports included (what a user waits
    for a command); from /proc, at its 10 ms clock-tick resolution. None where /proc is not available."""
    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, counted after the command name
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None
