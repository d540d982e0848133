"""Load Model: an OmniTalker checkpoint (.safetensors with its config inside) -> OMNITALKER_MODEL.

The generator is handed to ComfyUI's model management (a `ModelPatcher`): it is moved to the chosen
device only while a node uses it, is offloaded when other models need the memory, and "Unload models"
frees it, like every stock model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import comfy.model_management
import comfy.model_patcher
import torch
from comfy_api.latest import io

from ..omnitalker_core import checkpoints, precision
from . import paths
from .types import CATEGORY, Model

NODE = "OmniTalker Load Model"
DTYPES = precision.DTYPES


def pick_device(choice: str) -> torch.device:
    """ "auto" follows ComfyUI (--cpu, the GPU it manages); "cpu" forces the CPU."""
    return comfy.model_management.get_torch_device() if choice == "auto" else torch.device("cpu")


def pick_dtype(choice: str, device: torch.device) -> torch.dtype:
    """auto: bfloat16 on a CPU with AMX (2.2x faster sampling there, same WER/similarity: docs/SPEED.md),
    float16 on a GPU that ComfyUI runs in half precision, else float32."""
    if choice != "auto":
        return DTYPES[choice]
    if device.type == "cuda":
        return torch.float16 if comfy.model_management.should_use_fp16(device) else torch.float32
    return precision.auto_dtype(device)


class OmniTalkerGenerator(torch.nn.Module):
    """The generator as ComfyUI's model management sees it (its name appears in the server log)."""

    def __init__(self, flow: torch.nn.Module):
        super().__init__()
        self.flow = flow


@dataclass
class LoadedModel:
    """What an OMNITALKER_MODEL socket carries: the core bundle and the host's handle on its weights."""

    bundle: checkpoints.OmniTalkerBundle
    patcher: comfy.model_patcher.ModelPatcher
    _vocoders: dict = field(default_factory=dict, repr=False)

    @property
    def device(self) -> torch.device:
        """The device the user chose in Load Model (where the weights go while in use)."""
        return self.patcher.load_device

    def vocoder(self, griffin_lim_iters: int):
        """The model's vocoder on its device and in its precision, built once per loaded model."""
        key = (str(self.device), griffin_lim_iters)
        if key not in self._vocoders:
            from ..omnitalker_core.vocoder import vocoder_for

            self._vocoders[key] = vocoder_for(
                self.bundle, device=self.device, griffin_lim_iters=griffin_lim_iters, dtype=self.bundle.flow.dtype
            )
        return self._vocoders[key]

    def use(self) -> checkpoints.OmniTalkerBundle:
        """Load the weights onto the chosen device (a no-op when they are there) and return the bundle."""
        comfy.model_management.load_models_gpu([self.patcher], force_full_load=True)
        return self.bundle


def loaded_model(model, node: str) -> LoadedModel:
    if not isinstance(model, LoadedModel):
        raise ValueError(f"{node}: 'model' must come from OmniTalker Load Model, got {type(model).__name__}")
    return model


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
                    tooltip="Weight precision. auto: float16 on a GPU that supports it, bfloat16 on a CPU with AMX "
                    "(Intel Xeon 4th gen and later), else float32.",
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
        offload = comfy.model_management.unet_offload_device()
        try:
            # ComfyUI executes nodes under torch.inference_mode(); weights made there become inference tensors,
            # which cannot be versioned or used with autograd later. Load them as ordinary tensors.
            with torch.inference_mode(False):
                bundle = checkpoints.load_bundle(path, device=offload, dtype=pick_dtype(dtype, dev))
        except (FileNotFoundError, ValueError) as e:
            raise ValueError(
                f"{NODE}: cannot load '{model_name}': {e} — replace the file in {paths.models_dir()} "
                f"or choose '{paths.bundled_name()}'"
            ) from e
        patcher = comfy.model_patcher.ModelPatcher(
            OmniTalkerGenerator(bundle.flow), load_device=dev, offload_device=offload
        )
        return io.NodeOutput(LoadedModel(bundle, patcher))
