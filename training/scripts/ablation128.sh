#!/bin/bash
# Paired CNN ablation: the RidgeNet 1.0.0 config (plaincnn, 128 px), 6 epochs, cosine over epochs, seed 7,
# on segmented crops (classical masks) vs whole radiographs. Same compute for both arms.
cd "$(dirname "$0")/.."
for arm in seg noseg; do
  if [ $arm = seg ]; then c=runs/cache/ridge_in128_classical.npy; else c=runs/cache/ridge_in128_noseg.npy; fi
  taskset -c 0 /usr/bin/python3 -m carpus_training.train_ridgenet --config configs/ridgenet_cpu.json --out runs/abl128_$arm \
    --set 'cache="'$PWD/$c'"' epochs=6 val_every=3 threads=1 > runs/abl128_$arm.log 2>&1
  /usr/bin/python3 -m carpus_training.evaluate --ckpt runs/abl128_$arm/last.pt --cache $c --out runs/abl128_$arm/eval.json > /dev/null 2>&1
done
