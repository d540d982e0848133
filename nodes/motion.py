"""Motion nodes: 61-D codes -> ARKit / Live Link Face CSV, and -> a curves IMAGE for a quick look."""

from __future__ import annotations

import folder_paths
import numpy as np
import torch
from comfy_api.latest import io

from ..omnitalker_core import motion as motion_lib
from . import convert, paths, plot
from .types import CATEGORY, Motion


def motion_codes(motion, node: str) -> np.ndarray:
    """MOTION socket value (codes [F, 61] at 25 fps) -> float32 numpy, shape checked."""
    codes = torch.as_tensor(motion).detach().float().cpu()
    if codes.ndim != 2 or codes.shape[1] != motion_lib.MOTION_DIM or codes.shape[0] == 0:
        raise ValueError(f"{node}: MOTION must be [frames, {motion_lib.MOTION_DIM}], got shape {tuple(codes.shape)}")
    return codes.numpy()


class MotionPreview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="OmniTalkerMotionPreview",
            display_name="OmniTalker Motion Preview",
            category=CATEGORY,
            description="Plot the generated facial motion (blendshapes, head pose) over time as an image.",
            inputs=[
                Motion.Input("motion", tooltip="61-D motion codes at 25 fps, e.g. from Text -> Audio + Motion."),
                io.Combo.Input(
                    "channels",
                    options=list(plot.PRESETS),
                    default="all groups",
                    tooltip="Which channel groups to plot, one panel each.",
                ),
                io.Int.Input("width", default=1024, min=256, max=4096, step=64, tooltip="Image width in pixels."),
            ],
            outputs=[io.Image.Output(display_name="curves", tooltip="The plot as an IMAGE (connect Preview Image).")],
        )

    @classmethod
    def execute(cls, motion, channels, width) -> io.NodeOutput:
        codes = motion_codes(motion, "OmniTalker Motion Preview")
        image = plot.draw_curves(codes, motion_lib.VIDEO_FPS, plot.PRESETS[channels], width=width)
        return io.NodeOutput(convert.uint8_to_image(torch.from_numpy(image)))


class MotionToCSV(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="OmniTalkerMotionToCSV",
            display_name="OmniTalker Motion -> ARKit CSV",
            category=CATEGORY,
            description="Write the motion as a Live Link Face-style CSV (51 ARKit blendshapes + head rotation + eye "
            "gaze per frame, 25 fps) in the output folder, for face rigs in Unreal, Blender or Maya.",
            inputs=[
                Motion.Input("motion", tooltip="61-D motion codes at 25 fps, e.g. from Text -> Audio + Motion."),
                io.String.Input(
                    "filename_prefix",
                    default="omnitalker/arkit",
                    tooltip="Output file prefix (subfolders allowed); a 5-digit counter is appended.",
                ),
            ],
            outputs=[io.String.Output(display_name="path", tooltip="Absolute path of the written CSV.")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, motion, filename_prefix) -> io.NodeOutput:
        codes = motion_codes(motion, "OmniTalker Motion -> ARKit CSV")
        with paths.new_output_file(filename_prefix, folder_paths.get_output_directory(), ".csv") as (
            path,
            file,
            subfolder,
        ):
            motion_lib.save_csv(path, codes, motion_lib.VIDEO_FPS, overwrite=True)  # overwrites only its reservation
        result = {"filename": file, "subfolder": subfolder, "type": "output", "frames": int(codes.shape[0])}
        return io.NodeOutput(path, ui={"omnitalker_csv": [result]})
