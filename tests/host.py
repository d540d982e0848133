"""A real ComfyUI host for tests and the demo: start it headless on CPU, convert UI workflows, queue, wait.

Nothing here is a mock: `start_host` runs the pinned ComfyUI (`$COMFYUI_PATH`, default
`<repo>/../shared/comfyui`) as a subprocess with this pack symlinked into `BASE/custom_nodes/`,
and every call goes through its HTTP API, the same way the browser UI talks to it.

`ComfyHost.ui_to_api` turns a UI-format workflow (what "Save" in the UI writes: `nodes`, `links`,
`widgets_values`) into the API prompt format (`{node_id: {class_type, inputs}}`) using the host's
`/object_info` input order, so the example workflows in `workflows/` are the only copy kept.

Usable as a library (the fixture in `conftest.py`) and as a command (`scripts/run_demo.sh`):
    python tests/host.py run workflows/X.json --base .demo   # prints the output files
    python tests/host.py bench workflows/X.json --repeats 2  # queue -> output seconds, per node, RTF (JSON)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PACK_DIR_NAME = "omnitalker"

# Node types that live only in the UI; the frontend never sends them to the server.
VIRTUAL_NODE_TYPES = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
LEGACY_SEED_NAMES = {"seed", "noise_seed"}  # the frontend adds "control_after_generate" to these INT widgets
MODE_NEVER, MODE_BYPASS = 2, 4


def comfyui_path() -> Path:
    """The ComfyUI source tree to run: `$COMFYUI_PATH`, else the pinned copy next to the repo."""
    path = Path(os.environ.get("COMFYUI_PATH") or REPO.parent / "shared" / "comfyui").resolve()
    if not (path / "main.py").is_file():
        raise FileNotFoundError(
            f"no ComfyUI at {path} (main.py missing); set COMFYUI_PATH to a ComfyUI source tree (0.3.64 or newer)"
        )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HostError(RuntimeError):
    """The host refused or failed a prompt; `.log_tail` holds the end of the server log."""

    def __init__(self, message: str, log_tail: str = ""):
        super().__init__(message + (f"\n--- server log (tail) ---\n{log_tail}" if log_tail else ""))
        self.log_tail = log_tail


class PromptRejected(HostError):
    """`POST /prompt` answered 400: validation failed before anything ran."""

    def __init__(self, error: dict, node_errors: dict, log_tail: str = ""):
        self.error, self.node_errors = error, node_errors
        details = "; ".join(
            f"node {nid} ({ne.get('class_type')}): "
            + ", ".join(e.get("details") or e.get("message", "") for e in ne.get("errors", []))
            for nid, ne in node_errors.items()
        )
        super().__init__(f"prompt rejected: {error.get('message', error)} {details}".strip(), log_tail)


class ExecutionFailed(HostError):
    """A node raised while the prompt ran; `.node_id`, `.node_type`, `.exception_message` say which and why."""

    def __init__(self, info: dict, log_tail: str = ""):
        self.info = info
        self.node_id = str(info.get("node_id"))
        self.node_type = info.get("node_type")
        self.exception_type = info.get("exception_type")
        self.exception_message = info.get("exception_message", "")
        super().__init__(
            f"node {self.node_id} ({self.node_type}) failed: {self.exception_type}: {self.exception_message}", log_tail
        )


@dataclass
class ComfyHost:
    """Client for one running ComfyUI server (see `start_host`)."""

    base: Path
    port: int
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    client_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    startup_seconds: float | None = None
    _object_info: dict | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- HTTP ---------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            raw, status = e.read(), e.code
        try:
            return status, json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return status, raw.decode(errors="replace")

    def get(self, path: str, timeout: float = 60) -> Any:
        status, data = self._request("GET", path, timeout=timeout)
        if status != 200:
            raise HostError(f"GET {path} -> HTTP {status}: {data}", self.log_tail())
        return data

    def alive(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            return False
        try:
            return self._request("GET", "/system_stats", timeout=5)[0] == 200
        except OSError:
            return False

    def log_tail(self, chars: int = 6000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    # -- API ----------------------------------------------------------------------------------------
    def object_info(self, refresh: bool = False) -> dict:
        if self._object_info is None or refresh:
            self._object_info = self.get("/object_info", timeout=120)
        return self._object_info

    def queue(self, prompt: dict, workflow: dict | None = None) -> str:
        """`POST /prompt`; returns the prompt id, raises `PromptRejected` on a validation error."""
        body: dict[str, Any] = {"prompt": prompt, "client_id": self.client_id}
        if workflow is not None:  # what the UI sends too: SaveVideo etc. embed it in the file
            body["extra_data"] = {"extra_pnginfo": {"workflow": workflow}}
        status, data = self._request("POST", "/prompt", body)
        if status != 200:
            data = data if isinstance(data, dict) else {"error": {"message": str(data)}, "node_errors": {}}
            raise PromptRejected(data.get("error", {}), data.get("node_errors", {}), self.log_tail())
        return data["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 600, poll: float = 0.25) -> dict:
        """Wait until the prompt finished; returns its `/history` entry, raises `ExecutionFailed`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hist = self.get(f"/history/{prompt_id}")
            entry = hist.get(prompt_id) if isinstance(hist, dict) else None
            if entry and entry.get("status", {}).get("completed") is not None:
                status = entry["status"]
                if status.get("status_str") == "error" or not status.get("completed"):
                    for kind, info in status.get("messages", []):
                        if kind in ("execution_error", "execution_interrupted"):
                            raise ExecutionFailed(info, self.log_tail())
                    raise HostError(f"prompt {prompt_id} did not complete: {status}", self.log_tail())
                return entry
            if self.proc is not None and self.proc.poll() is not None:
                raise HostError(
                    f"the ComfyUI server exited (code {self.proc.returncode}) while running {prompt_id}",
                    self.log_tail(),
                )
            time.sleep(poll)
        raise HostError(f"prompt {prompt_id} still running after {timeout:.0f} s", self.log_tail())

    def run(self, prompt: dict, workflow: dict | None = None, timeout: float = 600) -> dict:
        return self.wait(self.queue(prompt, workflow), timeout)

    def run_workflow(self, workflow: dict | str | Path, timeout: float = 600) -> dict:
        wf = load_workflow(workflow)
        return self.run(self.ui_to_api(wf), wf, timeout)

    def interrupt(self) -> None:
        self._request("POST", "/interrupt", {})

    def output_files(
        self,
        entry: dict,
        node_id: str | None = None,
        suffix: str | None = None,
        kinds: tuple[str, ...] = ("output", "temp"),
    ) -> list[Path]:
        """Files a finished prompt reported in its UI outputs (images, audio, video), as paths under BASE.

        kinds: ComfyUI folder types to include ("output" files are kept, "temp" ones are previews)."""
        roots = {"output": self.base / "output", "temp": self.base / "temp", "input": self.base / "input"}
        files = []
        for nid, out in entry.get("outputs", {}).items():
            if node_id is not None and str(nid) != str(node_id):
                continue
            for items in out.values():
                if not isinstance(items, list):
                    continue
                for item in items:
                    if isinstance(item, dict) and "filename" in item and item.get("type", "output") in kinds:
                        path = (
                            roots.get(item.get("type", "output"), roots["output"])
                            / item.get("subfolder", "")
                            / item["filename"]
                        )
                        if suffix is None or path.suffix == suffix:
                            files.append(path)
        return files

    def input_dir(self) -> Path:
        return self.base / "input"

    # -- UI workflow -> API prompt -------------------------------------------------------------------
    def ui_to_api(self, workflow: dict) -> dict:
        return ui_to_api(workflow, self.object_info())

    # -- lifecycle ------------------------------------------------------------------------------------
    def stop(self, timeout: float = 20) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def load_workflow(workflow: dict | str | Path) -> dict:
    if isinstance(workflow, dict):
        return workflow
    return json.loads(Path(workflow).read_text())


def _links(workflow: dict) -> dict[int, tuple[int, int, int, int]]:
    """link id -> (origin node, origin slot, target node, target slot); both serialisation forms."""
    links = {}
    for link in workflow.get("links", []):
        if isinstance(link, dict):
            links[link["id"]] = (link["origin_id"], link["origin_slot"], link["target_id"], link["target_slot"])
        else:
            links[link[0]] = (link[1], link[2], link[3], link[4])
    return links


def _is_widget(spec: list) -> bool:
    kind, opts = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
    if opts.get("forceInput"):
        return False
    return isinstance(kind, list) or kind in WIDGET_TYPES


def _has_control_widget(name: str, spec: list) -> bool:
    kind, opts = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
    if "control_after_generate" in opts:
        return bool(opts["control_after_generate"])
    return kind == "INT" and name in LEGACY_SEED_NAMES


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """Convert a UI-format workflow into the API prompt the frontend would queue.

    Widget values are matched to inputs in `/object_info` order (required, then optional); an INT/COMBO
    with a "control after generate" widget stores one extra value right after its own, which is skipped.
    Linked inputs (sockets, or widgets converted to inputs) become `[origin_id, slot]`, following Reroute
    nodes and bypassed nodes, and taking a PrimitiveNode's value directly. Note/MarkdownNote/muted nodes
    are dropped. Unknown node types raise `KeyError` naming them (a missing custom node).
    """
    nodes = {n["id"]: n for n in workflow.get("nodes", [])}
    links = _links(workflow)
    missing = sorted(
        {n["type"] for n in nodes.values() if n["type"] not in object_info and n["type"] not in VIRTUAL_NODE_TYPES}
    )
    if missing:
        raise KeyError(f"node types not installed in this ComfyUI: {', '.join(missing)}")

    def resolve(link_id: int, depth: int = 0) -> list | tuple[str, Any] | None:
        """-> [origin_id, slot] of a real node, ("value", v) for a primitive, or None for a dangling link."""
        if link_id is None or link_id not in links or depth > 64:
            return None
        origin_id, origin_slot = links[link_id][0], links[link_id][1]
        origin = nodes.get(origin_id)
        if origin is None:
            return None
        if origin["type"] == "Reroute":
            return resolve((origin.get("inputs") or [{}])[0].get("link"), depth + 1)
        if origin["type"] == "PrimitiveNode":
            return ("value", (origin.get("widgets_values") or [None])[0])
        if origin.get("mode", 0) == MODE_NEVER:
            return None
        if origin.get("mode", 0) == MODE_BYPASS:  # pass the matching input straight through, as the UI does
            out_type = (
                (origin.get("outputs") or [])[origin_slot].get("type")
                if origin_slot < len(origin.get("outputs") or [])
                else None
            )
            candidates = [i for i in origin.get("inputs") or [] if i.get("link") is not None]
            same_slot = [
                i for k, i in enumerate(origin.get("inputs") or []) if k == origin_slot and i.get("type") == out_type
            ]
            typed = same_slot or [i for i in candidates if i.get("type") == out_type]
            return resolve(typed[0]["link"], depth + 1) if typed else None
        return [str(origin_id), origin_slot]

    prompt = {}
    for nid, node in nodes.items():
        ntype = node["type"]
        if ntype in VIRTUAL_NODE_TYPES or node.get("mode", 0) in (MODE_NEVER, MODE_BYPASS):
            continue
        info = object_info[ntype]
        order = info.get("input_order") or {k: list(v) for k, v in info.get("input", {}).items()}
        specs = {**info["input"].get("required", {}), **info["input"].get("optional", {})}
        names = list(order.get("required", [])) + list(order.get("optional", []))
        linked = {i["name"]: i.get("link") for i in node.get("inputs") or [] if i.get("link") is not None}
        # newer frontends name a converted widget's socket after the widget: {"name": .., "widget": {"name": ..}}
        for i in node.get("inputs") or []:
            if i.get("link") is not None and isinstance(i.get("widget"), dict):
                linked[i["widget"]["name"]] = i["link"]
        values = node.get("widgets_values")
        by_name = values if isinstance(values, dict) else None
        values = [] if by_name is not None else list(values or [])
        pos = 0
        inputs: dict[str, Any] = {}
        for name in names:
            spec = specs[name]
            if _is_widget(spec):
                if by_name is not None:
                    value, present = by_name.get(name), name in by_name
                else:
                    present = pos < len(values)
                    value = values[pos] if present else None
                    pos += 1 + (1 if present and _has_control_widget(name, spec) else 0)
                if present:
                    inputs[name] = value
            if name in linked:
                src = resolve(linked[name])
                if isinstance(src, tuple):
                    inputs[name] = src[1]
                elif src is not None:
                    inputs[name] = src
        title = node.get("title") or info.get("display_name") or ntype
        prompt[str(nid)] = {"class_type": ntype, "inputs": inputs, "_meta": {"title": title}}
    return prompt


def workflow_assets(repo: Path = REPO) -> list[Path]:
    """Files the bundled workflows load from ComfyUI's input folder (the reference clip, ...)."""
    assets = repo / "workflows" / "assets"
    return sorted(p for p in assets.iterdir() if p.is_file() and not p.name.startswith(".")) if assets.is_dir() else []


def prepare_base(base: Path, repo: Path = REPO) -> Path:
    """Create BASE/{custom_nodes,user,input,output,temp,models/omnitalker}, link the pack into custom_nodes,
    copy the workflows' assets into input/, and skip the UI's first-run template dialog."""
    base = Path(base).resolve()
    for sub in ("custom_nodes", "user/default", "input", "output", "temp", "models/omnitalker"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    settings = base / "user" / "default" / "comfy.settings.json"
    if not settings.exists():
        settings.write_text(json.dumps({"Comfy.TutorialCompleted": True, "Comfy.Minimap.Visible": False}))
    for asset in workflow_assets(repo):  # what the bundled workflows load from ComfyUI's input folder
        target = base / "input" / asset.name
        if not target.exists() or target.stat().st_mtime < asset.stat().st_mtime:
            shutil.copy2(asset, target)
    link = base / "custom_nodes" / PACK_DIR_NAME
    if link.is_symlink() and Path(os.readlink(link)) != repo.resolve():
        link.unlink()
    if not link.exists():
        link.symlink_to(repo.resolve(), target_is_directory=True)
    return base


def start_host(
    base: Path,
    *,
    python: str | None = None,
    port: int | None = None,
    link_pack: bool = True,
    extra_args: tuple[str, ...] = (),
    ready_timeout: float = 300,
) -> ComfyHost:
    """Start ComfyUI headless on CPU in `base` and wait until `/object_info` answers."""
    comfy = comfyui_path()
    base = prepare_base(base) if link_pack else Path(base).resolve()
    for sub in ("custom_nodes", "user", "input", "output", "temp"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    port = port or free_port()
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
    log = open(log_path, "ab")  # noqa: SIM115 (kept open for the server's lifetime)
    log.write(f"$ {' '.join(cmd)}\n".encode())
    log.flush()
    proc = subprocess.Popen(cmd, cwd=comfy, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    host = ComfyHost(base=base, port=port, proc=proc, log_path=log_path)
    t0 = time.monotonic()
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HostError(
                f"ComfyUI exited during start-up (code {proc.returncode}): {' '.join(cmd)}", host.log_tail()
            )
        try:
            status, _ = host._request("GET", "/object_info", timeout=30)
            if status == 200:
                host.startup_seconds = time.monotonic() - t0
                return host
        except OSError:
            pass
        time.sleep(0.5)
    host.stop()
    raise HostError(f"ComfyUI did not answer /object_info within {ready_timeout:.0f} s", host.log_tail())


# -- bench: the same workflow timed through the host (queue -> output) ------------------------------

# Which nodes make which stage of `python -m omnitalker_core bench e2e` (omnitalker_core/bench/e2e.py).
STAGE_OF_NODE = {
    "OmniTalkerLoadModel": "load_model",
    "LoadVideo": "capture",
    "OmniTalkerCaptureStyle": "capture",
    "OmniTalkerGenerate": "generate",
    "OmniTalkerVocoder": "vocode",
    "OmniTalkerRender": "render",
    "OmniTalkerMux": "mux",
    "SaveVideo": "mux",
}


class NodeClock:
    """Listens on the host's websocket as the UI does and stamps each `executing` message on arrival:
    a node runs from its `executing` to the next one (the history has only prompt start and end).
    Needs aiohttp (a ComfyUI dependency); without it `available` is False and per-node times are absent."""

    def __init__(self, host: ComfyHost):
        import threading

        self.events: list[tuple[float, str, dict]] = []
        self.available = False
        self._loop = None
        self._ws = None
        self._ready = threading.Event()
        try:
            import aiohttp  # noqa: F401
        except ImportError:
            return
        self._url = f"ws://127.0.0.1:{host.port}/ws?clientId={host.client_id}"
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(15)

    def _run(self) -> None:
        import asyncio

        import aiohttp

        async def listen() -> None:
            self._loop = asyncio.get_running_loop()
            try:
                async with aiohttp.ClientSession() as session, session.ws_connect(self._url) as ws:
                    self._ws = ws
                    self.available = True
                    self._ready.set()
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            data = json.loads(msg.data)
                            self.events.append((time.monotonic(), data.get("type", ""), data.get("data") or {}))
            except Exception:  # noqa: BLE001 (no per-node times is not a failure of the bench)
                pass
            finally:
                self._ready.set()

        asyncio.run(listen())

    def node_seconds(self, prompt_id: str, end: float) -> list[tuple[str, float]]:
        """[(node id, seconds)] in execution order for one prompt; the last node ends at `end`
        (monotonic) unless the end-of-prompt message came first."""
        marks = [
            (t, d.get("node")) for t, kind, d in self.events if kind == "executing" and d.get("prompt_id") == prompt_id
        ]
        out = []
        for k, (t, node) in enumerate(marks):
            if node is None:
                continue
            t_next = marks[k + 1][0] if k + 1 < len(marks) else end
            out.append((str(node), t_next - t))
        return out

    def close(self) -> None:
        if self._loop is not None and self._ws is not None:
            import asyncio

            try:
                asyncio.run_coroutine_threadsafe(self._ws.close(), self._loop).result(5)
            except Exception:  # noqa: BLE001
                pass


def media_audio_seconds(path: Path) -> float | None:
    """Seconds of the first audio stream of a media file (decoded, not the header's guess)."""
    import av

    with av.open(str(path)) as c:
        if not c.streams.audio:
            return None
        st = c.streams.audio[0]
        return sum(f.samples for f in c.decode(st)) / st.rate


def bench_workflow(
    host: ComfyHost,
    workflow: dict | str | Path,
    *,
    repeats: int = 2,
    model: Path | None = None,
    seed: int | None = None,
    timeout: float = 1800,
) -> dict:
    """Queue a UI workflow `repeats` times (a different seed each time, so the generator and what
    follows run again; nodes upstream of the seed come from the host's cache after the first run) and
    time each from `POST /prompt` to its history entry: wall seconds, the host's own execution
    seconds (history timestamps), per-node seconds (websocket) summed into the stages of
    `bench e2e`, and RTF = wall / seconds of audio in the output video.

    model: a .safetensors to use instead of the workflow's; copied into BASE/models/omnitalker/."""
    wf = load_workflow(workflow)
    prompt = host.ui_to_api(wf)
    if model is not None:
        model = Path(model)
        target = host.base / "models" / "omnitalker" / model.name
        if not target.exists() or target.stat().st_mtime < model.stat().st_mtime:
            shutil.copy2(model, target)
        loaders = [n for n in prompt.values() if n["class_type"] == "OmniTalkerLoadModel"]
        if not loaders:
            raise ValueError("--model: the workflow has no OmniTalkerLoadModel node")
        for n in loaders:
            n["inputs"]["model_name"] = model.name
    seeded = [nid for nid, n in prompt.items() if isinstance(n["inputs"].get("seed"), int)]
    base_seed = seed if seed is not None else (prompt[seeded[0]]["inputs"]["seed"] if seeded else 0)
    clock = NodeClock(host)
    runs = []
    try:
        for r in range(repeats):
            for nid in seeded:
                prompt[nid]["inputs"]["seed"] = base_seed + r
            t0 = time.monotonic()
            prompt_id = host.queue(prompt, wf)
            entry = host.wait(prompt_id, timeout=timeout, poll=0.02)
            t1 = time.monotonic()
            time.sleep(0.2)  # let the last websocket message arrive
            messages = {kind: data for kind, data in entry.get("status", {}).get("messages", [])}
            server = None
            if "execution_start" in messages and "execution_success" in messages:
                server = (messages["execution_success"]["timestamp"] - messages["execution_start"]["timestamp"]) / 1000
            cached = sorted(messages.get("execution_cached", {}).get("nodes", []), key=str)
            nodes = [
                {"node": nid, "class_type": prompt[nid]["class_type"], "seconds": round(sec, 3)}
                for nid, sec in clock.node_seconds(prompt_id, t1)
                if nid in prompt
            ]
            stages: dict[str, float] = {}
            for n in nodes:
                stage = STAGE_OF_NODE.get(n["class_type"], "other")
                stages[stage] = round(stages.get(stage, 0.0) + n["seconds"], 3)
            videos = host.output_files(entry, suffix=".mp4", kinds=("output",)) or host.output_files(
                entry, suffix=".mp4"
            )
            audio_seconds = media_audio_seconds(videos[0]) if videos else None
            wall = t1 - t0
            runs.append(
                {
                    "repeat": r,
                    "seed": base_seed + r if seeded else None,
                    "wall_seconds": round(wall, 3),
                    "server_seconds": None if server is None else round(server, 3),
                    "cached_nodes": [f"{nid} {prompt[nid]['class_type']}" for nid in cached if nid in prompt],
                    "nodes": nodes if clock.available else None,
                    "stages": stages if clock.available else None,
                    "output": str(videos[0]) if videos else None,
                    "audio_seconds": None if audio_seconds is None else round(audio_seconds, 4),
                    "rtf": round(wall / audio_seconds, 4) if audio_seconds else None,
                }
            )
            print(
                f"repeat {r}: {wall:.2f} s queue -> output"
                + (f", {audio_seconds:.2f} s of audio, RTF {wall / audio_seconds:.3f}" if audio_seconds else "")
                + (f"; cached: {', '.join(runs[-1]['cached_nodes'])}" if cached else ""),
                file=sys.stderr,
            )
    finally:
        clock.close()
    return {
        "target": "host",
        "workflow": wf.get("extra", {}).get("name") or (str(workflow) if not isinstance(workflow, dict) else None),
        "comfyui": str(comfyui_path()),
        "model": str(model)
        if model is not None
        else next(
            (n["inputs"].get("model_name") for n in prompt.values() if n["class_type"] == "OmniTalkerLoadModel"), None
        ),
        "host_startup_seconds": None if host.startup_seconds is None else round(host.startup_seconds, 2),
        "repeats": runs,
        "summary": {
            "first_wall_seconds": runs[0]["wall_seconds"],
            "first_rtf": runs[0]["rtf"],
            "first_stages": runs[0]["stages"],
            "repeat_best_wall_seconds": min((r["wall_seconds"] for r in runs[1:]), default=None),
            "repeat_best_rtf": min((r["rtf"] for r in runs[1:] if r["rtf"] is not None), default=None),
        }
        if runs
        else None,
        "note": "repeat 0 runs every node (model load and style capture included); later repeats change only "
        "the seed, so nodes upstream of the generator come from the host's cache (see cached_nodes). "
        "RTF = wall seconds (POST /prompt -> history entry) / seconds of audio in the output video.",
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)},
    }


def _bench_main(args: argparse.Namespace) -> int:
    if args.repeats < 1:
        print("error: --repeats must be >= 1", file=sys.stderr)
        return 2
    if args.model is not None and not args.model.is_file():
        print(f"error: model not found: {args.model}", file=sys.stderr)
        return 2
    base = args.base or Path(tempfile.mkdtemp(prefix="omnitalker-bench-"))
    host = start_host(base, extra_args=("--cache-none",) if args.no_cache else ())
    print(f"ComfyUI ready on {host.url} in {host.startup_seconds:.1f} s (log {host.log_path})", file=sys.stderr)
    try:
        result = bench_workflow(
            host, args.workflow, repeats=args.repeats, model=args.model, seed=args.seed, timeout=args.timeout
        )
    except (HostError, ValueError) as e:
        print(f"error: {str(e).split(chr(10) + '--- server log')[0]}\n(server log: {host.log_path})", file=sys.stderr)
        return 1
    finally:
        host.stop()
    result["workflow"] = str(args.workflow)
    result["comfyui_cache"] = "none" if args.no_cache else "default"
    text = json.dumps(result, indent=2)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run UI-format workflows in a headless ComfyUI with this pack linked.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="start the host, queue each workflow, print the output files, stop")
    run.add_argument("workflows", nargs="+", type=Path)
    run.add_argument("--base", type=Path, default=None, help="ComfyUI base directory (default: a temporary one)")
    run.add_argument("--timeout", type=float, default=1800, help="seconds per workflow")
    run.add_argument("--suffix", default=None, help="only print output files with this suffix, e.g. .mp4")
    bench = sub.add_parser(
        "bench",
        help="time a workflow through the host: queue -> output wall seconds, per node and stage, RTF (JSON)",
        description="Start the host, queue the workflow --repeats times with a new seed each time, print JSON "
        "(the host-side counterpart of `python -m omnitalker_core bench e2e`).",
    )
    bench.add_argument(
        "workflow", nargs="?", type=Path, default=REPO / "workflows" / "omnitalker_text_to_talking_video.json"
    )
    bench.add_argument("--repeats", type=int, default=2)
    bench.add_argument("--model", type=Path, default=None, help="model file to use instead of the workflow's")
    bench.add_argument("--seed", type=int, default=None, help="first seed (default: the workflow's)")
    bench.add_argument("--base", type=Path, default=None, help="ComfyUI base directory (default: a temporary one)")
    bench.add_argument("--timeout", type=float, default=1800, help="seconds per repeat")
    bench.add_argument(
        "--no-cache", action="store_true", help="start ComfyUI with --cache-none: every repeat runs every node"
    )
    bench.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.cmd == "bench":
        return _bench_main(args)

    base = args.base or Path(tempfile.mkdtemp(prefix="omnitalker-host-"))
    t0 = time.monotonic()
    host = start_host(base)
    print(
        f"ComfyUI ready on {host.url} in {time.monotonic() - t0:.1f} s (base {host.base}, log {host.log_path})",
        file=sys.stderr,
    )
    try:
        for wf_path in args.workflows:
            wf = load_workflow(wf_path)
            t1 = time.monotonic()
            entry = host.run(host.ui_to_api(wf), wf, args.timeout)
            print(f"{wf_path.name}: done in {time.monotonic() - t1:.1f} s", file=sys.stderr)
            for path in host.output_files(entry, suffix=args.suffix, kinds=("output",)):
                print(path.resolve())
    except (ExecutionFailed, PromptRejected) as e:
        print(f"error: {str(e).split(chr(10) + '--- server log')[0]}\n(server log: {host.log_path})", file=sys.stderr)
        return 1
    except HostError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
