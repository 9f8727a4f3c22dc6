"""Refit RidgeNet's ridge output layer in closed form, with lambda chosen on the validation split.

The paper's output layer is a ridge regression on the 1024 dense activations. During training it is
learned by SGD with a fixed L2 penalty, on dropout-thinned activations. Here, after training, the
backbone and dense layer are frozen, their activations (eval mode: no dropout) are computed for the
train split, and the ridge weights are solved exactly for each lambda of a grid:

    min_w,b  mean((z - H w - b)^2) + lambda * |w|^2,   z = (age - mean) / std

The lambda with the lowest val MAE (true sex) is kept. With `--tta hflip` the activations are the mean
of the image's and its mirror image's: the output layer is linear in them, so this is the least-squares
fit of the averaged age that `export --tta hflip` computes in its graph. The val split picks one scalar; the metrics
reported for the shipped model are from the same val split, so they carry that (small) selection.

    /usr/bin/python3 -m carpus_training.refit_ridge --ckpt runs/ridge192/last.pt --out runs/ridge192/refit.pt \
        --cache runs/cache/ridge_in192_learned192.npy [--tta hflip]
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

from .common import device, save_ckpt
from .train_ridgenet import batch_tensor, device_cache, rows
from .data import label_arrays
from .ridgenet import TTA_CHOICES, load_ridgenet

LAMBDAS = [0.0, 1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0]


@torch.no_grad()
def dense_activations(model, x, sex, bs=128, tta="none"):
    """relu(fc1([GAP(backbone(x)), sex])) in eval mode, float64 [N, dense]; with tta="hflip" the mean of
    the image's and its mirror image's (flipped along W, as export --tta hflip does)."""
    out = []
    dev = next(model.parameters()).device
    for i in range(0, len(x), bs):
        xb = batch_tensor(x, np.arange(i, min(i + bs, len(x))), dev)
        sb = torch.from_numpy(sex[i:i + bs].astype(np.float32))[:, None].to(dev)
        views = [xb, torch.flip(xb, [3])] if tta == "hflip" else [xb]
        h = sum(F.relu(model.fc1(torch.cat([model.backbone(v).mean(dim=(2, 3)), sb], 1))) for v in views)
        out.append((h / len(views)).double().cpu().numpy())
    return np.concatenate(out)


def solve(h, z, lam):
    """Exact ridge solution with an unpenalised intercept (centred design)."""
    hm, zm = h.mean(0), z.mean()
    hc, zc = h - hm, z - zm
    n = len(h)
    a = hc.T @ hc / n + lam * np.eye(h.shape[1])
    w = np.linalg.solve(a + 1e-10 * np.eye(h.shape[1]), hc.T @ zc / n)
    return w, zm - hm @ w


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cache", required=True, help="RidgeNet inputs for every row (train and val)")
    ap.add_argument("--tta", choices=TTA_CHOICES, default="none",
                    help="fit on the activations averaged as export --tta computes the age (default none)")
    a = ap.parse_args(argv)
    torch.set_num_threads(min(2, len(os.sched_getaffinity(0))))  # 2 threads on one taskset core spin against each other
    m, ck = load_ridgenet(a.ckpt)
    cfg = ck["cfg"]
    _, split, age, male = label_arrays(np.float64)
    tr, va = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    X = np.load(a.cache, mmap_mode="r")
    dev = device()
    if dev.type == "cuda":  # the lent GPU's run (gpu/run_vgg19.sh): the cache goes to the GPU whole
        m = m.to(dev)
        X = device_cache(X, dev)
    mean, std = float(m.age_mean), float(m.age_std)
    # Train rows with the sex input as trained: true sex, plus a copy at 0.5 (unknown) for a tenth of them,
    # matching the training-time share of unknown sex.
    htr = dense_activations(m, rows(X, tr), male[tr].astype(np.float32), tta=a.tta)
    rs = np.random.RandomState(0)
    unk = rs.choice(len(tr), len(tr) // 10, replace=False)
    hunk = dense_activations(m, rows(X, tr[unk]), np.full(len(unk), 0.5, np.float32), tta=a.tta)
    h = np.concatenate([htr, hunk])
    z = np.concatenate([(age[tr] - mean) / std, (age[tr[unk]] - mean) / std])
    hva = dense_activations(m, rows(X, va), male[va].astype(np.float32), tta=a.tta)
    w0 = m.ridge.weight.detach().double().cpu().numpy()[0]
    b0 = float(m.ridge.bias.detach())
    results = [{"lambda": "trained (SGD)", "val_mae": float(np.abs((hva @ w0 + b0) * std + mean - age[va]).mean())}]
    best = None
    for lam in LAMBDAS:
        w, b = solve(h, z, lam)
        mae = float(np.abs((hva @ w + b) * std + mean - age[va]).mean())
        results.append({"lambda": lam, "val_mae": mae})
        print(f"lambda {lam:g}: val MAE {mae:.3f}", flush=True)
        if best is None or mae < best[0]:
            best = (mae, lam, w, b)
    mae, lam, w, b = best
    print(f"trained layer: val MAE {results[0]['val_mae']:.3f}; chosen lambda {lam:g}: {mae:.3f}", flush=True)
    state = dict(ck["model"])
    state["ridge.weight"] = torch.tensor(w[None, :], dtype=torch.float32)
    state["ridge.bias"] = torch.tensor([b], dtype=torch.float32)
    cfg = dict(cfg, ridge_lambda=lam, ridge_refit="closed form on train activations (eval mode), lambda by val MAE"
               + (", activations averaged over the image and its mirror image (--tta hflip)" if a.tta == "hflip" else ""))
    save_ckpt(a.out, model=state, cfg=cfg, epoch=ck["epoch"], val=ck.get("val"), refit=results)
    with open(os.path.splitext(a.out)[0] + "_refit.json", "w") as f:
        json.dump({"chosen_lambda": lam, "tta": a.tta, "grid": results}, f, indent=1)


if __name__ == "__main__":
    main()
