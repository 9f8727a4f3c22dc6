"""Statistics of RidgeNet's pooled features for the runtime's content check (is this a hand?).

The runtime averages the `features` output over its grid (the GAP the head uses) and computes the
Mahalanobis distance to the distribution of the training hands' pooled features; an image farther
than `threshold` is rejected as not a hand radiograph, whatever its DICOM header says. This script
fits the mean and a Ledoit-Wolf shrinkage covariance (128-256 correlated features, ~11k samples)
on the train rows of an input cache, sets the threshold at a high percentile of the val rows'
distances, writes `feature-stats.json` beside the ONNX and records it (path, SHA-256, bytes) in
model.json under `feature_stats`; the runtime checks that hash like the ONNX's.

    nice -n 10 /usr/bin/python3 -m carpus_training.feature_stats \
        --ckpt checkpoints/ridgenet-1.0.0-last.pt --model-dir ../models/ridgenet/1.0.0 \
        --cache runs/cache/ridge_in128_classical.npy --val-cache runs/cache/ridge_in128_learned.npy \
        [--percentile 99.9]

The checkpoint must be the one the ONNX was exported from: its features on the card's parity
inputs are compared with the parity fixtures before anything is written.

The features are those the exported graph outputs: for a card with `test_time_augmentation` hflip
(export --tta hflip) that is concat(A, flipW(A')), 2C channels, so the pooled feature is
[GAP(A), GAP(A')] and the statistics are fitted on 2C dimensions (read from the card, no flag).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import time

import numpy as np
import torch
from sklearn.covariance import LedoitWolf

from .data import load_labels
from .ridgenet import graph_features, load_ridgenet
from .train_ridgenet import batch_tensor

FORMAT = "carpus-feature-stats/1"


def pooled_features(model, x, bs=64, tta="none"):
    """GAP of the graph's `features` output, [N, C] float64 (as the runtime averages `features`);
    tta "hflip-only": the mirrored pass's half alone (the plain half is cached separately)."""
    out = []
    dev = next(model.parameters()).device
    with torch.no_grad():
        for i in range(0, len(x), bs):
            xb = batch_tensor(x, np.arange(i, min(i + bs, len(x))), dev)
            if tta == "hflip-only":
                f = model.backbone(torch.flip(xb, [3]))
            else:
                f = graph_features(model, xb, tta)
            out.append(f.mean(dim=(2, 3)).double().cpu().numpy())
    return np.concatenate(out)


def card_tta(card):
    return (card.get("test_time_augmentation") or {}).get("type", "none")


def mahalanobis(f, mean, precision):
    d = f - mean
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", d, precision, d), 0.0))


def f32(a):
    """float32-rounded values: what the runtime reads (written with 9 significant digits, exact)."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def check_parity(model, model_dir, card):
    """Features of the checkpoint on the card's parity inputs vs the ONNX's fixtures."""
    par = card.get("parity") or {}
    checked = 0
    for fx in par.get("fixtures", []):
        for case in fx.get("cases", []):
            feat = case.get("features")
            if not feat:
                continue
            d = os.path.join(model_dir, par["dir"])
            x = np.fromfile(os.path.join(d, fx["input"]["file"]), "<f4").reshape(fx["input"]["shape"])
            want = np.fromfile(os.path.join(d, feat["file"]), "<f4").reshape(feat["shape"])
            got = graph_features(model, torch.from_numpy(x), card_tta(card)).numpy()
            if got.shape != want.shape:
                raise SystemExit(f"features of {fx['input']['file']}: checkpoint {got.shape}, fixture {want.shape}")
            err = float(np.abs(got - want).max())
            if err > max(par.get("tolerance", 1e-4), 1e-3):
                raise SystemExit(f"checkpoint does not match {card['name']} {card['version']}: features of "
                                 f"{fx['input']['file']} differ by {err:.2e} from the parity fixture")
            checked += 1
    if not checked:
        raise SystemExit("the card has no parity fixture with features: cannot tie the checkpoint to the ONNX")
    return checked


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True, help="RidgeNet checkpoint the ONNX was exported from")
    ap.add_argument("--model-dir", required=True, help="models/ridgenet/<version> (model.json + model.onnx)")
    ap.add_argument("--cache", required=True,
                    help="RidgeNet inputs of all rows in labels order; its train rows are fitted (the training inputs)")
    ap.add_argument("--val-cache", help="inputs whose val rows set the threshold (default: --cache); use the "
                                        "runtime path's (learned segmenter) crops")
    ap.add_argument("--train-features", nargs=2, metavar=("PLAIN_NPY", "HFLIP_NPY"),
                    help="the train rows' pooled features computed elsewhere (transfer.py pooled-train, on the "
                         "GPU that trained the model): the plain pass's and the mirrored pass's [N_train, C]")
    ap.add_argument("--percentile", type=float, default=99.9,
                    help="of the val distances: the threshold (99.5 rejected 1489.png of the native samples, d 22.3 > 22.1)")
    a = ap.parse_args(argv)
    torch.set_num_threads(min(2, len(os.sched_getaffinity(0))))  # 2 threads on one taskset core spin against each other
    t0 = time.time()

    card_path = os.path.join(a.model_dir, "model.json")
    card = json.load(open(card_path))
    m, ck = load_ridgenet(a.ckpt)
    cfg = ck["cfg"]
    n_parity = check_parity(m, a.model_dir, card)

    rows = load_labels()
    split = np.array([r["split"] for r in rows])
    tr = np.flatnonzero(split == "train")
    va = np.flatnonzero(split == "val")
    X = np.load(a.cache, mmap_mode="r")
    if X.shape[0] != len(rows) or X.shape[1] != cfg["size"]:
        raise SystemExit(f"{a.cache} has shape {X.shape}: {len(rows)} rows of {cfg['size']}x{cfg['size']} expected")
    Xv = np.load(a.val_cache, mmap_mode="r") if a.val_cache else X

    for name, cache, idx in (("--cache", X, tr), ("--val-cache", Xv, va)):
        # a cache built for one split only (e.g. learned-segmenter crops of val) has zero rows elsewhere
        blank = sum(int(not np.any(cache[i])) for i in idx[:: max(1, len(idx) // 200)])
        if blank > 2:
            raise SystemExit(f"{name}: {blank} of ~200 sampled {'train' if idx is tr else 'val'} rows are blank: "
                             "this cache was not built for that split")
    # Pooled features are kept in runs/ (keyed by checkpoint and caches): another --percentile is instant.
    # With hflip, the mirrored pass's half is kept in its own file and the plain half reused.
    key = hashlib.sha256(open(a.ckpt, "rb").read()).hexdigest()[:16]
    tta = card_tta(card)

    def cached(part):
        saved = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runs", "feature_stats",
                             f"{key}-{os.path.basename(a.cache)}-{os.path.basename(a.val_cache or a.cache)}"
                             f"{'-trainfeat' if a.train_features else ''}"
                             f"{'' if part == 'none' else '-' + part}.npz")
        if os.path.exists(saved):
            z = np.load(saved)
            return z["train"], z["val"]
        if a.train_features:
            ftr = np.load(a.train_features[0 if part == "none" else 1]).astype(np.float64)
            if ftr.shape != (len(tr), m.channels):
                raise SystemExit(f"--train-features: shape {ftr.shape}, ({len(tr)}, {m.channels}) expected")
        else:
            ftr = pooled_features(m, X[tr], tta=part)
        fva = pooled_features(m, np.asarray(Xv[va]), tta=part)
        os.makedirs(os.path.dirname(saved), exist_ok=True)
        np.savez(saved, train=ftr, val=fva)
        return ftr, fva

    ftr, fva = cached("none")
    if tta == "hflip":
        ftr2, fva2 = cached("hflip-only")
        ftr, fva = np.concatenate([ftr, ftr2], 1), np.concatenate([fva, fva2], 1)
    elif tta != "none":
        raise SystemExit(f"test-time augmentation {tta!r} of the card is not known here")
    lw = LedoitWolf().fit(ftr)
    mean = f32(lw.location_)
    precision = f32(lw.precision_)
    dtr = mahalanobis(ftr, mean, precision)
    dva = mahalanobis(fva, mean, precision)
    threshold = float(np.float32(np.percentile(dva, a.percentile)))
    pct = lambda d: {str(p): float(np.percentile(d, p)) for p in (50, 90, 99, 99.5, 99.9, 100)}
    c = ftr.shape[1]
    stats = {
        "format": FORMAT,
        "model": {"name": card["name"], "version": card["version"], "onnx_sha256": card["onnx_sha256"]},
        "feature": "mean over the grid of the `features` output (global average pooling), per channel"
                   + (f" (hflip: channels 0-{c // 2 - 1} the image's pass, {c // 2}-{c - 1} the mirrored pass's)"
                      if tta == "hflip" else ""),
        "score": "Mahalanobis distance sqrt((f - mean)^T precision (f - mean)), float64",
        "channels": c,
        "mean": [float(v) for v in mean],
        "precision": [float(v) for v in precision.ravel()],
        "threshold": threshold,
        "threshold_rule": f"{a.percentile}th percentile of the val distances",
        "fit": {
            "rows": "train", "n": int(len(tr)),
            "inputs": os.path.basename(a.cache) if not a.train_features else
            "pooled features computed where the model was trained: " + ", ".join(map(os.path.basename, a.train_features)),
            "covariance": "sklearn LedoitWolf", "shrinkage": float(lw.shrinkage_),
            "distance_percentiles": pct(dtr), "above_threshold": int((dtr > threshold).sum()),
        },
        "val": {
            "rows": "val", "n": int(len(va)), "inputs": os.path.basename(a.val_cache or a.cache),
            "distance_percentiles": pct(dva), "above_threshold": int((dva > threshold).sum()),
            "false_rejection_rate": float((dva > threshold).mean()),
        },
        "checkpoint": os.path.basename(a.ckpt),
        "parity_fixtures_checked": n_parity,
        "command": "training/README.md, 'Feature statistics (content check)'",
    }
    # 9 significant digits round-trip float32 exactly; keeps the file small.
    text = json.dumps(stats, indent=1)
    for key, vals in (("mean", mean), ("precision", precision.ravel())):
        text = text.replace(json.dumps(stats[key], indent=1).replace("\n", "\n "),
                            "[" + ",".join("%.9g" % v for v in vals) + "]", 1)
    out = os.path.join(a.model_dir, "feature-stats.json")
    with open(out, "w") as f:
        f.write(text + "\n")
    back = json.load(open(out))
    assert np.array_equal(f32(back["precision"]), precision.ravel()) and np.array_equal(f32(back["mean"]), mean)
    raw = open(out, "rb").read()
    card["feature_stats"] = {"file": "feature-stats.json", "sha256": hashlib.sha256(raw).hexdigest(),
                             "bytes": len(raw), "format": FORMAT}
    with open(card_path, "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    print(json.dumps({k: stats[k] for k in ("channels", "threshold", "threshold_rule", "fit", "val")}, indent=1))
    print(f"wrote {out} and feature_stats in {card_path} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
