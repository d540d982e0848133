"""A UI workflow timed through a running host, queue -> output: wall seconds, per node and per stage, RTF.

The host-side counterpart of `python -m omnitalker_core bench e2e` (omnitalker_core/bench/e2e.py), which
times the same workflow (a) through the library calls the nodes make.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from .client import ComfyHost
from .events import HostEvents
from .process import comfyui_path
from .workflow import load_workflow

# Which nodes make which stage of `python -m omnitalker_core bench e2e` (omnitalker_core/bench/e2e.py).
STAGE_OF_NODE = {
    "OmniTalkerLoadModel": "load_model",
    "LoadVideo": "capture",
    "OmniTalkerCaptureStyle": "capture",
    "OmniTalkerGenerate": "generate",
    "OmniTalkerVocoder": "vocode",
    "OmniTalkerRender": "render",
    "OmniTalkerRenderVideo": "render",
    "OmniTalkerMux": "mux",
    "SaveVideo": "mux",
}


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
    text: str | None = None,
) -> dict:
    """Queue a UI workflow `repeats` times (a different seed each time, so the generator and what
    follows run again; nodes upstream of the seed come from the host's cache after the first run) and
    time each from `POST /prompt` to its history entry: wall seconds, the host's own execution
    seconds (history timestamps), per-node seconds (websocket) summed into the stages of
    `bench e2e`, and RTF = wall / seconds of audio in the output video.

    model: a .safetensors to use instead of the workflow's; copied into BASE/models/omnitalker/.
    text: what the generator says instead of the workflow's text (e.g. a long one, for memory).
    The server's peak resident memory (`server_peak_rss_mb`, Linux) is the whole process's high-water mark
    since start-up: run a fresh host with --repeats 1 to attribute it to one workflow."""
    wf = load_workflow(workflow)
    prompt = host.ui_to_api(wf)
    if text is not None:
        generators = [n for n in prompt.values() if n["class_type"] == "OmniTalkerGenerate"]
        if not generators:
            raise ValueError("--text: the workflow has no OmniTalkerGenerate node")
        for n in generators:
            n["inputs"]["text"] = text
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
    clock = HostEvents(host)
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
        "server_peak_rss_mb": peak_rss_mb(host.proc.pid) if host.proc is not None else None,
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)},
    }


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident memory of a process in MiB (VmHWM in /proc/PID/status); None where /proc has none."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None
