"""Write the example workflows in workflows/ (UI-format JSON) from the live host's node definitions.

A developer tool, run after a node's inputs change: it starts ComfyUI with the pack linked, reads
`/object_info`, and lays out each workflow with sockets, links and widget values in exactly the order
the frontend expects (required, then optional inputs; a seed's "control after generate" value right
after it). The JSON files it writes are the only copy the tests and the UI use.

    .venv/bin/python scripts/build_workflows.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from omnitalker_core import checkpoints
from omnitalker_core.host import has_control_widget, is_widget, start_host

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_CLIP = checkpoints.REFERENCE_CLIP.name  # copied into ComfyUI's input folder by the host
PORTRAIT = "omnitalker_portrait.png"  # workflows/assets/
REFERENCE_TRANSCRIPT = checkpoints.REFERENCE_TRANSCRIPT.read_text(encoding="utf-8").strip()
TEXT = checkpoints.DEMO_TEXT.read_text(encoding="utf-8").strip()
UPLOAD_WIDGETS = {"LoadImage": ["image"], "LoadVideo": ["image"], "LoadAudio": [None, None]}  # as the UI saves them


class Workflow:
    def __init__(self, info: dict):
        self.info = info
        self.nodes: list[dict] = []
        self.links: list[list] = []

    def _inputs(self, ntype: str) -> list[tuple[str, list, bool]]:
        spec = self.info[ntype]
        order = spec.get("input_order", {})
        out = []
        for group in ("required", "optional"):
            for name in order.get(group, []):
                out.append((name, spec["input"][group][name], group == "optional"))
        return out

    def add(self, ntype: str, pos: tuple[int, int], widgets: dict | None = None, size=(320, 160), title=None) -> int:
        widgets = widgets or {}
        nid = len(self.nodes) + 1
        spec = self.info[ntype]
        sockets, values = [], []
        for name, ispec, optional in self._inputs(ntype):
            if is_widget(ispec):
                default = ispec[1].get("default") if len(ispec) > 1 and isinstance(ispec[1], dict) else None
                if isinstance(ispec[0], list) and default is None:
                    default = ispec[0][0] if ispec[0] else None
                if ispec[0] == "COMBO" and default is None:
                    default = (ispec[1].get("options") or [None])[0]
                values.append(widgets.pop(name, default))
                if has_control_widget(name, ispec):
                    values.append("fixed")
            else:
                entry = {"name": name, "type": ispec[0], "link": None}
                if optional:
                    entry["shape"] = 7  # the UI draws optional sockets hollow
                sockets.append(entry)
        if widgets:
            raise KeyError(f"{ntype} has no widget(s) {sorted(widgets)}")
        values += UPLOAD_WIDGETS.get(ntype, [])
        outputs = [
            {"name": name, "type": otype, "links": [], "slot_index": i}
            for i, (otype, name) in enumerate(zip(spec["output"], spec["output_name"], strict=True))
        ]
        node = {
            "id": nid, "type": ntype, "pos": list(pos), "size": list(size), "flags": {}, "order": nid - 1, "mode": 0,
            "inputs": sockets, "outputs": outputs, "properties": {"Node name for S&R": ntype}, "widgets_values": values,
        }  # fmt: skip
        if title:
            node["title"] = title
        self.nodes.append(node)
        return nid

    def note(self, text: str, pos: tuple[int, int], size=(380, 220)) -> int:
        nid = len(self.nodes) + 1
        self.nodes.append({
            "id": nid, "type": "MarkdownNote", "pos": list(pos), "size": list(size), "flags": {}, "order": nid - 1,
            "mode": 0, "inputs": [], "outputs": [], "properties": {}, "widgets_values": [text], "color": "#432",
            "bgcolor": "#653",
        })  # fmt: skip
        return nid

    def link(self, src: int, output: str, dst: int, input_name: str) -> None:
        src_node, dst_node = self.nodes[src - 1], self.nodes[dst - 1]
        slot = next(i for i, o in enumerate(src_node["outputs"]) if o["name"] == output)
        target = next(i for i, s in enumerate(dst_node["inputs"]) if s["name"] == input_name)
        lid = len(self.links) + 1
        otype = src_node["outputs"][slot]["type"]
        self.links.append([lid, src, slot, dst, target, otype])
        src_node["outputs"][slot]["links"].append(lid)
        dst_node["inputs"][target]["link"] = lid

    def to_json(self) -> dict:
        return {
            "last_node_id": len(self.nodes), "last_link_id": len(self.links), "nodes": self.nodes, "links": self.links,
            "groups": [], "config": {}, "extra": {"ds": {"scale": 0.8, "offset": [20, 20]}}, "version": 0.4,
        }  # fmt: skip


def model_and_style(wf: Workflow, x: int, reference: str = "video") -> tuple[int, int]:
    model = wf.add("OmniTalkerLoadModel", (x, 60), size=(320, 110))
    if reference == "video":
        src = wf.add("LoadVideo", (x, 220), {"file": REFERENCE_CLIP}, size=(320, 380))
        style = wf.add("OmniTalkerCaptureStyle", (x + 360, 220), {"transcript": REFERENCE_TRANSCRIPT}, size=(340, 260))
        wf.link(src, "VIDEO", style, "video")
    else:
        src = wf.add("LoadAudio", (x, 220), {"audio": REFERENCE_CLIP}, size=(320, 140))
        style = wf.add("OmniTalkerCaptureStyle", (x + 360, 220), {"transcript": REFERENCE_TRANSCRIPT}, size=(340, 260))
        wf.link(src, "AUDIO", style, "audio")
    return model, style


def generator(wf: Workflow, model: int, style: int, pos: tuple[int, int], text: str = TEXT) -> int:
    gen = wf.add("OmniTalkerGenerate", pos, {"text": text}, size=(360, 330))
    wf.link(model, "model", gen, "model")
    wf.link(style, "style", gen, "style")
    return gen


def text_to_talking_video(info: dict) -> dict:
    wf = Workflow(info)
    model, style = model_and_style(wf, 40)
    gen = generator(wf, model, style, (780, 60))
    voc = wf.add("OmniTalkerVocoder", (1180, 60), size=(300, 110))
    wf.link(model, "model", voc, "model")
    wf.link(gen, "mel", voc, "mel")
    render = wf.add("OmniTalkerRender", (1180, 220), size=(300, 160))
    wf.link(gen, "motion", render, "motion")
    wf.link(style, "style", render, "style")
    mux = wf.add("OmniTalkerMux", (1520, 60), {"save_mp4": False}, size=(380, 520))
    wf.link(render, "images", mux, "images")
    wf.link(voc, "audio", mux, "audio")
    save = wf.add(
        "SaveVideo",
        (1940, 60),
        {"filename_prefix": "omnitalker/talking", "format": "mp4", "codec": "h264"},
        size=(360, 420),
    )
    wf.link(mux, "VIDEO", save, "video")
    wf.note(
        "## OmniTalker: text + one reference video -> talking video with sound\n\n"
        "1. **Load Video** loads the bundled reference clip (a public-domain NASA portrait animated with the "
        "project's own tools, eSpeak voice). Use your own: 1-10 s, one face, with sound.\n"
        "2. **Capture Style** takes the voice, head motion and facial style from it. The transcript is what the "
        "reference says; leave it empty to transcribe it offline (Whisper tiny.en).\n"
        "3. **Text -> Audio + Motion** generates speech and face motion together for your text.\n"
        "4. **Vocoder** turns the mel into sound; **Render Frames** animates the portrait at 25 fps.\n"
        "5. **Mux** joins them (player with sound on the node); **Save Video** writes the H.264/AAC mp4 "
        "to output/omnitalker/.\n\n"
        "Model: the small bundled demo checkpoint, trained on synthetic speech; expect a robotic voice.",
        (40, 640), size=(700, 300),
    )  # fmt: skip
    return wf.to_json()


def voice_only(info: dict) -> dict:
    wf = Workflow(info)
    model, style = model_and_style(wf, 40, reference="audio")
    gen = generator(wf, model, style, (780, 60), "Speech only: this workflow skips the face and keeps the voice.")
    voc = wf.add("OmniTalkerVocoder", (1180, 60), size=(300, 110))
    wf.link(model, "model", voc, "model")
    wf.link(gen, "mel", voc, "mel")
    save = wf.add("SaveAudio", (1520, 60), {"filename_prefix": "omnitalker/voice"}, size=(340, 140))
    wf.link(voc, "audio", save, "audio")
    wf.note(
        "## OmniTalker: voice only\n\n"
        "**Load Audio** reads the reference's sound (any audio or video file in ComfyUI's input folder). "
        "**Capture Style** with only audio connected makes a voice-only style (no face). "
        "**Text -> Audio + Motion** still produces motion; only the speech is used here: **Vocoder** -> "
        "**Save Audio** writes output/omnitalker/voice_*.flac.",
        (40, 520), size=(700, 200),
    )  # fmt: skip
    return wf.to_json()


def motion_to_csv(info: dict) -> dict:
    wf = Workflow(info)
    model, style = model_and_style(wf, 40)
    gen = generator(wf, model, style, (780, 60), "Motion capture without a camera: these curves drive a 3D face.")
    csv = wf.add("OmniTalkerMotionToCSV", (1180, 60), {"filename_prefix": "omnitalker/arkit"}, size=(340, 130))
    wf.link(gen, "motion", csv, "motion")
    preview = wf.add("OmniTalkerMotionPreview", (1180, 240), size=(320, 110))
    wf.link(gen, "motion", preview, "motion")
    show = wf.add("PreviewImage", (1540, 240), size=(520, 420))
    wf.link(preview, "curves", show, "images")
    wf.note(
        "## OmniTalker: motion to ARKit CSV\n\n"
        "The 61-D motion (51 ARKit blendshapes, head pose, eye gaze at 25 fps) generated for the text is written "
        "as a Live Link Face-style CSV (output/omnitalker/arkit_*.csv) for Unreal/Blender face rigs. "
        "**Motion Preview** plots mouth, eyes, brows and head pose over time.",
        (40, 640), size=(700, 200),
    )  # fmt: skip
    return wf.to_json()


def stock_chain(info: dict) -> dict:
    wf = Workflow(info)
    model, style = model_and_style(wf, 40, reference="audio")
    image = wf.add("LoadImage", (40, 520), {"image": PORTRAIT}, size=(320, 380))
    gen = generator(wf, model, style, (780, 60), "Any portrait can talk: this face comes from Load Image.")
    voc = wf.add("OmniTalkerVocoder", (1180, 60), size=(300, 110))
    wf.link(model, "model", voc, "model")
    wf.link(gen, "mel", voc, "mel")
    render = wf.add("OmniTalkerRender", (1180, 220), size=(300, 160))
    wf.link(gen, "motion", render, "motion")
    wf.link(image, "IMAGE", render, "portrait")
    create = wf.add("CreateVideo", (1520, 60), {"fps": 25.0}, size=(300, 110))
    wf.link(render, "images", create, "images")
    wf.link(voc, "audio", create, "audio")
    save = wf.add(
        "SaveVideo",
        (1860, 60),
        {"filename_prefix": "omnitalker/stock_chain", "format": "mp4", "codec": "h264"},
        size=(360, 420),
    )
    wf.link(create, "VIDEO", save, "video")
    wf.note(
        "## OmniTalker with stock nodes\n\n"
        "The voice comes from **Load Audio** (the reference clip's sound), the face from **Load Image** (any "
        "portrait with one clear face). **Render Frames** animates that image with the generated motion, and the "
        "stock **Create Video** (25 fps) + **Save Video** nodes make the mp4: OmniTalker's sockets are ComfyUI's "
        "own AUDIO / IMAGE / VIDEO types.",
        (400, 640), size=(700, 200),
    )  # fmt: skip
    return wf.to_json()


WORKFLOWS = {
    "omnitalker_text_to_talking_video": text_to_talking_video,
    "omnitalker_voice_only": voice_only,
    "omnitalker_motion_to_arkit_csv": motion_to_csv,
    "omnitalker_stock_nodes_chain": stock_chain,
}


def main() -> int:
    host = start_host(Path(tempfile.mkdtemp(prefix="omnitalker-build-")))
    try:
        info = host.object_info()
        out = ROOT / "workflows"
        for name, build in WORKFLOWS.items():
            wf = build(info)
            host.ui_to_api(wf)  # every node type known, every widget mapped
            (out / f"{name}.json").write_text(json.dumps(wf, indent=1) + "\n")
            print(out / f"{name}.json")
    finally:
        host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
