#!/usr/bin/env bash
# UNVERIFIED (no GPU was lent to the task that wrote it): paper-faithful RidgeNet with a VGG-19
# backbone at 299 px on one CUDA GPU, about 8 minutes of training. Run from the repository root
# on the lent machine (PyTorch 2.x + CUDA; shared/data travels with the working tree):
#     bash training/gpu/run_vgg19.sh "$OUT"
# Needs the shipped segmenter checkpoint training/runs/seg1/best.pt (carry training/runs/seg1)
# or retrains the segmenter for 3 minutes first. Writes the ONNX + card to $OUT/models/.
set -euo pipefail
OUT=${1:-/tmp/vgg19-out}
PY=${PYTHON:-python3}
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD
mkdir -p runs "$OUT"
[ -f runs/cache/seg_in128.npy ] || $PY -m carpus_training.build_cache
if [ ! -f runs/seg1/best.pt ]; then
  $PY -m carpus_training.train_seg --config configs/segmenter_cpu.json --out runs/seg1 --time-budget 180 --set threads=8
fi
[ -f runs/cache/ridge_in299_seg.npy ] || $PY -m carpus_training.build_ridge_cache --seg-ckpt runs/seg1/best.pt --size 299
$PY -m carpus_training.train_ridgenet --config configs/ridgenet_vgg19_gpu.json --out runs/vgg19 --time-budget 480 \
  2>&1 | tee "$OUT/train.log"
$PY -m carpus_training.evaluate --ckpt runs/vgg19/best.pt --out runs/vgg19/eval.json
CARPUS_MODELS="$OUT/models" $PY -m carpus_training.export ridgenet --name ridgenet-vgg19 --ckpt runs/vgg19/best.pt \
  --seg-ckpt runs/seg1/best.pt --metrics runs/vgg19/eval.json --version 1.0.0
cp runs/vgg19/log.jsonl runs/vgg19/eval.json "$OUT/"
