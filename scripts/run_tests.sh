#!/usr/bin/env bash
# All tests on a fresh machine: set up .venv/, make sure headless Chromium is there for the browser test,
# run pytest (unit, real-host, browser). Reports go to test-output/ (junit.xml, server log, screenshots).
#   bash scripts/run_tests.sh [extra pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# ComfyUI: $COMFYUI_PATH, else ../shared/comfyui, else v0.3.64 fetched into .comfyui/ (exported for the host)
source scripts/comfyui.sh
bash scripts/setup_train.sh  # .venv/ plus the training extras (the Kokoro teacher is tested too)

# Debian's Chromium drives the browser test (Playwright's own browser download is not used).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian chromium for the browser test ..." >&2
    (apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
      || { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; }) \
      || echo "warning: could not install chromium; the browser test will be skipped" >&2
  else
    echo "warning: chromium missing and not root; the browser test will be skipped (apt-get install chromium)" >&2
  fi
fi

mkdir -p test-output
exec .venv/bin/python -m pytest tests -q -rs \
  --timeout=2400 \
  --junitxml=test-output/junit.xml \
  -o junit_family=xunit2 \
  "$@"
