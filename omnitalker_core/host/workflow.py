"""UI-format workflow (what "Save" in ComfyUI writes: `nodes`, `links`, `widgets_values`) -> API prompt
(`{node_id: {class_type, inputs}}`), in the input order the host reports in `/object_info`.

So the example workflows in `workflows/` are the only copy kept: tests, the demo and the benchmark convert
them the way the frontend does when it queues them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Node types that live only in the UI; the frontend never sends them to the server.
VIRTUAL_NODE_TYPES = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
LEGACY_SEED_NAMES = {"seed", "noise_seed"}  # the frontend adds "control_after_generate" to these INT widgets
MODE_NEVER, MODE_BYPASS = 2, 4


def load_workflow(workflow: dict | str | Path) -> dict:
    """A workflow dict as is, or read from a JSON file."""
    if isinstance(workflow, dict):
        return workflow
    return json.loads(Path(workflow).read_text())


def workflow_links(workflow: dict) -> dict[int, tuple[int, int, int, int]]:
    """link id -> (origin node, origin slot, target node, target slot); both serialisation forms."""
    links = {}
    for link in workflow.get("links", []):
        if isinstance(link, dict):
            links[link["id"]] = (link["origin_id"], link["origin_slot"], link["target_id"], link["target_slot"])
        else:
            links[link[0]] = (link[1], link[2], link[3], link[4])
    return links


def is_widget(spec: list) -> bool:
    """Whether an `/object_info` input spec is a widget (a value in `widgets_values`) rather than a socket."""
    kind, opts = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
    if opts.get("forceInput"):
        return False
    return isinstance(kind, list) or kind in WIDGET_TYPES


def has_control_widget(name: str, spec: list) -> bool:
    """Whether the UI stores a "control after generate" value right after this widget's value."""
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
    links = workflow_links(workflow)
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
            if is_widget(spec):
                if by_name is not None:
                    value, present = by_name.get(name), name in by_name
                else:
                    present = pos < len(values)
                    value = values[pos] if present else None
                    pos += 1 + (1 if present and has_control_widget(name, spec) else 0)
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
