#!/usr/bin/env bash
# Reproduces the bundled demo checkpoint (omnitalker_core/assets/omnitalker_demo.safetensors):
# synthetic eSpeak corpus -> flow-matching training of the `demo` config -> fp16 export.
# On 2 CPU cores: corpus ~4-6 min, training as long as MINUTES allows (the shipped file: see its
# metadata `info.step`). Interrupt with Ctrl-C (it saves); rerun to resume. A GPU is used when present.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MINUTES="${MINUTES:-110}"
bash scripts/setup_env.sh
PY=.venv/bin/python
[ -f data/corpus/manifest.json ] || $PY -m omnitalker_core corpus --out data/corpus --speakers 32 --hours 5 --seed 0
export OMP_WAIT_POLICY=PASSIVE  # OpenMP threads must not spin when other processes share the cores
$PY -m omnitalker_core train --config demo --data data/corpus --out runs/demo --resume \
  --max-minutes "$MINUTES" --save-every 100 --eval-every 200 --batch-frames 4000
$PY -m omnitalker_core export --model runs/demo/latest.safetensors \
  --out omnitalker_core/assets/omnitalker_demo.safetensors --overwrite
