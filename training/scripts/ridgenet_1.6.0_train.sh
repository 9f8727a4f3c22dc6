#!/bin/bash
# RidgeNet 1.6.0, step 1 of 2 (sessions 6-7): a sixth cosine cycle at 256 px from 1.5.0's weights before its ridge refit
# (runs/ridge256/last.pt). Resumable: run again with the same arguments (--resume). The run that made
# 1.6.0 started with --time-budget 10000 and was resumed with 6700 and then 5600 (session ends); from
# scratch, 5600 gives the same schedule as its last part. Needs the 256 px cache (build_ridge_cache --size 256).
set -ex
cd "$(dirname "$0")/.."
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824
taskset -c 1 /usr/bin/python3 -m carpus_training.train_ridgenet --config configs/ridgenet_cpu_192.json \
    --out runs/ridge256b --init runs/ridge256/last.pt --resume --time-budget 5600 \
    --set size=256 lr=2e-4 min_lr=5e-6 'cache="'$PWD'/runs/cache/ridge_in256_learned256.npy"'
