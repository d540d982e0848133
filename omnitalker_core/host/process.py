"""Start and stop a real ComfyUI server: headless, on CPU, with this pack linked into `BASE/custom_nodes/`.

`start_host` runs the ComfyUI source tree `comfyui_path()` names (`$COMFYUI_PATH`, else
`<repo>/../shared/comfyui`, else ComfyUI v0.3.64 fetched into `<repo>/.comfyui/`, where `<repo>` is the
checkout this package lives in; `scripts/comfyui.sh` decides) as a subprocess with its own base directory,
on a free port, and returns a `ComfyHost` once the server answers. Nothing here imports ComfyUI.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from .client import ComfyHost, HostError

CORE_DIR = Path(__file__).resolve().parents[1]  # omnitalker_core/
# The pack (nodes/, workflows/, __init__.py) when the core is used from a source or editable checkout.
PACK_ROOT = CORE_DIR.parent
PACK_DIR_NAME = "omnitalker"
# Inputs of the bundled workflows that ship inside the package (checkpoints.REFERENCE_CLIP), copied into
# ComfyUI's input folder next to the files in `<repo>/workflows/assets/`.
PACKAGE_INPUTS = (CORE_DIR / "assets" / "omnitalker_reference.mp4",)
BIND_ERRORS = ("address already in use", "errno 98", "error while attempting to bind")


class PortInUse(HostError):
    """The server could not bind its port (another process took it after `free_port` chose it)."""


def comfyui_path(root: Path | None = None) -> Path:
    """The ComfyUI source tree to run, as `scripts/comfyui.sh` decides it (the one place): `$COMFYUI_PATH`,
    else `<repo>/../shared/comfyui`, else ComfyUI v0.3.64 fetched once into `<repo>/.comfyui/`.

    `root` is the checkout whose script is used (default: the one this package lives in). Without the
    script (the core installed on its own) only `$COMFYUI_PATH` is looked at. Raises FileNotFoundError with
    the script's message (what to do) when there is no ComfyUI and none can be fetched."""
    script = Path(root or PACK_ROOT) / "scripts" / "comfyui.sh"
    env = os.environ.get("COMFYUI_PATH")
    if script.is_file() and shutil.which("bash"):
        res = subprocess.run(["bash", str(script)], capture_output=True, text=True)
        if res.returncode == 0 and res.stdout.strip():
            return Path(res.stdout.strip().splitlines()[-1]).resolve()
        raise FileNotFoundError(res.stderr.strip() or f"{script} found no ComfyUI (exit code {res.returncode})")
    path = Path(env).resolve() if env else None
    if path is None or not (path / "main.py").is_file():
        where = f"COMFYUI_PATH={env} has no main.py" if env else "COMFYUI_PATH is not set"
        raise FileNotFoundError(
            f"no ComfyUI to run ({where}): set COMFYUI_PATH to a ComfyUI source tree (0.3.64 or newer), e.g. "
            "`git clone --branch v0.3.64 https://github.com/comfyanonymous/ComfyUI` and `COMFYUI_PATH=$PWD/ComfyUI`"
        )
    return path


def pack_root() -> Path:
    """The checkout of the pack to link into ComfyUI; raises when the core is installed without it."""
    if not (PACK_ROOT / "__init__.py").is_file():
        raise FileNotFoundError(
            f"omnitalker_core is installed at {CORE_DIR}, not inside a checkout of the ComfyUI pack "
            "(no __init__.py next to it): run from a clone of the repository (pip install -e .)"
        )
    return PACK_ROOT


def free_port() -> int:
    """A TCP port that is free now (the OS's choice); another process may take it before the server binds,
    which `start_host` handles by retrying."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workflow_assets(pack: Path | None = None) -> list[Path]:
    """Files the bundled workflows load from ComfyUI's input folder: the reference clip (shipped in
    `omnitalker_core/assets/`) and what `<repo>/workflows/assets/` holds (the portrait, ...)."""
    pack = PACK_ROOT if pack is None else Path(pack)
    assets = pack / "workflows" / "assets"
    files = [p for p in PACKAGE_INPUTS if p.is_file()]
    if assets.is_dir():
        files += [p for p in assets.iterdir() if p.is_file() and not p.name.startswith(".")]
    return sorted(files, key=lambda p: p.name)


def prepare_base(base: Path, pack: Path | None = None) -> Path:
    """Create BASE/{custom_nodes,user,input,output,temp,models/omnitalker}, link `pack` (default: this
    checkout) into custom_nodes, copy the workflows' assets into input/, and skip the UI's first-run
    template dialog. -> the resolved base directory."""
    pack = pack_root() if pack is None else Path(pack)
    base = Path(base).resolve()
    for sub in ("custom_nodes", "user/default", "input", "output", "temp", "models/omnitalker"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    settings = base / "user" / "default" / "comfy.settings.json"
    if not settings.exists():
        settings.write_text(json.dumps({"Comfy.TutorialCompleted": True, "Comfy.Minimap.Visible": False}))
    for asset in workflow_assets(pack):
        target = base / "input" / asset.name
        if not target.exists() or target.stat().st_mtime < asset.stat().st_mtime:
            shutil.copy2(asset, target)
    link = base / "custom_nodes" / PACK_DIR_NAME
    if link.is_symlink() and Path(os.readlink(link)) != pack.resolve():
        link.unlink()
    if not link.exists():
        link.symlink_to(pack.resolve(), target_is_directory=True)
    return base


def start_host(
    base: Path,
    *,
    python: str | None = None,
    port: int | None = None,
    link_pack: bool = True,
    extra_args: tuple[str, ...] = (),
    ready_timeout: float = 300,
    attempts: int = 4,
) -> ComfyHost:
    """Start ComfyUI headless on CPU in `base` and wait until it answers as the server started here.

    Without `port`, a free one is chosen; when the server then fails to bind it (another process took it
    in between), it is started again on a new port, up to `attempts` times."""
    comfy = comfyui_path()
    base = prepare_base(base) if link_pack else Path(base).resolve()
    for sub in ("custom_nodes", "user", "input", "output", "temp"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    for attempt in range(1, attempts + 1):
        try:
            host = launch(comfy, base, port or free_port(), python=python, extra_args=extra_args, timeout=ready_timeout)
        except PortInUse:
            if port is not None or attempt == attempts:
                raise
            continue
        host.startup_seconds = time.monotonic() - t0  # all attempts
        return host
    raise AssertionError("unreachable")


def launch(
    comfy: Path,
    base: Path,
    port: int,
    *,
    python: str | None = None,
    extra_args: tuple[str, ...] = (),
    timeout: float = 300,
) -> ComfyHost:
    """One start of `comfy/main.py` on `port` (no retry; see `start_host`); the log goes to BASE/comfyui.log.

    Ready means `/system_stats` answers with this server's own command line (so a foreign server that took
    the port is never mistaken for it) and `/object_info` answers. Raises PortInUse when the server exited
    saying the address is in use, HostError when it exited otherwise or did not answer within `timeout`."""
    log_path = base / "comfyui.log"
    cmd = [
        python or os.environ.get("OMNITALKER_PYTHON") or sys.executable,
        str(comfy / "main.py"),
        "--cpu",
        "--listen", "127.0.0.1",
        "--port", str(port),
        "--base-directory", str(base),
        "--disable-auto-launch",
        "--database-url", f"sqlite:///{base / 'user' / 'comfyui.db'}",
        *extra_args,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "ab") as log:  # the child keeps its own handle for its lifetime
        log_start = log.tell()
        log.write(f"$ {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(cmd, cwd=comfy, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    host = ComfyHost(base=base, port=port, proc=proc, log_path=log_path)
    t0 = time.monotonic()
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(log_path, "rb") as f:
                f.seek(log_start)
                this_run = f.read().decode(errors="replace")
            if any(e in this_run.lower() for e in BIND_ERRORS):
                raise PortInUse(f"ComfyUI could not bind port {port}: address already in use", this_run[-3000:])
            raise HostError(
                f"ComfyUI exited during start-up (code {proc.returncode}): {' '.join(cmd)}", this_run[-6000:]
            )
        try:
            status, stats = host.request("GET", "/system_stats", timeout=5)
            if (
                status == 200
                and is_own_server(stats, base, port)
                and host.request("GET", "/object_info", timeout=120)[0] == 200
            ):
                host.startup_seconds = time.monotonic() - t0
                return host
        except OSError:
            pass
        time.sleep(0.5)
    host.stop()
    raise HostError(f"ComfyUI did not answer on port {port} within {timeout:.0f} s", host.log_tail())


def is_own_server(system_stats: object, base: Path, port: int) -> bool:
    """Whether a `/system_stats` answer comes from the server started with this base directory and port."""
    if not isinstance(system_stats, dict):
        return False
    argv = [str(a) for a in (system_stats.get("system") or {}).get("argv") or []]
    return str(base) in argv and str(port) in argv
