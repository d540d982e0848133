"""A real ComfyUI host, driven over HTTP: start it headless on CPU, convert UI workflows, queue, wait.

Used by the tests (`tests/conftest.py`), the demo (`scripts/run_demo.sh`) and the command line:
    python -m omnitalker_core host run workflows/X.json --base .demo   # prints the output files
    python -m omnitalker_core host bench workflows/X.json --repeats 2  # queue -> output seconds, RTF (JSON)

Nothing is mocked and nothing here imports ComfyUI (stdlib + HTTP; aiohttp, a ComfyUI dependency, for the
websocket): `start_host` runs the ComfyUI `comfyui_path()` names (`$COMFYUI_PATH`, else `<repo>/../shared/comfyui`,
else v0.3.64 fetched into `<repo>/.comfyui/`; `scripts/comfyui.sh` decides) as a subprocess with this pack linked into `BASE/custom_nodes/`.

Modules: `client` (ComfyHost and its errors), `process` (server start-up, base directory), `workflow`
(UI format -> API prompt), `events` (websocket messages), `bench` (a workflow timed through the host).
"""

from .bench import STAGE_OF_NODE, bench_workflow, media_audio_seconds
from .client import ComfyHost, ExecutionFailed, HostError, PromptRejected
from .events import HostEvents
from .process import (
    PACK_ROOT,
    PortInUse,
    comfyui_path,
    free_port,
    launch,
    pack_root,
    prepare_base,
    start_host,
    workflow_assets,
)
from .workflow import has_control_widget, is_widget, load_workflow, ui_to_api, workflow_links

__all__ = [
    "PACK_ROOT",
    "STAGE_OF_NODE",
    "ComfyHost",
    "ExecutionFailed",
    "HostError",
    "HostEvents",
    "PortInUse",
    "PromptRejected",
    "bench_workflow",
    "comfyui_path",
    "free_port",
    "has_control_widget",
    "is_widget",
    "launch",
    "load_workflow",
    "media_audio_seconds",
    "pack_root",
    "prepare_base",
    "start_host",
    "ui_to_api",
    "workflow_assets",
    "workflow_links",
]
