"""Cheap with/without-segmentation comparison: ridge regression on 32x32 pixels (+ sex).

The CPU was too contended to train the CNN twice, so this compares the two *inputs* with a linear
ridge model (lambda by 5-fold CV on train), fitted on the train split, measured on val:
- seg:   RidgeNet inputs (classical mask -> crop -> 128 px), 4x4 mean-pooled to 32x32
- noseg: whole radiograph squashed to 128 px, 4x4 mean-pooled to 32x32

    /usr/bin/python3 -m carpus_training.ablation_linear --out runs/ablation_linear.json
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np

from .build_cache import CACHE
from .data import load_labels
from .train_ridgenet import metrics


def feats(X, male):
    n = X.shape[0]
    out = np.empty((n, 32 * 32), np.float32)
    for i in range(0, n, 1024):
        x = np.asarray(X[i:i + 1024], dtype=np.float32)
        out[i:i + len(x)] = x.reshape(len(x), 32, 4, 32, 4).mean((2, 4)).reshape(len(x), -1)
    return np.concatenate([out, male[:, None].astype(np.float32)], 1)


def ridge_fit(A, y, lam):
    mu, sd = A.mean(0), A.std(0) + 1e-6
    Z = (A - mu) / sd
    ym = y.mean()
    w = np.linalg.solve(Z.T @ Z + lam * np.eye(Z.shape[1]), Z.T @ (y - ym))
    return lambda B: ((B - mu) / sd) @ w + ym


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seg-cache", default=os.path.join(CACHE, "ridge_in128_classical.npy"))
    ap.add_argument("--noseg-cache", default=os.path.join(CACHE, "ridge_in128_noseg.npy"))
    a = ap.parse_args(argv)
    rows = load_labels()
    split = np.array([r["split"] for r in rows])
    age = np.array([r["age"] for r in rows], np.float64)
    male = np.array([r["male"] for r in rows])
    tr, va = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    res = {"model": "ridge regression on 4x4-mean-pooled 32x32 pixels + sex (not RidgeNet)"}
    rs = np.random.RandomState(0)
    folds = rs.randint(0, 5, len(tr))
    for name, path in (("seg", a.seg_cache), ("noseg", a.noseg_cache)):
        F = feats(np.load(path, mmap_mode="r"), male).astype(np.float64)
        best = None
        for lam in (1.0, 10.0, 100.0, 1000.0, 10000.0):
            err = []
            for f in range(5):
                fit = ridge_fit(F[tr[folds != f]], age[tr[folds != f]], lam)
                err.append(np.abs(fit(F[tr[folds == f]]) - age[tr[folds == f]]).mean())
            if best is None or np.mean(err) < best[1]:
                best = (lam, float(np.mean(err)))
        fit = ridge_fit(F[tr], age[tr], best[0])
        res[name] = {"lambda": best[0], "cv_mae_train": best[1], "val": metrics(fit(F[va]), age[va], male[va])}
        print(name, json.dumps(res[name]), flush=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
