#!/usr/bin/env bash
# The main job on a fresh machine: set up .venv/, start ComfyUI headless (CPU) with this pack linked,
# run workflow (a) (reference clip + text -> talking video with sound), print the mp4's absolute path.
#   bash scripts/run_demo.sh                 # base directory .demo/ (kept: outputs accumulate in .demo/output/)
#   OMNITALKER_DEMO_BASE=/tmp/x bash scripts/run_demo.sh
#   COMFYUI_PATH=/path/to/ComfyUI bash scripts/run_demo.sh   # another ComfyUI source tree
# Without COMFYUI_PATH: ../shared/comfyui if present, else ComfyUI v0.3.64 cloned once into .comfyui/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKFLOW="${1:-$ROOT/workflows/Text to talking video.json}"
BASE="${OMNITALKER_DEMO_BASE:-$ROOT/.demo}"

# ComfyUI: $COMFYUI_PATH, else ../shared/comfyui, else v0.3.64 fetched into .comfyui/ (exported for the host)
source "$ROOT/scripts/comfyui.sh"
bash "$ROOT/scripts/setup_env.sh"
[ -f "$WORKFLOW" ] || { echo "error: workflow $WORKFLOW not found" >&2; exit 1; }
echo "running $(basename "$WORKFLOW") in a headless ComfyUI (base $BASE; server log $BASE/comfyui.log) ..." >&2
exec "$ROOT/.venv/bin/python" -m omnitalker_core host run "$WORKFLOW" --base "$BASE" --suffix .mp4
