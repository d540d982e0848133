"""Progress bars and Cancel for long core loops: a callback the core calls once per step."""

from __future__ import annotations

from collections.abc import Callable

import comfy.model_management
import comfy.utils


def step_callback(total: int) -> Callable[[int, int], None]:
    """-> callback(step, total): moves the node's progress bar and raises when the user pressed Cancel.

    The core calls it between steps (ODE steps, rendered frames); the exception it raises aborts the
    loop there, so a cancelled prompt stops within one step.
    """
    bar = comfy.utils.ProgressBar(max(1, int(total)))

    def callback(step: int, total_: int) -> None:
        comfy.model_management.throw_exception_if_processing_interrupted()
        bar.update_absolute(int(step), max(1, int(total_)))

    return callback
