"""Write the example workflows in workflows/ (UI-format JSON) from the live host's node definitions.

A developer tool, run after a node's inputs change: it starts ComfyUI with the pack linked, reads
`/object_info`, and lays out each workflow with sockets, links and widget values in exactly the order
the frontend expects (required, then optional inputs; a seed's "control after generate" value right
after it), placed so that the whole graph opens readable (scale >= 0.8) in a 1600x1000 window (`extra.ds`).
The JSON files it writes are the only copy the tests and the UI use; their thumbnails for the UI's template
browser come from scripts/make_thumbnails.py (run it after this).

    .venv/bin/python scripts/build_workflows.py
"""

from __future__ import annotations

import json
import math
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
# The bundled frontend's canvas in a 1600x1000 window (the side bar takes 64 px on the left, the menu bars
# 78 px on top) and the margins kept free in it (the zoom buttons sit in the bottom 60 px); node titles are
# drawn above `pos`. tests/test_browser.py checks at that window size that every node is on screen at load.
CANVAS = (1536, 922)
CANVAS_MARGINS = (30, 30, 30, 70)  # left, top, right, bottom
TITLE_HEIGHT = 30
MIN_SCALE = 0.8  # below ~0.6 LiteGraph draws nodes without text


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

    def view(self) -> dict:
        """The canvas view the UI restores on load (`extra.ds`): the whole graph, titles included, inside the
        canvas of a 1600x1000 window (left of it the side bar, above it the menu bars, at its bottom right the
        zoom buttons), at the largest scale up to 1 in steps of 0.05; centred across, from the top down."""
        x0 = min(n["pos"][0] for n in self.nodes)
        y0 = min(n["pos"][1] for n in self.nodes) - TITLE_HEIGHT
        x1 = max(n["pos"][0] + n["size"][0] for n in self.nodes)
        y1 = max(n["pos"][1] + n["size"][1] for n in self.nodes)
        (width, height), (left, top, right, bottom) = CANVAS, CANVAS_MARGINS
        fit = min(1.0, (width - left - right) / (x1 - x0), (height - top - bottom) / (y1 - y0))
        scale = math.floor(fit * 20 + 1e-9) / 20
        if scale < MIN_SCALE:
            raise ValueError(f"the graph ({x1 - x0} x {y1 - y0}) fits a 1600x1000 window only at {fit:.2f}")
        offset = [round((width / scale - (x1 - x0)) / 2 - x0), round(top / scale - y0)]
        return {"scale": scale, "offset": offset}

    def to_json(self) -> dict:
        return {
            "last_node_id": len(self.nodes), "last_link_id": len(self.links), "nodes": self.nodes, "links": self.links,
            "groups": [], "config": {}, "extra": {"ds": self.view()}, "version": 0.4,
        }  # fmt: skip


def model_and_style(wf: Workflow, x: int, reference: str = "video") -> tuple[int, int]:
    model = wf.add("OmniTalkerLoadModel", (x, 0), size=(300, 110))
    if reference == "video":
        src = wf.add("LoadVideo", (x, 160), {"file": REFERENCE_CLIP}, size=(300, 400))
        style = wf.add("OmniTalkerCaptureStyle", (x + 340, 160), {"transcript": REFERENCE_TRANSCRIPT}, size=(320, 260))
        wf.link(src, "VIDEO", style, "video")
    else:
        src = wf.add("LoadAudio", (x, 160), {"audio": REFERENCE_CLIP}, size=(300, 140))
        style = wf.add("OmniTalkerCaptureStyle", (x + 340, 160), {"transcript": REFERENCE_TRANSCRIPT}, size=(320, 260))
        wf.link(src, "AUDIO", style, "audio")
    return model, style


def generator(wf: Workflow, model: int, style: int, pos: tuple[int, int], text: str = TEXT) -> int:
    gen = wf.add("OmniTalkerGenerate", pos, {"text": text}, size=(340, 330))
    wf.link(model, "model", gen, "model")
    wf.link(style, "style", gen, "style")
    return gen


def text_to_talking_video(info: dict) -> dict:
    wf = Workflow(info)
    model, style = model_and_style(wf, 0)
    gen = generator(wf, model, style, (700, 0))
    voc = wf.add("OmniTalkerVocoder", (1080, 0), size=(280, 110))
    wf.link(model, "model", voc, "model")
    wf.link(gen, "mel", voc, "mel")
    video = wf.add("OmniTalkerRenderVideo", (1400, 0), size=(360, 560))  # room for its player
    wf.link(gen, "motion", video, "motion")
    wf.link(voc, "audio", video, "audio")
    wf.link(style, "style", video, "style")
    wf.note(
        "## OmniTalker: text + one reference video -> talking video with sound\n\n"
        "1. **Load Video** loads the bundled reference clip (a public-domain NASA portrait animated with the "
        "project's own tools; the voice is a Kokoro voice the model never heard). Use your own: 1-10 s, one face, "
        "with sound.\n"
        "2. **Capture Style** takes the voice, head motion and facial style from it. The transcript is what the "
        "reference says; leave it empty to transcribe it offline (Whisper tiny.en).\n"
        "3. **Text -> Audio + Motion** generates speech and face motion together for your text.\n"
        "4. **Vocoder** turns the mel into sound (HiFi-GAN).\n"
        "5. **Render Video** animates the portrait at 25 fps and encodes it with the speech as it goes (player with "
        "sound on the node; the H.264/AAC mp4 lands in output/omnitalker/). For frames to edit, use Render Frames "
        "+ Mux.\n\n"
        "Model: the small bundled demo checkpoint (11M parameters, trained for 2 hours on 2 CPU cores); it speaks "
        "clearly but does not yet sound like the reference.",
        (0, 610), size=(660, 340),
    )  # fmt: skip
    return wf.to_json()


def voice_only(info: dict) -> dict:
    wf = Workflow(info)
    model, style = model_and_style(wf, 0, reference="audio")
    gen = generator(wf, model, style, (700, 0), "Speech only: this workflow skips the face and keeps the voice.")
    voc = wf.add("OmniTalkerVocoder", (1080, 0), size=(300, 110))
    wf.link(model, "model", voc, "model")
    wf.link(gen, "mel", voc, "mel")
    save = wf.add("SaveAudio", (1080, 160), {"filename_prefix": "omnitalker/voice"}, size=(300, 140))
    wf.link(voc, "audio", save, "audio")
    wf.note(
        "## OmniTalker: voice only\n\n"
        "**Load Audio** reads the reference's sound (any audio or video file in ComfyUI's input folder). "
        "**Capture Style** with only audio connected makes a voice-only style (no face). "
        "**Text -> Audio + Motion** still produces motion; only the speech is used here: **Vocoder** -> "
        "**Save Audio** writes output/omnitalker/voice_*.flac.",
        (0, 460), size=(660, 200),
    )  # fmt: skip
    return wf.to_json()


def motion_to_csv(info: dict) -> dict:
    wf = Workflow(info)
    model, style = model_and_style(wf, 0)
    gen = generator(wf, model, style, (700, 0), "Motion capture without a camera: these curves drive a 3D face.")
    csv = wf.add("OmniTalkerMotionToCSV", (1080, 0), {"filename_prefix": "omnitalker/arkit"}, size=(340, 130))
    wf.link(gen, "motion", csv, "motion")
    preview = wf.add("OmniTalkerMotionPreview", (1080, 190), size=(340, 110))
    wf.link(gen, "motion", preview, "motion")
    show = wf.add("PreviewImage", (1080, 360), size=(520, 420))
    wf.link(preview, "curves", show, "images")
    wf.note(
        "## OmniTalker: motion to ARKit CSV\n\n"
        "The 61-D motion (51 ARKit blendshapes, head pose, eye gaze at 25 fps) generated for the text is written "
        "as a Live Link Face-style CSV (output/omnitalker/arkit_*.csv) for Unreal/Blender face rigs. "
        "**Motion Preview** plots mouth, eyes, brows and head pose over time.",
        (0, 610), size=(660, 200),
    )  # fmt: skip
    return wf.to_json()


def stock_chain(info: dict) -> dict:
    wf = Workflow(info)
    model, style = model_and_style(wf, 0, reference="audio")
    image = wf.add("LoadImage", (0, 350), {"image": PORTRAIT}, size=(300, 380))
    gen = generator(wf, model, style, (700, 0), "Any portrait can talk: this face comes from Load Image.")
    voc = wf.add("OmniTalkerVocoder", (1080, 0), size=(280, 110))
    wf.link(model, "model", voc, "model")
    wf.link(gen, "mel", voc, "mel")
    render = wf.add("OmniTalkerRender", (1080, 160), size=(280, 160))
    wf.link(gen, "motion", render, "motion")
    wf.link(image, "IMAGE", render, "portrait")
    create = wf.add("CreateVideo", (1400, 0), {"fps": 25.0}, size=(300, 110))
    wf.link(render, "images", create, "images")
    wf.link(voc, "audio", create, "audio")
    save = wf.add(
        "SaveVideo",
        (1400, 160),
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
        (340, 470), size=(660, 260),
    )  # fmt: skip
    return wf.to_json()


# File names are the titles of the cards in the UI's template browser (ComfyUI 0.3.64 lists each
# workflows/*.json by name; frontend 1.27 shows the name as the title, again as the description, and
# `<name>.jpg` next to it as the thumbnail: scripts/make_thumbnails.py).
WORKFLOWS = {
    "Text to talking video": text_to_talking_video,
    "Text to speech (voice only)": voice_only,
    "Text to ARKit blendshape CSV": motion_to_csv,
    "Talking portrait with stock nodes": stock_chain,
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
