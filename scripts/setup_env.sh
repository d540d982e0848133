#!/usr/bin/env bash
# Creates .venv/ at the repo root with everything the demo and the tests need, from the package registries only.
# Idempotent: a stamp file records what was installed; rerunning with unchanged requirements does nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# ComfyUI: $COMFYUI_PATH, else ../shared/comfyui, else v0.3.64 fetched into .comfyui/ (scripts/comfyui.sh)
source "$ROOT/scripts/comfyui.sh"
COMFY="$COMFYUI_PATH"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
stamp_src="$(cat "$ROOT/requirements.txt" "$ROOT/requirements-test.txt" "$ROOT/pyproject.toml" "$ROOT/install.py" "$COMFY/requirements.txt" "$0" | sha256sum | cut -d' ' -f1)"
if [ -f "$VENV/.omnitalker-stamp" ] && [ "$(cat "$VENV/.omnitalker-stamp")" = "$stamp_src" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
"${PIP[@]}" --upgrade pip
# torch + torchaudio from PyPI must match (torchaudio is built against the CUDA wheel; it runs on CPU).
"${PIP[@]}" torch==2.11.0 torchvision torchaudio==2.11.0 -r "$COMFY/requirements.txt" requests
"${PIP[@]}" -r "$ROOT/requirements.txt" torch==2.11.0 torchaudio==2.11.0
"${PIP[@]}" -r "$ROOT/requirements-test.txt" torch==2.11.0 torchaudio==2.11.0
"$VENV/bin/python" "$ROOT/install.py"  # OpenCV, as ComfyUI-Manager would add it
# The core as an installed package (editable), for the CLI and the tests; the pack itself imports it relatively.
"${PIP[@]}" --no-deps -e "$ROOT"
echo "$stamp_src" > "$VENV/.omnitalker-stamp"
