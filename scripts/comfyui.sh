#!/usr/bin/env bash
# Which ComfyUI source tree the demo, the tests and the host harness run; the one place that decides it.
#   1. $COMFYUI_PATH, when set (it must hold main.py);
#   2. else <repo>/../shared/comfyui, when present;
#   3. else <repo>/.comfyui/ (ignored by git), cloned here on first use: ComfyUI v0.3.64, commit checked.
# Sourced (setup_env.sh, run_demo.sh, run_tests.sh): exports COMFYUI_PATH, or returns 2 after a message on
# stderr saying what to do. Run (`bash scripts/comfyui.sh`, also by omnitalker_core.host.comfyui_path()):
# prints the path, or exits 2 with that message.
# For mirrors and tests: OMNITALKER_COMFYUI_URL (clone source), OMNITALKER_COMFYUI_COMMIT (expected commit).

_omnitalker_comfyui() {
  local root here url tag commit dest part log got
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  root="$(cd "$here/.." && pwd)"
  url="${OMNITALKER_COMFYUI_URL:-https://github.com/comfyanonymous/ComfyUI}"
  tag="v0.3.64"
  commit="${OMNITALKER_COMFYUI_COMMIT:-a125cd84b054a57729b5eecab930ca9408719832}"
  dest="$root/.comfyui"
  local howto="set COMFYUI_PATH to a ComfyUI 0.3.64 (or newer) source checkout, e.g.
      COMFYUI_PATH=/path/to/ComfyUI bash scripts/run_tests.sh
  or make github.com reachable (e.g. HTTPS_PROXY=...) and run the command again: it clones ComfyUI $tag
  into $dest once, then reuses it."

  if [ -n "${COMFYUI_PATH:-}" ]; then
    if [ -f "$COMFYUI_PATH/main.py" ]; then
      (cd "$COMFYUI_PATH" && pwd)
      return 0
    fi
    echo "error: COMFYUI_PATH=$COMFYUI_PATH is not a ComfyUI source tree (no main.py there);" >&2
    echo "  set COMFYUI_PATH to a ComfyUI 0.3.64 (or newer) checkout, or unset it to use ../shared/comfyui or" \
      "a ComfyUI $tag fetched into $dest." >&2
    return 2
  fi
  if [ -f "$root/../shared/comfyui/main.py" ]; then
    (cd "$root/../shared/comfyui" && pwd)
    return 0
  fi
  if [ -f "$dest/main.py" ]; then
    echo "$dest"
    return 0
  fi
  if [ -e "$dest" ]; then
    echo "error: $dest exists but holds no ComfyUI (no main.py): delete it and run the command again, or" >&2
    echo "  $howto" >&2
    return 2
  fi
  if ! command -v git >/dev/null 2>&1; then
    echo "error: no ComfyUI to run: COMFYUI_PATH is not set, $root/../shared/comfyui does not exist, and git" >&2
    echo "  is not installed to fetch ComfyUI $tag (apt-get install git). Or $howto" >&2
    return 2
  fi
  part="$dest.part.$$"
  log="$(mktemp)"
  echo "fetching ComfyUI $tag into $dest (once) ..." >&2
  rm -rf "$part"
  if ! GIT_TERMINAL_PROMPT=0 git -c advice.detachedHead=false -c http.lowSpeedLimit=1000 -c http.lowSpeedTime=60 \
      clone -q --depth 1 --branch "$tag" "$url" "$part" >"$log" 2>&1; then
    echo "error: no ComfyUI to run: COMFYUI_PATH is not set, $root/../shared/comfyui does not exist, and" >&2
    echo "  fetching ComfyUI $tag failed:" >&2
    echo "    git clone --depth 1 --branch $tag $url" >&2
    sed 's/^/    | /' "$log" | tail -n 5 >&2
    echo "  To fix it, $howto" >&2
    rm -rf "$part" "$log"
    return 2
  fi
  rm -f "$log"
  got="$(git -C "$part" rev-parse HEAD 2>/dev/null || true)"
  if [ "$got" != "$commit" ] || [ ! -f "$part/main.py" ]; then
    echo "error: the ComfyUI fetched from $url at $tag is commit ${got:-?}, not the pinned $commit;" >&2
    echo "  it was not used. To fix it, $howto" >&2
    rm -rf "$part"
    return 2
  fi
  if ! mv -T "$part" "$dest" 2>/dev/null; then  # another run fetched it meanwhile: use that one
    rm -rf "$part"
    [ -f "$dest/main.py" ] || { echo "error: could not move $part to $dest" >&2; return 2; }
  fi
  echo "$dest"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then  # run: print the path
  _omnitalker_comfyui || exit $?
else  # sourced: export it for what follows (ComfyUI's requirements, the host harness)
  COMFYUI_PATH="$(_omnitalker_comfyui)" || return $?
  export COMFYUI_PATH
fi
