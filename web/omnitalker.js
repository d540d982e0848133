// OmniTalker front-end extension: plays the result of Mux and Render Video (video with sound) on the node itself.
// Those nodes report {"omnitalker_video": [{filename, subfolder, type, frames, fps}]} in their UI output;
// this adds a <video controls> DOM widget (not serialised into the workflow) pointing at ComfyUI's /view.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const PLAYERS = new Set(["OmniTalkerMux", "OmniTalkerRenderVideo"]);
const WIDGET = "omnitalker_player";

function viewUrl(file) {
  const params = new URLSearchParams({
    filename: file.filename,
    subfolder: file.subfolder ?? "",
    type: file.type ?? "output",
    t: String(Date.now()),
  });
  return api.apiURL(`/view?${params.toString()}`);
}

function ensurePlayer(node) {
  let widget = node.widgets?.find((w) => w.name === WIDGET);
  if (widget) return widget.element;
  const video = document.createElement("video");
  video.controls = true;
  video.muted = false; // the point of this player: hear the generated voice with the face
  video.preload = "metadata";
  video.playsInline = true;
  video.className = "omnitalker-player";
  video.style.width = "100%";
  video.style.maxHeight = "100%";
  video.style.objectFit = "contain";
  video.style.background = "#000";
  video.addEventListener("loadedmetadata", () => {
    const ratio = video.videoHeight / Math.max(1, video.videoWidth);
    const w = Math.max(node.size[0], 256);
    node.setSize([w, Math.max(node.computeSize()[1], 120 + w * ratio)]);
    node.setDirtyCanvas(true, true);
  });
  widget = node.addDOMWidget(WIDGET, "video", video, {
    serialize: false,
    hideOnZoom: false,
    getValue: () => video.src,
    setValue: () => {},
  });
  widget.serialize = false;
  return video;
}

app.registerExtension({
  name: "omnitalker.mux_player",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!PLAYERS.has(nodeData?.name)) return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      const file = message?.omnitalker_video?.[0];
      if (!file) return;
      const video = ensurePlayer(this);
      video.src = viewUrl(file);
      video.dataset.filename = file.filename;
      video.title = `${file.filename} (${file.frames} frames at ${file.fps} fps)`;
    };
  },
});
