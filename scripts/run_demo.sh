#!/usr/bin/env bash
# The main job on a fresh machine: set up .venv/, start ComfyUI headless (CPU) with this pack linked,
# run workflow (a) (reference clip + text -> talking video with sound), print the mp4's absolute path.
#   bash scripts/run_demo.sh                 # base directory .demo/ (kept: outputs accumulate in .demo/output/)
#   OMNITALKER_DEMO_BASE=/tmp/x bash scripts/run_demo.sh
#   COMFYUI_PATH=/path/to/ComfyUI bash scripts/run_demo.sh   # another ComfyUI source tree
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKFLOW="${1:-$ROOT/workflows/omnitalker_text_to_talking_video.json}"
BASE="${OMNITALKER_DEMO_BASE:-$ROOT/.demo}"

bash "$ROOT/scripts/setup_env.sh"
[ -f "$WORKFLOW" ] || { echo "error: workflow $WORKFLOW not found" >&2; exit 1; }
echo "running $(basename "$WORKFLOW") in a headless ComfyUI (base $BASE; server log $BASE/comfyui.log) ..." >&2
exec "$ROOT/.venv/bin/python" -m omnitalker_core host run "$WORKFLOW" --base "$BASE" --suffix .mp4
