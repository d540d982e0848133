"""Load Model: an OmniTalker checkpoint (.safetensors with its config inside) -> OMNITALKER_MODEL."""

from __future__ import annotations

import comfy.model_management
import torch
from comfy_api.latest import io

from ..omnitalker_core import checkpoints
from . import paths
from .types import CATEGORY, Model

NODE = "OmniTalker Load Model"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def pick_device(choice: str) -> torch.device:
    """ "auto" follows ComfyUI (--cpu, the GPU it manages); "cpu" forces the CPU."""
    return comfy.model_management.get_torch_device() if choice == "auto" else torch.device("cpu")


def pick_dtype(choice: str, device: torch.device) -> torch.dtype:
    if choice == "auto":  # half precision only where the device does it fast; the demo model is small anyway
        return (
            torch.float16 if device.type == "cuda" and comfy.model_management.should_use_fp16(device) else torch.float32
        )
    return DTYPES[choice]


class LoadModel(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="OmniTalkerLoadModel",
            display_name="OmniTalker Load Model",
            category=CATEGORY,
            description="Load an OmniTalker model (generator, tokenizer, vocoder, renderer settings) from one "
            ".safetensors file in models/omnitalker/, or the small demo model bundled with the pack.",
            inputs=[
                io.Combo.Input(
                    "model_name",
                    options=paths.model_choices(),
                    tooltip="Checkpoint file from models/omnitalker/ (press R after adding one); "
                    "'(bundled)' is the demo model that ships with the pack.",
                ),
                io.Combo.Input(
                    "device",
                    options=["auto", "cpu"],
                    default="auto",
                    tooltip="auto: the device ComfyUI uses (GPU if any, CPU with --cpu); cpu: always CPU.",
                ),
                io.Combo.Input(
                    "dtype",
                    options=["auto", *DTYPES],
                    default="auto",
                    tooltip="Weight precision. auto: float16 on a GPU that supports it, else float32.",
                ),
            ],
            outputs=[
                Model.Output(
                    display_name="model", tooltip="The loaded model, for Capture Style and Text -> Audio + Motion."
                )
            ],
        )

    @classmethod
    def execute(cls, model_name, device, dtype) -> io.NodeOutput:
        path = paths.resolve_model(model_name, NODE)
        dev = pick_device(device)
        try:
            # ComfyUI executes nodes under torch.inference_mode(); weights made there become inference tensors,
            # which cannot be versioned or used with autograd later. Load them as ordinary tensors.
            with torch.inference_mode(False):
                bundle = checkpoints.load_bundle(path, device=dev, dtype=pick_dtype(dtype, dev))
        except (FileNotFoundError, ValueError) as e:
            raise ValueError(
                f"{NODE}: cannot load '{model_name}': {e} — replace the file in {paths.models_dir()} "
                f"or choose '{paths.bundled_name()}'"
            ) from e
        return io.NodeOutput(bundle)
