#!/usr/bin/env bash
# RidgeNet with the VGG-19 backbone (half widths, batch norm: ridgenet.py "vgg19_bn_half") at 299 px,
# trained on one lent CUDA GPU (PyTorch 2.x) for BUDGET seconds, its ridge layer then refitted on
# flip-averaged activations. Three steps (README.md, "VGG-19 on a GPU"):
#   here:      bash training/gpu/prepare.sh          # .gpu/: the 299 px inputs as WebP, the labels
#   GPU:       bash training/gpu/run_vgg19.sh BUDGET "$OUT"   (carry .gpu)
#   here:      bash training/gpu/finish.sh DIR VERSION   # exact val MAE on this machine, gated export
# Writes to OUT (at most 8 files come back): refit.part*.npz (the checkpoint, portable), pooled-plain.npy
# and pooled-hflip.npy (the train rows' pooled features for feature_stats), train.log, and meta.tar
# (refit.json, log.jsonl, refit_refit.json, gpu.txt).
set -euo pipefail
BUDGET=${1:-420}
OUT=${2:-/tmp/vgg19-out}
cd "$(dirname "$0")/.."
G=${CARPUS_GPU_DIR:-$PWD/../.gpu}
export PYTHONPATH=$PWD CARPUS_DATA=$G/data PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
W=${VGG19_WORK:-/tmp/carpus-vgg19}
mkdir -p "$W" "$OUT"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  $PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'; } | tee "$W/gpu.txt"
[ -f "$W/in299_u8.npy" ] || $PY -m carpus_training.transfer unpack-inputs --src "$G/inputs" --out "$W/in299_u8.npy"
rm -rf "$W/run"
$PY -m carpus_training.train_ridgenet --config configs/ridgenet_vgg19_gpu.json --out "$W/run" \
  --time-budget "$BUDGET" --set "cache=\"$W/in299_u8.npy\"" ${VGG19_SET:-} 2>&1 | tee "$OUT/train.log"
# the trained weights come back even if a later step fails (removed below once the refit is packed)
$PY -m carpus_training.transfer pack-ckpt --ckpt "$W/run/last.pt" --out "$OUT/last"
$PY -m carpus_training.refit_ridge --ckpt "$W/run/last.pt" --out "$W/run/refit.pt" --cache "$W/in299_u8.npy" \
  --tta hflip 2>&1 | tee -a "$OUT/train.log"
$PY -m carpus_training.transfer pooled-train --ckpt "$W/run/refit.pt" --cache "$W/in299_u8.npy" --out "$OUT/pooled"
$PY -m carpus_training.transfer pack-ckpt --ckpt "$W/run/refit.pt" --out "$W/refit"
cp "$W"/refit.part*.npz "$OUT/"
cp "$W/run/log.jsonl" "$W/run/refit_refit.json" "$W/"
tar -C "$W" -cf "$OUT/meta.tar" refit.json log.jsonl refit_refit.json gpu.txt
rm -f "$OUT"/last.*
ls -la "$OUT"
