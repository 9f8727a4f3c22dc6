"""Validation metrics of a RidgeNet checkpoint on the fixed val split (true sex and sex unknown).

    /usr/bin/python3 -m carpus_training.evaluate --ckpt runs/ridge1/best.pt --out runs/ridge1/eval.json \
        [--curve results/ridgenet_curve.png] [--tta hflip]

--tta hflip: the metrics of the test-time flip the exported graph computes with `export --tta hflip`
(mean of the age of the image and of its mirror image); the JSON records it, and export checks it.
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch

from .build_cache import CACHE
from .data import label_arrays
from .ridgenet import TTA_CHOICES, load_ridgenet
from .train_ridgenet import batch_tensor, metrics


@torch.no_grad()
def predict_sexes(m, x, sexes, tta="none", bs=16):
    """The ages predict(with_tta(m, tta), x, sex) gives for each sex vector in `sexes`, with the backbone
    run once per image and view (the sex input only enters the head): half the cost for two vectors."""
    m.eval()
    outs = [[] for _ in sexes]
    for i in range(0, len(x), bs):
        xb = batch_tensor(x, np.arange(i, min(i + bs, len(x))), "cpu")
        maps = [m.backbone(v) for v in ([xb, torch.flip(xb, [3])] if tta == "hflip" else [xb])]
        for out, sex in zip(outs, sexes):
            sb = torch.from_numpy(sex[i:i + bs].astype(np.float32))[:, None]
            ages = [m.head(a, sb) for a in maps]
            out.append((ages[0] if len(ages) == 1 else 0.5 * (ages[0] + ages[1])).numpy()[:, 0])
    return [np.concatenate(o) for o in outs]


def plot_curve(log_paths, out_png, title):
    """Learning curves of one run, or of runs chained with --init (their logs in order, epochs numbered on)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    recs, ep = [], []
    for path in log_paths:
        base = len(ep)
        run = [json.loads(l) for l in open(path) if '"epoch"' in l and '"val_mae"' in l]
        recs += run
        ep += [base + r["epoch"] + 1 for r in run]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].plot(ep, [r["train_loss"] for r in recs], label="train loss (z-MSE + ridge)")
    ax[0].plot(ep, [r["val_loss"] for r in recs], label="val loss (z-MSE)")
    ax[0].set_xlabel("epoch"); ax[0].legend(); ax[0].set_yscale("log")
    ax[1].plot(ep, [r["train_mae"] for r in recs], label="train MAE (augmented)")
    ax[1].plot(ep, [r["val_mae"] for r in recs], label="val MAE")
    ax[1].set_xlabel("epoch"); ax[1].set_ylabel("months"); ax[1].legend()
    fig.suptitle(title); fig.tight_layout(); fig.savefig(out_png, dpi=80)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--curve")
    ap.add_argument("--curve-log", action="append", help="logs to plot, in order (default: the checkpoint's run)")
    ap.add_argument("--cache", help="inputs to evaluate (default: the training cache of the config)")
    ap.add_argument("--tta", choices=TTA_CHOICES, default="none",
                    help="test-time augmentation, as export --tta computes it in the graph (default none)")
    a = ap.parse_args(argv)
    torch.set_num_threads(min(2, len(os.sched_getaffinity(0))))  # 2 threads on one taskset core spin against each other
    m, ck = load_ridgenet(a.ckpt)
    cfg = ck["cfg"]
    _, split, age, male = label_arrays(np.float32)
    va = np.flatnonzero(split == "val")
    X = np.load(a.cache or cfg.get("cache") or os.path.join(
        CACHE, f"ridge_in{cfg['size']}_{'seg' if cfg['segmented'] else 'noseg'}.npy"), mmap_mode="r")
    xv = np.asarray(X[va])
    pv, pu = predict_sexes(m, xv, [male[va].astype(np.float32), np.full(len(va), 0.5, np.float32)], a.tta)
    res = {"split": "val", "n": int(len(va)), "epoch": int(ck["epoch"]), "inputs": os.path.basename(a.cache or cfg.get("cache") or "default"),
           **({"test_time_augmentation": a.tta} if a.tta != "none" else {}), "sex_given": metrics(pv, age[va], male[va]),
           "sex_unknown_0.5": metrics(pu, age[va], male[va])}
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))
    if a.curve:
        logs = a.curve_log or [os.path.join(os.path.dirname(a.ckpt), "log.jsonl")]
        plot_curve(logs, a.curve, " + ".join(os.path.basename(os.path.dirname(p)) for p in logs))


if __name__ == "__main__":
    main()
