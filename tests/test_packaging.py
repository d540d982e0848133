"""The pack installs like a well-kept ComfyUI pack: one dependency list, the Registry's section, no forced
OpenCV, a core that imports without touching sys.path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]


def _requirements(name: str = "requirements.txt") -> list[str]:
    lines = (REPO / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_pyproject_dependencies_are_requirements_txt():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["dependencies"] == _requirements()
    assert project["project"]["optional-dependencies"]["train"] == _requirements("requirements-train.txt")
    comfy = project["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"] == "OmniTalker"


def test_no_opencv_build_is_forced_on_users():
    assert not [r for r in _requirements() if r.lower().startswith("opencv")]
    assert "opencv-python-headless" in (REPO / "install.py").read_text(encoding="utf-8")


def test_core_and_pack_entry_do_not_edit_sys_path():
    for path in [REPO / "__init__.py", *(REPO / "omnitalker_core").rglob("*.py"), *(REPO / "nodes").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        assert "sys.path.insert" not in text and "sys.path.append" not in text, path


def test_installed_core_runs_its_cli_from_anywhere(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "omnitalker_core", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and "generate" in out.stdout and "host" in out.stdout, out.stderr[-2000:]
