"""The host's websocket messages (`executing`, `progress`, `execution_*`, a node's progress text), as the
UI receives them.

ComfyUI sends a prompt's messages only to the client that queued it, so `HostEvents(host)` connects
with `host.client_id`; connect before queueing, since messages are not replayed. Needs aiohttp (a
ComfyUI dependency); without it `available` is False.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from .client import ComfyHost, HostError

Event = tuple[float, str, dict]  # (monotonic arrival time, message type, message data)
PROGRESS_TEXT = 3  # ComfyUI's BinaryEventTypes.TEXT (server.send_progress_text)


class HostEvents:
    """Listens on the host's websocket in a thread and keeps every message with its arrival time."""

    def __init__(self, host: ComfyHost, connect_timeout: float = 15):
        self.host = host
        self.events: list[Event] = []
        self.available = False
        self._loop: Any = None
        self._ws: Any = None
        self._ready = threading.Event()
        self._changed = threading.Condition()
        try:
            import aiohttp  # noqa: F401
        except ImportError:
            return
        self._url = f"ws://127.0.0.1:{host.port}/ws?clientId={host.client_id}"
        self._thread = threading.Thread(target=self._run, daemon=True, name="comfy-host-events")
        self._thread.start()
        self._ready.wait(connect_timeout)

    def __enter__(self) -> HostEvents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
                            self._add(data.get("type", ""), data.get("data") or {})
                        elif msg.type == aiohttp.WSMsgType.BINARY:
                            self._add_binary(msg.data)
            except Exception:  # noqa: BLE001 (no messages: callers see `available` False or a timeout)
                pass
            finally:
                self._ready.set()

        asyncio.run(listen())

    def _add(self, kind: str, data: dict) -> None:
        with self._changed:
            self.events.append((time.monotonic(), kind, data))
            self._changed.notify_all()

    def _add_binary(self, message: bytes) -> None:
        """Binary frames: a 4-byte event type, then its payload. Type 3 is a node's progress text (4-byte
        node-id length, node id, UTF-8 text), kept as a "progress_text" event {node, text}."""
        if len(message) < 8 or int.from_bytes(message[:4], "big") != PROGRESS_TEXT:
            return
        n = int.from_bytes(message[4:8], "big")
        node, text = message[8 : 8 + n].decode("utf-8", "replace"), message[8 + n :].decode("utf-8", "replace")
        self._add("progress_text", {"node": node, "text": text})

    def wait_for(self, kind: str, match: Callable[[dict], bool] | None = None, timeout: float = 300) -> Event:
        """Block until a message of type `kind` (whose data satisfies `match`) has arrived; -> that event.

        Raises HostError on timeout, when the websocket is not connected, or when the server exited."""
        if not self.available:
            raise HostError(f"no websocket connection to {self.host.url} (aiohttp missing or connection refused)")
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for event in self.events[seen:]:
                    if event[1] == kind and (match is None or match(event[2])):
                        return event
                seen = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HostError(f"no {kind!r} message within {timeout:.0f} s", self.host.log_tail())
                if self.host.proc is not None and self.host.proc.poll() is not None:
                    raise HostError(f"the ComfyUI server exited while waiting for {kind!r}", self.host.log_tail())
                self._changed.wait(min(left, 1.0))

    def wait_for_progress(self, prompt_id: str, node_id: str, value: int = 1, timeout: float = 300) -> Event:
        """Block until node `node_id` of prompt `prompt_id` reported progress step `value` (e.g. its first
        sampling step): the node is then inside its step loop, where Cancel takes effect."""
        return self.wait_for(
            "progress",
            lambda d: (
                d.get("prompt_id") == prompt_id and str(d.get("node")) == str(node_id) and d.get("value", 0) >= value
            ),
            timeout,
        )

    def node_seconds(self, prompt_id: str, end: float) -> list[tuple[str, float]]:
        """[(node id, seconds)] in execution order for one prompt: a node runs from its `executing` message to
        the next one; the last node ends at `end` (monotonic) unless the end-of-prompt message came first."""
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
