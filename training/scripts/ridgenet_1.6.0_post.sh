#!/bin/bash
# RidgeNet 1.6.0, step 2 of 2. After runs/ridge256b (a sixth cycle at 256 px from runs/ridge256/last.pt): ridge refit on flip-averaged
# activations, evaluations, and, only if the flip-averaged val MAE beats 1.5.1 (8.3358), export 1.6.0 with
# the test-time flip in the graph (as scripts/export_tta.sh, with the gate between evaluation and export).
set -ex
cd "$(dirname "$0")/.."
while pgrep -f "out runs/ridge256b" > /dev/null; do sleep 20; done
C=runs/cache/ridge_in256_learned256.npy
R=runs/ridge256b
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824
# before the refit, no flip (comparable with earlier cycles), on core 0 beside the refit
taskset -c 0 /usr/bin/python3 -m carpus_training.evaluate --ckpt $R/last.pt --cache $C --out $R/eval_last.json > $R/eval_last.log 2>&1 &
taskset -c 1 /usr/bin/python3 -m carpus_training.refit_ridge --ckpt $R/last.pt --out $R/refit.pt --cache $C --tta hflip > $R/refit.log 2>&1
wait
# without the flip + learning curve, on core 0 beside the flip evaluation
taskset -c 0 /usr/bin/python3 -m carpus_training.evaluate --ckpt $R/refit.pt --cache $C --out $R/eval_refit.json \
    --curve results/ridgenet_1.6.0_curve.png --curve-log runs/ridge192/log.jsonl --curve-log runs/ridge192b/log.jsonl \
    --curve-log runs/ridge192c/log.jsonl --curve-log runs/ridge192d/log.jsonl --curve-log runs/ridge256/log.jsonl \
    --curve-log runs/ridge256b/log.jsonl > $R/eval_refit.log 2>&1 &
taskset -c 1 /usr/bin/python3 -m carpus_training.evaluate --ckpt $R/refit.pt --cache $C --out $R/refit_eval_hflip.json --tta hflip > $R/eval_refit_hflip.log 2>&1
wait
echo evaluated
/usr/bin/python3 - <<'PY'
import json
new = json.load(open('runs/ridge256b/refit_eval_hflip.json'))['sex_given']['all']['mae']
plain = json.load(open('runs/ridge256b/eval_refit.json'))['sex_given']['all']['mae']
print('new val MAE with flip', new, 'without', plain, '(1.5.1: 8.3358, 1.5.0: 8.5592)')
assert new < 8.3358, 'not better than 1.5.1'
PY
taskset -c 1 /usr/bin/python3 -m carpus_training.export ridgenet --tta hflip --ckpt $R/refit.pt --seg-ckpt runs/seg3/last.pt \
    --version 1.6.0 --metrics $R/refit_eval_hflip.json \
    --initialised-from "ridgenet 1.5.0 before its ridge refit (runs/ridge256/last.pt): a sixth cosine cycle at 256 px from lr 2e-4 over a time budget of 10,000 s, cut to 6,700 s and then 5,600 s when resumed (session ends); ridge refitted on flip-averaged activations"
taskset -c 0,1 /usr/bin/python3 -m carpus_training.feature_stats --ckpt $R/refit.pt --model-dir ../models/ridgenet/1.6.0 \
    --cache $C --percentile 99.5
echo exported
