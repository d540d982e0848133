#!/usr/bin/env bash
# Reproduces the bundled demo checkpoint (omnitalker_core/assets/omnitalker_demo.safetensors):
# Kokoro-82M corpus (natural voices, HiFi-GAN mel) -> flow-matching training of the `demo` config, started from the
# previous eSpeak-trained demo (same phoneme vocabulary: its transformer, text embedding and visual branch carry
# over; the mel layers start fresh) -> fp16 export -> phoneme duration predictor.
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
INIT=runs/espeak_demo.safetensors  # the eSpeak-trained demo of commit 55f8842
mkdir -p runs
[ -f "$INIT" ] || git show 55f8842:omnitalker_core/assets/omnitalker_demo.safetensors > "$INIT"
export OMP_WAIT_POLICY=PASSIVE  # OpenMP threads must not spin when other processes share the cores
# constant learning rate up to DECAY_START, then a cosine down to 5% at MAX_STEPS; blendshapes from each
# utterance's rest (the tracker's space, the default). The shipped file: 1,915 constant-lr steps (the first
# 1,915 with the corpus's codes as they are), then 1,916..2,400 decaying with --motion-from-rest.
DECAY_START="${DECAY_START:-1916}"
MAX_STEPS="${MAX_STEPS:-2400}"
$PY -m omnitalker_core train --config demo --data "$CORPUS" --out runs/demo_kokoro --resume --init-from "$INIT" \
  --max-minutes "$MINUTES" --save-every 50 --eval-every 100 --batch-frames 4000 --max-steps "$DECAY_START" --decay-start 0
$PY -m omnitalker_core train --config demo --data "$CORPUS" --out runs/demo_kokoro --resume \
  --max-minutes "$MINUTES" --decay-start "$DECAY_START" --max-steps "$MAX_STEPS"
$PY -m omnitalker_core export --model runs/demo_kokoro/latest.safetensors --out runs/demo_kokoro/export.safetensors --overwrite
$PY -m omnitalker_core train-durations --data "$CORPUS" --model runs/demo_kokoro/export.safetensors \
  --out omnitalker_core/assets/omnitalker_demo.safetensors --overwrite
