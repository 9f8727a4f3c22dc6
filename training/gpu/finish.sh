#!/usr/bin/env bash
# After the GPU call (gpu/run_vgg19.sh): SRC = the folder of the files it returned, VERSION = the
# version to export as. Unpacks the checkpoint, measures val MAE on the exact 299 px inputs (not the
# WebP the GPU trained on), exports only if that beats the newest shipped RidgeNet, then fits the
# content check's statistics (train rows' features from the GPU, val rows' computed here).
#   NOTE="how it was trained, for the card" bash training/gpu/finish.sh /work/.device/... 2.0.0
set -euo pipefail
SRC=$1
VERSION=$2
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
R=runs/vgg19-$VERSION
C=runs/cache/ridge_in299_learned299.npy
mkdir -p "$R"
cp "$SRC"/*.npy "$SRC"/*.npz "$SRC"/train.log "$R/"
tar -C "$R" -xf "$SRC/meta.tar"
$PY -m carpus_training.transfer unpack-ckpt --src "$R/refit" --out "$R/refit.pt"
taskset -c "${CORES:-0}" $PY -m carpus_training.evaluate --ckpt "$R/refit.pt" --cache $C --out "$R/eval_hflip.json" \
  --tta hflip --curve "results/ridgenet_${VERSION}_curve.png" --curve-log "$R/log.jsonl" > "$R/eval_hflip.log"
NEWEST=$(ls -d ../models/ridgenet/*/ | sort -V | tail -1)
$PY - "$R/eval_hflip.json" "$NEWEST/model.json" <<'PY'
import json, sys
new = json.load(open(sys.argv[1]))["sex_given"]["all"]["mae"]
card = json.load(open(sys.argv[2]))
old = card["metrics"]["sex_given"]["all"]["mae"]
print(f"val MAE {new:.4f} (exact inputs, flip) vs {card['name']} {card['version']} {old:.4f}")
sys.exit(0 if new < old else 3)
PY
taskset -c "${CORES:-0}" $PY -m carpus_training.export ridgenet --tta hflip --ckpt "$R/refit.pt" \
  --seg-ckpt runs/seg3/last.pt --version "$VERSION" --metrics "$R/eval_hflip.json" --training-note "${NOTE:-}"
taskset -c "${CORES:-0}" $PY -m carpus_training.feature_stats --ckpt "$R/refit.pt" --model-dir "../models/ridgenet/$VERSION" \
  --cache $C --train-features "$R/pooled-plain.npy" "$R/pooled-hflip.npy" --percentile 99.5
