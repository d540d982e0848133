#!/usr/bin/env bash
# Reproduces the bundled demo checkpoint (omnitalker_core/assets/omnitalker_demo.safetensors):
# Kokoro-82M corpus, version 2 (natural voices, HiFi-GAN mel; head pitch and eyeLook lids in the rig's signs)
# -> the demo of commit da88f6b fine-tuned on it -> fp16 export -> phoneme duration predictor.
# The demo of da88f6b is the eSpeak-trained demo of 55f8842 trained 2,400 steps on a version-1 Kokoro corpus,
# whose head pitch and eyeLook* were mirrored (this script at da88f6b made it); its voice carries over, its
# motion is retrained here. Every generator tensor starts from it; a short warm-up, then a cosine decay.
# On 2 CPU cores: corpus ~30 min, training as long as MINUTES allows (the shipped file: see its metadata
# `info.step`), durations 3 min. Interrupt with Ctrl-C (it saves); rerun to resume. A GPU is used when present.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MINUTES="${MINUTES:-90}"
bash scripts/setup_train.sh
PY=.venv/bin/python
CORPUS=data/corpus_kokoro
[ -f "$CORPUS/manifest.json" ] || $PY -m omnitalker_core corpus --teacher kokoro --out "$CORPUS" --speakers 160 \
  --hours 1.0 --heldout-sentences 60 --heldout-speaker-utts 10 --seed 0
INIT=runs/demo_v1.safetensors  # the demo of commit da88f6b (version-1 corpus)
mkdir -p runs
[ -f "$INIT" ] || git show da88f6b:omnitalker_core/assets/omnitalker_demo.safetensors > "$INIT"
export OMP_WAIT_POLICY=PASSIVE  # OpenMP threads must not spin when other processes share the cores
LR="${LR:-3e-4}"
MAX_STEPS="${MAX_STEPS:-1200}"
$PY -m omnitalker_core train --config demo --data "$CORPUS" --out runs/demo_v2 --resume --init-from "$INIT" \
  --lr "$LR" --warmup-steps 50 --decay-start 51 --max-steps "$MAX_STEPS" --max-minutes "$MINUTES" \
  --save-every 50 --eval-every 100 --batch-frames 4000
$PY -m omnitalker_core export --model runs/demo_v2/latest.safetensors --out runs/demo_v2/export.safetensors --overwrite
$PY -m omnitalker_core train-durations --data "$CORPUS" --model runs/demo_v2/export.safetensors \
  --out omnitalker_core/assets/omnitalker_demo.safetensors --overwrite
