"""Where the pack's files live in a ComfyUI install, registered with `folder_paths`.

- `models/omnitalker/`          OmniTalker checkpoints (`.safetensors`), plus the bundled demo checkpoint,
                                listed as "omnitalker_demo (bundled)".
- `models/omnitalker_styles/`   captured styles (`.safetensors`), and `output/omnitalker_styles/` where
                                Save Style writes them, so a saved style shows up in Load Style.
"""

from __future__ import annotations

import os
from pathlib import Path

import folder_paths

MODELS = "omnitalker"
STYLES = "omnitalker_styles"
BUNDLED_SUFFIX = " (bundled)"
EXTENSIONS = {".safetensors"}


def demo_checkpoint() -> Path:
    """The demo checkpoint that ships with the pack (path from omnitalker_core.checkpoints)."""
    from ..omnitalker_core.checkpoints import DEMO_CHECKPOINT

    return Path(DEMO_CHECKPOINT)


def bundled_name() -> str:
    return demo_checkpoint().stem + BUNDLED_SUFFIX


def models_dir() -> Path:
    return Path(folder_paths.models_dir) / MODELS


def styles_output_dir() -> Path:
    return Path(folder_paths.get_output_directory()) / STYLES


def register() -> None:
    """Add our folders to ComfyUI's registry (idempotent; called when the pack loads)."""
    models_dir().mkdir(parents=True, exist_ok=True)
    folder_paths.add_model_folder_path(MODELS, str(models_dir()))
    folder_paths.add_model_folder_path(STYLES, str(Path(folder_paths.models_dir) / STYLES))
    folder_paths.add_model_folder_path(STYLES, str(styles_output_dir()))
    for name in (MODELS, STYLES):
        paths, exts = folder_paths.folder_names_and_paths[name]
        folder_paths.folder_names_and_paths[name] = (paths, set(exts) | EXTENSIONS)


def model_choices() -> list[str]:
    """The bundled demo checkpoint first, then every file in models/omnitalker/."""
    register()
    return [bundled_name()] + [f for f in folder_paths.get_filename_list(MODELS) if f != bundled_name()]


def style_choices() -> list[str]:
    register()
    return folder_paths.get_filename_list(STYLES)


def resolve_model(name: str, node: str) -> Path:
    """A choice from `model_choices()` -> the file; a clear message when it has gone missing."""
    if name == bundled_name():
        path = demo_checkpoint()
        if not path.is_file():
            raise FileNotFoundError(
                f"{node}: the bundled demo checkpoint {path} is missing; reinstall the pack "
                "(git checkout omnitalker_core/assets/) or choose a model in models/omnitalker/"
            )
        return path
    full = folder_paths.get_full_path(MODELS, name)
    if full is None or not os.path.isfile(full):
        raise FileNotFoundError(
            f"{node}: model file '{name}' not found in {models_dir()}; put the .safetensors file there "
            f"(then press R to refresh the list) or choose '{bundled_name()}'"
        )
    return Path(full)


def resolve_style(name: str, node: str) -> Path:
    full = folder_paths.get_full_path(STYLES, name)
    if full is None or not os.path.isfile(full):
        raise FileNotFoundError(
            f"{node}: style file '{name}' not found in {Path(folder_paths.models_dir) / STYLES} or "
            f"{styles_output_dir()}; save one with OmniTalker Save Style, or copy a style .safetensors there"
        )
    return Path(full)
