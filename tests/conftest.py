"""Shared fixtures: `comfy_host` runs one real ComfyUI server (headless, CPU) for the whole test session."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/host.py
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # omnitalker_core (rootdir is tests/, see pytest.ini)

from host import REPO, ComfyHost, start_host  # noqa: E402

TEST_OUTPUT = REPO / "test-output"

# Every node the pack must register in the host (V3 node ids; display names are in the README table).
EXPECTED_NODE_IDS = [
    "OmniTalkerLoadModel",
    "OmniTalkerCaptureStyle",
    "OmniTalkerSaveStyle",
    "OmniTalkerLoadStyle",
    "OmniTalkerGenerate",
    "OmniTalkerVocoder",
    "OmniTalkerRender",
    "OmniTalkerMux",
    "OmniTalkerMotionToCSV",
    "OmniTalkerMotionPreview",
]


@pytest.fixture(scope="session")
def test_output() -> Path:
    TEST_OUTPUT.mkdir(exist_ok=True)
    return TEST_OUTPUT


@pytest.fixture(scope="session")
def comfy_host(tmp_path_factory, test_output) -> ComfyHost:
    """ComfyUI with this pack linked into `BASE/custom_nodes/omnitalker`, on a free port; stopped at the end.

    The server log is copied to `test-output/comfyui.log` when the session ends.
    """
    base = tmp_path_factory.mktemp("comfy_base")
    host = start_host(base)
    (test_output / "host-startup.txt").write_text(f"{host.startup_seconds:.1f}\n")
    yield host
    host.stop()
    if host.log_path and host.log_path.exists():
        shutil.copy2(host.log_path, test_output / "comfyui.log")


def pack_has_nodes() -> bool:
    return (REPO / "nodes").is_dir() and (REPO / "__init__.py").is_file()


requires_pack = pytest.mark.skipif(not pack_has_nodes(), reason="the pack's nodes/ and __init__.py do not exist yet")


def pytest_collection_modifyitems(config, items):
    """Browser tests last: they queue the same workflows, and the host's cache would otherwise make the
    workflow tests (and their timings) cache hits."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
