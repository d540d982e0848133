"""Progress bars, progress text and Cancel for long core loops: a callback the core calls once per step."""

from __future__ import annotations

import time
from collections.abc import Callable

import comfy.model_management
import comfy.utils
from comfy_execution.utils import get_executing_context
from server import PromptServer

Describe = Callable[[int, int], str]  # (step, total) -> what is being done, e.g. "chunk 2/5, step 3/16"


def time_left(elapsed: float, done: int, total: int) -> str:
    """ "about 1 min 20 s left" from the pace so far; "" before the first step."""
    if done <= 0 or total <= done:
        return ""
    seconds = round(elapsed / done * (total - done))
    return f"about {seconds // 60} min {seconds % 60:02d} s left" if seconds >= 60 else f"about {seconds} s left"


def step_callback(total: int, describe: Describe | None = None) -> Callable[[int, int], None]:
    """-> callback(step, total): moves the node's progress bar, shows `describe(step, total)` and the time
    left as text on the node, and raises when the user pressed Cancel.

    The core calls it between steps (ODE steps, rendered frames); the exception it raises aborts the
    loop there, so a cancelled prompt stops within one step."""
    bar = comfy.utils.ProgressBar(max(1, int(total)))
    context = get_executing_context()
    start = time.monotonic()

    def callback(step: int, total_: int) -> None:
        comfy.model_management.throw_exception_if_processing_interrupted()
        bar.update_absolute(int(step), max(1, int(total_)))
        if describe is not None and context is not None and PromptServer.instance is not None:
            left = time_left(time.monotonic() - start, int(step), int(total_))
            text = describe(int(step), int(total_)) + (f" · {left}" if left else "")
            PromptServer.instance.send_progress_text(text, context.node_id)

    return callback
