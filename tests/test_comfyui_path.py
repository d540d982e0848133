"""Which ComfyUI the scripts and the host harness run (scripts/comfyui.sh, omnitalker_core.host.comfyui_path):
$COMFYUI_PATH, else ../shared/comfyui, else ComfyUI v0.3.64 cloned into .comfyui/ (commit checked), else a
message saying what to do. Run in a fake repository layout with a fake HOME; nothing is fetched from GitHub
(the clone source is a closed local port, or a local git repository)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from conftest import REPO

from omnitalker_core.host import comfyui_path

SCRIPT = REPO / "scripts" / "comfyui.sh"
PINNED = "a125cd84b054a57729b5eecab930ca9408719832"

pytestmark = pytest.mark.skipif(not (shutil.which("bash") and shutil.which("git")), reason="needs bash and git")


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/comfyanonymous/ComfyUI"  # nothing listens there: the clone fails at once


@pytest.fixture
def layout(tmp_path, monkeypatch):
    """tmp/work/repo/scripts/comfyui.sh (no tmp/work/shared/comfyui), HOME=tmp/home, no COMFYUI_PATH, and the
    clone pointed at an unreachable URL; -> (repo, env)."""
    repo = tmp_path / "work" / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy2(SCRIPT, repo / "scripts" / "comfyui.sh")
    (tmp_path / "home").mkdir()
    monkeypatch.delenv("COMFYUI_PATH", raising=False)
    monkeypatch.delenv("OMNITALKER_COMFYUI_COMMIT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OMNITALKER_COMFYUI_URL", _closed_port_url())
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return repo, dict(os.environ)


def _resolve(repo: Path, env: dict, sourced: bool = False) -> subprocess.CompletedProcess:
    script = repo / "scripts" / "comfyui.sh"
    cmd = (
        ["bash", "-c", f'set -euo pipefail; source "{script}"; echo "$COMFYUI_PATH"']
        if sourced
        else ["bash", str(script)]
    )
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=repo)


def _comfy(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "main.py").write_text("# a ComfyUI stand-in\n")
    return path


def test_no_comfyui_and_no_network_says_what_to_do(layout):
    repo, env = layout
    for sourced in (False, True):  # run by comfyui_path(), sourced by setup_env.sh / run_*.sh under set -e
        res = _resolve(repo, env, sourced)
        assert res.returncode == 2, res
        assert res.stdout == ""
        err = res.stderr
        assert "error: no ComfyUI to run: COMFYUI_PATH is not set" in err, err
        assert "../shared/comfyui does not exist" in err
        assert f"git clone --depth 1 --branch v0.3.64 {env['OMNITALKER_COMFYUI_URL']}" in err
        assert "set COMFYUI_PATH to a ComfyUI 0.3.64 (or newer) source checkout" in err
        assert "COMFYUI_PATH=/path/to/ComfyUI bash scripts/run_tests.sh" in err
        assert "make github.com reachable" in err
    assert sorted(p.name for p in repo.iterdir()) == ["scripts"], "no .comfyui/ or partial clone left behind"
    with pytest.raises(FileNotFoundError) as e:
        comfyui_path(repo)
    assert "no ComfyUI to run" in str(e.value) and "make github.com reachable" in str(e.value)


def test_comfyui_path_wins_then_shared_then_fetched(layout, monkeypatch):
    repo, env = layout
    shared = _comfy(repo.parent / "shared" / "comfyui")
    mine = _comfy(repo.parent / "elsewhere" / "ComfyUI")
    fetched = _comfy(repo / ".comfyui")
    with_env = {**env, "COMFYUI_PATH": str(mine)}
    assert _resolve(repo, with_env).stdout.strip() == str(mine)
    assert _resolve(repo, with_env, sourced=True).stdout.strip() == str(mine)
    monkeypatch.setenv("COMFYUI_PATH", str(mine))
    assert comfyui_path(repo) == mine.resolve()
    monkeypatch.delenv("COMFYUI_PATH")
    assert _resolve(repo, env).stdout.strip() == str(shared)
    assert comfyui_path(repo) == shared.resolve()
    shutil.rmtree(shared)
    assert _resolve(repo, env).stdout.strip() == str(fetched)  # already fetched: no clone, no network
    assert comfyui_path(repo) == fetched.resolve()


def test_bad_comfyui_path_is_refused(layout):
    repo, env = layout
    _comfy(repo.parent / "shared" / "comfyui")  # present, but an explicit COMFYUI_PATH is never overridden
    res = _resolve(repo, {**env, "COMFYUI_PATH": str(repo / "nope")})
    assert res.returncode == 2 and "is not a ComfyUI source tree (no main.py there)" in res.stderr, res


def test_fetch_checks_the_pinned_commit(layout, tmp_path):
    """The clone (from a local repository tagged v0.3.64 instead of GitHub) is used only at the pinned commit."""
    repo, env = layout
    upstream = _comfy(tmp_path / "upstream")
    git_env = {**env, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    for args in (["init", "-q"], ["add", "main.py"], ["commit", "-qm", "x"], ["tag", "v0.3.64"]):
        subprocess.run(["git", *args], cwd=upstream, env=git_env, check=True, capture_output=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=upstream, capture_output=True, text=True).stdout.strip()
    env = {**env, "OMNITALKER_COMFYUI_URL": upstream.as_uri()}

    res = _resolve(repo, env)  # pinned commit a125cd8...: this clone is not it
    assert res.returncode == 2, res
    assert f"is commit {sha}, not the pinned {PINNED}" in res.stderr and "it was not used" in res.stderr
    assert sorted(p.name for p in repo.iterdir()) == ["scripts"]

    res = _resolve(repo, {**env, "OMNITALKER_COMFYUI_COMMIT": sha})
    assert res.returncode == 0, res
    assert res.stdout.strip() == str(repo / ".comfyui") and (repo / ".comfyui" / "main.py").is_file()
    assert "fetching ComfyUI v0.3.64" in res.stderr
    again = _resolve(repo, {**env, "OMNITALKER_COMFYUI_URL": _closed_port_url()})  # reused, not fetched again
    assert again.returncode == 0 and again.stdout.strip() == str(repo / ".comfyui") and again.stderr == ""
