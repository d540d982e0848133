"""OmniTalker for ComfyUI: text + one reference video -> speech in that voice + a talking-head video.

ComfyUI loads this file as the pack's entry point. The nodes use the V3 API (`comfy_entrypoint`);
this module must not define NODE_CLASS_MAPPINGS, or ComfyUI would load it the V1 way and ignore the
entry point. The library (`omnitalker_core`) is a subpackage of the pack here, imported relatively, so
the pack never edits `sys.path`; `pip install -e .` also installs it as a top-level package for the CLI.
"""

from .nodes import comfy_entrypoint

WEB_DIRECTORY = "./web"

__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
