"""OmniTalker for ComfyUI: text + one reference video -> speech in that voice + a talking-head video.

ComfyUI loads this file as the pack's entry point. The nodes use the V3 API (`comfy_entrypoint`);
this module must not define NODE_CLASS_MAPPINGS, or ComfyUI would load it the V1 way and ignore the
entry point. The library (`omnitalker_core`) sits next to this file and is imported by its own name.
"""

import os
import sys

_ROOT = os.path.dirname(os.path.abspath(__file__))
if _ROOT not in sys.path:
    sys.path.append(_ROOT)  # appended, not prepended: our `nodes/` must never shadow ComfyUI's `nodes` module

from .nodes import comfy_entrypoint  # noqa: E402

WEB_DIRECTORY = "./web"

__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
