"""ComfyUI V3 nodes of the OmniTalker pack: thin wrappers that parse sockets, call omnitalker_core, report progress."""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io
from typing_extensions import override

from . import paths
from .model import LoadModel
from .motion import MotionPreview, MotionToCSV
from .style import CaptureStyle, LoadStyle, SaveStyle
from .synthesis import Generate, Render, Vocoder
from .video import Mux, RenderVideo

NODES: list[type[io.ComfyNode]] = [
    LoadModel,
    CaptureStyle,
    SaveStyle,
    LoadStyle,
    Generate,
    Vocoder,
    Render,
    RenderVideo,
    Mux,
    MotionToCSV,
    MotionPreview,
]


class OmniTalkerExtension(ComfyExtension):
    @override
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return NODES


async def comfy_entrypoint() -> OmniTalkerExtension:
    paths.register()
    return OmniTalkerExtension()
