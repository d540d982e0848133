"""Where the pack's files live in a ComfyUI install, registered with `folder_paths`.

- `models/omnitalker/`          OmniTalker checkpoints (`.safetensors`), plus the bundled demo checkpoint,
                                listed as "omnitalker_demo (bundled)".
- `models/omnitalker_styles/`   captured styles (`.safetensors`), and `output/omnitalker_styles/` where
                                Save Style writes them, so a saved style shows up in Load Style.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
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
    """Add our folders to ComfyUI's registry; called once, when the pack loads (`comfy_entrypoint`)."""
    models_dir().mkdir(parents=True, exist_ok=True)
    folder_paths.add_model_folder_path(MODELS, str(models_dir()))
    folder_paths.add_model_folder_path(STYLES, str(Path(folder_paths.models_dir) / STYLES))
    folder_paths.add_model_folder_path(STYLES, str(styles_output_dir()))
    for name in (MODELS, STYLES):
        paths, exts = folder_paths.folder_names_and_paths[name]
        folder_paths.folder_names_and_paths[name] = (paths, set(exts) | EXTENSIONS)


def model_choices() -> list[str]:
    """The bundled demo checkpoint first, then every file in models/omnitalker/."""
    return [bundled_name()] + [f for f in folder_paths.get_filename_list(MODELS) if f != bundled_name()]


def style_choices() -> list[str]:
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


@contextmanager
def new_output_file(
    prefix: str, out_dir: str, suffix: str, width: int = 0, height: int = 0
) -> Iterator[tuple[str, str, str]]:
    """Reserve the next free `{prefix}_{counter:05}_{suffix}` under `out_dir` -> (path, file name, subfolder).

    The name is taken with an exclusive create, so two prompts racing for a counter never write the same
    file and nothing that exists is overwritten; if writing fails inside the block, the reserved (empty or
    partial) file is removed instead of being left behind."""
    folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(prefix, out_dir, width, height)
    while True:
        file = f"{name}_{counter:05}_{suffix}"
        path = os.path.join(folder, file)
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:
            counter += 1
    try:
        yield path, file, subfolder
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(path)
        raise
