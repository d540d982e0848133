"""Mux: IMAGE frames + AUDIO + fps -> ComfyUI's VIDEO, and optionally an H.264/AAC mp4 in the output folder."""

from __future__ import annotations

import folder_paths
import torch
from comfy.cli_args import args
from comfy_api.input_impl import VideoFromComponents, VideoFromFile
from comfy_api.latest import io
from comfy_api.util import VideoCodec, VideoComponents, VideoContainer

from ..omnitalker_core import pipeline
from . import convert, paths
from .synthesis import frame_progress, portrait_first, portrait_inputs, portrait_to_animate, render_device
from .types import CATEGORY, Motion

NODE = "OmniTalker Mux"


def fit_audio(audio: dict, num_frames: int, fps: float) -> dict:
    """Trim or pad (silence) the audio to exactly the video's duration, so both streams end together."""
    wave, rate = convert.audio_from_host(audio, NODE)
    samples = round(num_frames * rate / fps)
    if wave.shape[-1] >= samples:
        wave = wave[:, :samples]
    else:
        wave = torch.nn.functional.pad(wave, (0, samples - wave.shape[-1]))
    return convert.audio_to_host(wave, rate)


def fit_frames(images: torch.Tensor, seconds: float, fps: float) -> torch.Tensor:
    """Drop frames past the audio's end, or hold the last frame until it."""
    frames = max(1, round(seconds * fps))
    if images.shape[0] >= frames:
        return images[:frames]
    return torch.cat([images, images[-1:].expand(frames - images.shape[0], -1, -1, -1)], dim=0)


def destination(node: type[io.ComfyNode], save_mp4: bool, prefix: str) -> tuple[str, str, str, dict | None]:
    """(folder type, folder, file prefix, mp4 metadata): the output folder with the prompt and workflow embedded
    as the stock Save Video does (not under --disable-metadata), or a temporary preview without them."""
    if not save_mp4:
        return "temp", folder_paths.get_temp_directory(), "omnitalker_preview", None
    metadata = None
    if not args.disable_metadata and node.hidden.prompt is not None:
        metadata = {"prompt": node.hidden.prompt, **(node.hidden.extra_pnginfo or {})}
    return "output", folder_paths.get_output_directory(), prefix, metadata


class Mux(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="OmniTalkerMux",
            display_name="OmniTalker Mux (Video + Audio)",
            category=CATEGORY,
            description="Combine rendered frames and speech into ComfyUI's VIDEO; optionally save an H.264/AAC "
            "mp4 in the output folder (numbered, never overwriting) and play it on the node with sound.",
            inputs=[
                io.Image.Input("images", tooltip="Frames [F, H, W, 3], e.g. from OmniTalker Render Frames."),
                io.Audio.Input("audio", tooltip="The speech, e.g. from OmniTalker Vocoder or Load Audio."),
                io.Float.Input(
                    "fps",
                    default=25.0,
                    min=1.0,
                    max=120.0,
                    step=1.0,
                    tooltip="Frame rate of the images in frames per second (OmniTalker renders at 25).",
                ),
                io.Combo.Input(
                    "length",
                    options=["match video to audio", "match audio to video", "keep both"],
                    default="match video to audio",
                    tooltip="How to make both streams end together: hold/drop frames to the audio's "
                    "duration, or trim/pad the audio to the frames' duration.",
                ),
                io.Boolean.Input(
                    "save_mp4",
                    default=True,
                    tooltip="Also write an H.264 + AAC mp4 to the output folder (otherwise a "
                    "temporary preview file is written).",
                ),
                io.String.Input(
                    "filename_prefix",
                    default="omnitalker/talking",
                    tooltip="Output file prefix (subfolders allowed); a 5-digit counter is appended.",
                ),
            ],
            outputs=[io.Video.Output(tooltip="The video with sound; connect to Save Video or Get Video Components.")],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, images, audio, fps, length, save_mp4, filename_prefix) -> io.NodeOutput:
        frames = convert.uint8_to_image(convert.image_to_uint8(images, NODE))  # checks shape, drops alpha
        wave, rate = convert.audio_from_host(audio, NODE)
        if length == "match video to audio":
            frames = fit_frames(frames, wave.shape[-1] / rate, fps)
        if length != "keep both":
            audio = fit_audio(audio, frames.shape[0], fps)
        video = VideoFromComponents(VideoComponents(images=frames, audio=audio, frame_rate=convert.fps_fraction(fps)))

        height, width = frames.shape[1:3]
        kind, out_dir, filename_prefix, metadata = destination(cls, save_mp4, filename_prefix)
        with paths.new_output_file(filename_prefix, out_dir, ".mp4", width, height) as (path, file, subfolder):
            video.save_to(path, format=VideoContainer.MP4, codec=VideoCodec.H264, metadata=metadata)
        result = {"filename": file, "subfolder": subfolder, "type": kind,
                  "frames": int(frames.shape[0]), "fps": float(fps)}  # fmt: skip
        # "omnitalker_video" is drawn by web/omnitalker.js as a <video> player with sound on this node.
        return io.NodeOutput(video, ui={"omnitalker_video": [result]})


RENDER_VIDEO = "OmniTalker Render Video"


class RenderVideo(io.ComfyNode):
    """Render Frames + Mux in one pass that never holds the frames: each batch goes straight to the H.264
    encoder, so a 3-minute take costs the memory of a few frames instead of a 14 GB IMAGE batch."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="OmniTalkerRenderVideo",
            display_name="OmniTalker Render Video (streamed)",
            category=CATEGORY,
            description="Animate a portrait with the generated motion and encode it with the speech into an H.264 + "
            "AAC mp4 as it renders: memory stays flat however long the text. For frames to edit further, use "
            "Render Frames + Mux instead. The portrait is checked for a face before the speech is generated.",
            inputs=[
                Motion.Input("motion", lazy=True, tooltip="61-D motion codes at 25 fps, from Text -> Audio + Motion."),
                io.Audio.Input(
                    "audio", lazy=True, tooltip="The speech, from OmniTalker Vocoder (trimmed or padded to the frames)."
                ),
                *portrait_inputs(),
                io.Boolean.Input(
                    "save_mp4",
                    default=True,
                    tooltip="Write the mp4 to the output folder (otherwise a temporary preview file, e.g. for Save Video).",
                ),
                io.String.Input(
                    "filename_prefix",
                    default="omnitalker/talking",
                    tooltip="Output file prefix (subfolders allowed); a 5-digit counter is appended.",
                ),
            ],  # fmt: skip
            outputs=[io.Video.Output(tooltip="The mp4 as ComfyUI's VIDEO; Save Video copies it without re-encoding.")],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
            is_output_node=True,
        )

    @classmethod
    def check_lazy_status(cls, resolution, save_mp4, filename_prefix, motion=None, audio=None, style=None,
                          portrait=None, model=None) -> list[str]:  # fmt: skip
        return portrait_first(RENDER_VIDEO, style, portrait, {"motion": motion, "audio": audio})

    @classmethod
    def execute(cls, motion, audio, resolution, save_mp4, filename_prefix, style=None, portrait=None, model=None):
        codes = torch.as_tensor(motion).detach().float().cpu()
        wave, rate = convert.audio_from_host(audio, RENDER_VIDEO)
        kind, out_dir, filename_prefix, metadata = destination(cls, save_mp4, filename_prefix)
        try:
            face, base = portrait_to_animate(RENDER_VIDEO, style, portrait)
            width, height = pipeline.render_size(face.shape[:2], resolution)
            with paths.new_output_file(filename_prefix, out_dir, ".mp4", width, height) as (path, file, subfolder):
                frames = pipeline.render_mp4(
                    path, face, codes, wave, sample_rate=rate, overwrite=True, metadata=metadata, base_codes=base,
                    resolution=resolution, callback=frame_progress(codes.shape[0]), **render_device(model, RENDER_VIDEO),
                )  # fmt: skip
        except ValueError as e:
            raise ValueError(f"{RENDER_VIDEO}: {e}") from e
        result = {"filename": file, "subfolder": subfolder, "type": kind, "frames": frames, "fps": pipeline.VIDEO_FPS}
        return io.NodeOutput(VideoFromFile(path), ui={"omnitalker_video": [result]})
