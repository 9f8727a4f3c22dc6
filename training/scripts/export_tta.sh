#!/bin/bash
# Ship a RidgeNet checkpoint with the test-time flip inside the ONNX graph (export --tta hflip):
# val metrics through the same averaging (evaluate --tta hflip), the export with its card and parity
# fixtures (autograd Grad-CAM checked), and the content-check statistics on the graph's 2C features.
#
#   training/scripts/export_tta.sh CKPT VERSION ["initialised-from text for the card"]
#   e.g. training/scripts/export_tta.sh runs/ridge256/refit.pt 1.5.1 "..."   (from training/)
#
# Env: CACHE (default runs/cache/ridge_in256_learned256.npy), SEG (runs/seg3/last.pt),
# CPU (taskset core list, default 0), PERCENTILE (99.5), CARPUS_MODELS (default ../models).
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=${1:?checkpoint}
VERSION=${2:?version}
INIT=${3:-}
CACHE=${CACHE:-runs/cache/ridge_in256_learned256.npy}
SEG=${SEG:-runs/seg3/last.pt}
CPU=${CPU:-0}
EVAL=${CKPT%.pt}_eval_hflip.json
PY="taskset -c $CPU /usr/bin/python3"
$PY -m carpus_training.evaluate --ckpt "$CKPT" --cache "$CACHE" --out "$EVAL" --tta hflip
$PY -m carpus_training.export ridgenet --tta hflip --ckpt "$CKPT" --seg-ckpt "$SEG" --version "$VERSION" \
    --metrics "$EVAL" ${INIT:+--initialised-from "$INIT"}
MODELS=${CARPUS_MODELS:-../models}
$PY -m carpus_training.feature_stats --ckpt "$CKPT" --model-dir "$MODELS/ridgenet/$VERSION" \
    --cache "$CACHE" --percentile "${PERCENTILE:-99.5}"
echo "exported $MODELS/ridgenet/$VERSION (metrics: $EVAL)"
