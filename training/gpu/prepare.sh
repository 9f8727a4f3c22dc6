#!/usr/bin/env bash
# Before a GPU call: the 299 px RidgeNet inputs (made here by the shipped segmenter, exactly as
# docs/model-input.md says) packed as WebP into .gpu/ (git-ignored through .git/info/exclude; the
# call names it in carry), with the labels. Needs runs/cache/ridge_in299_learned299.npy:
#   /usr/bin/python3 -m carpus_training.build_ridge_cache --seg-ckpt runs/seg3/last.pt --tag learned299 --size 299
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(git rev-parse --show-toplevel)
EXCLUDE=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$EXCLUDE")"
grep -qsx '/.gpu/' "$EXCLUDE" || echo '/.gpu/' >> "$EXCLUDE"
rm -rf "$ROOT/.gpu" && mkdir -p "$ROOT/.gpu/data/rsna-train-299"
cp "${CARPUS_DATA:-$ROOT/../shared/data}/rsna-train-299/labels.csv" "$ROOT/.gpu/data/rsna-train-299/"
/usr/bin/python3 -m carpus_training.transfer pack-inputs --cache runs/cache/ridge_in299_learned299.npy \
  --out "$ROOT/.gpu/inputs" --quality "${QUALITY:-90}"
du -sh "$ROOT/.gpu"
