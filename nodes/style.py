"""Capture Style (reference video, or frames + audio -> STYLE + portrait), Save Style, Load Style."""

from __future__ import annotations

import os

import comfy.model_management
import folder_paths
import torch
from comfy_api.latest import io

from ..omnitalker_core import style as style_lib
from ..omnitalker_core.face.adaptation import AdaptConfig
from . import convert, paths
from .progress import step_callback
from .types import CATEGORY, Style

CAPTURE = "OmniTalker Capture Style"
NO_PORTRAIT_TIP = " A 64x64 black image when the style has no face (captured from audio only)."


def adapt_config() -> AdaptConfig:
    """Adaptation fine-tunes on the host's device (the GPU ComfyUI runs on; the CPU under --cpu)."""
    return AdaptConfig(device=str(comfy.model_management.get_torch_device()))


def portrait_output(style: style_lib.Style) -> torch.Tensor:
    if style.portrait is None:
        return torch.zeros(1, 64, 64, 3)
    return convert.uint8_to_image(torch.as_tensor(style.portrait))


class CaptureStyle(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="OmniTalkerCaptureStyle",
            display_name="OmniTalker Capture Style",
            category=CATEGORY,
            description="Capture a speaker's voice, head motion and facial style from a short reference clip "
            "(1-10 s of one person speaking, face visible). Connect a VIDEO, or IMAGE frames + AUDIO, or AUDIO "
            "alone for a voice-only style.",
            inputs=[
                io.Video.Input(
                    "video",
                    optional=True,
                    tooltip="Reference clip with sound (e.g. from Load Video). Takes precedence over images/audio.",
                ),
                io.Image.Input(
                    "images",
                    optional=True,
                    tooltip="Reference frames instead of a video (e.g. Get Video Components); needs audio too.",
                ),
                io.Audio.Input(
                    "audio",
                    optional=True,
                    tooltip="Reference speech for images, or alone for a voice-only style (no face).",
                ),
                io.Float.Input(
                    "fps",
                    default=25.0,
                    min=1.0,
                    max=120.0,
                    step=0.01,
                    tooltip="Frame rate of the images input in frames per second (ignored for a video).",
                ),
                io.String.Input(
                    "transcript",
                    default="",
                    multiline=True,
                    tooltip="What the reference speaker says. Leave empty to transcribe it offline "
                    "(Whisper tiny.en, English only).",
                ),
                io.Float.Input(
                    "max_seconds",
                    default=10.0,
                    min=0.0,
                    max=30.0,
                    step=0.5,
                    tooltip="Use at most this many seconds from the start of the reference "
                    "(the model was trained on 1-10 s references); 0 = the whole clip.",
                ),
                io.Boolean.Input(
                    "adapt_to_face",
                    default=True,
                    optional=True,
                    tooltip="Fine-tune the face tracker on renders of this face first, so its smiles, lips, jaw, brows, "
                    "gaze and head turns are read at the size the renderer draws them (a face the tracker never saw "
                    "reads them far too small). About 12 min on 2 CPU cores, once per reference face.",
                ),
            ],
            outputs=[
                Style.Output(display_name="style", tooltip="Voice + motion style for Text -> Audio + Motion."),
                io.Image.Output(
                    display_name="portrait", tooltip="The reference frame the renderer animates." + NO_PORTRAIT_TIP
                ),
                io.String.Output(
                    display_name="transcript", tooltip="The reference transcript used (typed or transcribed)."
                ),
            ],
        )

    @classmethod
    def execute(
        cls, fps, transcript, max_seconds, video=None, images=None, audio=None, adapt_to_face=True
    ) -> io.NodeOutput:
        frames = None
        if video is not None:
            images, video_audio, fps = convert.video_components(video, CAPTURE)
            if video_audio is None:
                raise ValueError(
                    f"{CAPTURE}: the reference video has no audio track; the voice is captured from it. "
                    "Use a clip with sound, or connect its frames to 'images' and a recording to 'audio'."
                )
            audio = video_audio
        if images is not None:
            if audio is None:
                raise ValueError(f"{CAPTURE}: 'images' needs the reference speech on 'audio' too (e.g. Load Audio)")
            frames = convert.image_to_uint8(images, CAPTURE, "images")
            if max_seconds > 0:  # decode-side trim: tracking frames past max_seconds is wasted work
                frames = frames[: max(1, round(max_seconds * fps))]
        if audio is None:
            raise ValueError(
                f"{CAPTURE}: connect a reference: 'video' (with sound), or 'images' + 'audio', or 'audio' alone"
            )
        wave, rate = convert.audio_from_host(audio, CAPTURE)
        try:
            style = style_lib.capture_style(
                wave, rate, frames=frames, fps=fps, transcript=transcript or None,
                max_seconds=max_seconds, callback=step_callback(3), adapt=adapt_config() if adapt_to_face else None,
            )  # fmt: skip
        except (ValueError, RuntimeError) as e:  # one type for the host, the original kept as the cause
            raise ValueError(f"{CAPTURE}: {e}") from e
        return io.NodeOutput(style, portrait_output(style), style.transcript)


class SaveStyle(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="OmniTalkerSaveStyle",
            display_name="OmniTalker Save Style",
            category=CATEGORY,
            description="Save a captured style (reference mel, motion, transcript, portrait) as a .safetensors file "
            "in output/omnitalker_styles/, so the voice + face can be reused without the reference video.",
            inputs=[
                Style.Input("style", tooltip="A style from Capture Style."),
                io.String.Input(
                    "filename_prefix",
                    default="style",
                    tooltip="File name prefix; a 5-digit counter is appended, existing files are kept.",
                ),
            ],
            outputs=[],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, style, filename_prefix) -> io.NodeOutput:
        with paths.new_output_file(filename_prefix, str(paths.styles_output_dir()), ".safetensors") as (
            path,
            file,
            subfolder,
        ):
            style.save(path, overwrite=True)  # overwrites only its own reservation
        rel = os.path.join(paths.STYLES, subfolder, file)
        return io.NodeOutput(ui={"omnitalker_style": [{"filename": file, "subfolder": os.path.join(paths.STYLES, subfolder),
                                                       "type": "output", "name": rel}]})  # fmt: skip


class LoadStyle(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="OmniTalkerLoadStyle",
            display_name="OmniTalker Load Style",
            category=CATEGORY,
            description="Load a style saved with Save Style (from output/omnitalker_styles/ or models/omnitalker_styles/).",
            inputs=[
                io.Combo.Input(
                    "style_name",
                    options=paths.style_choices(),
                    tooltip="Style file; press R to refresh the list after saving one.",
                ),
            ],
            outputs=[
                Style.Output(display_name="style", tooltip="Voice + motion style for Text -> Audio + Motion."),
                io.Image.Output(display_name="portrait", tooltip="The style's reference frame." + NO_PORTRAIT_TIP),
                io.String.Output(display_name="transcript", tooltip="The style's reference transcript."),
            ],
        )

    @classmethod
    def fingerprint_inputs(cls, style_name):
        full = folder_paths.get_full_path(paths.STYLES, style_name)  # a changed file is loaded again
        return os.path.getmtime(full) if full and os.path.isfile(full) else float("nan")

    @classmethod
    def execute(cls, style_name) -> io.NodeOutput:
        path = paths.resolve_style(style_name, "OmniTalker Load Style")
        try:
            style = style_lib.Style.load(path)
        except ValueError as e:
            raise ValueError(f"OmniTalker Load Style: {e}") from e
        return io.NodeOutput(style, portrait_output(style), style.transcript)
