"""HTTP client for one running ComfyUI server: queue API prompts, wait for them, read their outputs.

Every call goes through the server's HTTP API, the same way the browser UI talks to it (`/object_info`,
`/prompt`, `/history`, `/queue`, `/interrupt`). Errors carry the end of the server log when the server
was started by `omnitalker_core.host.start_host`.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .workflow import load_workflow, ui_to_api


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
    """Client for one running ComfyUI server at 127.0.0.1:`port` whose base directory is `base`.

    `start_host` makes one and owns the server process (`proc`, `log_path`); `ComfyHost(base, port)` alone
    talks to a server started some other way."""

    base: Path
    port: int
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    client_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    startup_seconds: float | None = None
    _object_info: dict | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- HTTP ---------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
        """One HTTP call -> (status, JSON body, or text when it is not JSON); raises OSError when unreachable."""
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
        status, data = self.request("GET", path, timeout=timeout)
        if status != 200:
            raise HostError(f"GET {path} -> HTTP {status}: {data}", self.log_tail())
        return data

    def alive(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            return False
        try:
            return self.request("GET", "/system_stats", timeout=5)[0] == 200
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
        status, data = self.request("POST", "/prompt", body)
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
        self.request("POST", "/interrupt", {})

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
