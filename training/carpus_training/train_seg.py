"""Train the compact U-Net on the classical masks.

    /usr/bin/python3 -m carpus_training.train_seg --config configs/segmenter_cpu.json \
        --out runs/seg1 [--time-budget 600] [--resume]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from .build_cache import CACHE
from .common import reexec_with_malloc_env, Budget, JsonlLog, load_config, rng_state, save_ckpt, seed_all, set_rng_state
from .data import load_labels
from .segnet import SmallUNet


def augment(x, y, g):
    n = x.shape[0]
    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    y = torch.where(flip[:, None, None, None], y.flip(-1), y)
    # contrast / brightness / gamma jitter
    gamma = torch.exp((torch.rand(n, 1, 1, 1, generator=g) - 0.5) * 0.8)
    c = 0.8 + 0.4 * torch.rand(n, 1, 1, 1, generator=g)
    b = (torch.rand(n, 1, 1, 1, generator=g) - 0.5) * 0.2
    x = (x.clamp(0, 1) ** gamma) * c + b
    return x, y


def iou(pred, target):
    inter = (pred & target).sum(axis=(1, 2))
    union = (pred | target).sum(axis=(1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def evaluate(model, x, y, bs=256):
    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(x), bs):
            preds.append((model(torch.from_numpy(x[i:i + bs])[:, None]) > 0)[:, 0].numpy())
    p = np.concatenate(preds)
    return float(iou(p, y).mean())


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--time-budget", type=float, default=None, help="seconds")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--set", nargs="*", default=[])
    a = ap.parse_args(argv)
    cfg = load_config(a.config, a.set)
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(cfg.get("threads", 2))
    seed_all(cfg["seed"])
    log = JsonlLog(os.path.join(a.out, "log.jsonl"))

    rows = load_labels()
    split = np.array([r["split"] for r in rows])
    xin = np.load(os.path.join(CACHE, "seg_in128.npy"))
    yt = np.load(os.path.join(CACHE, "classical128.npy"))
    tr, va = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")

    model = SmallUNet(cfg["widths"], cfg.get("stem_stride", 1))
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg["epochs"])
    torch.set_num_threads(cfg.get("threads", 1))
    start, best = 0, -1.0
    last = os.path.join(a.out, "last.pt")
    if a.resume and os.path.exists(last):
        ck = torch.load(last)
        model.load_state_dict(ck["model"]); opt.load_state_dict(ck["opt"]); sched.load_state_dict(ck["sched"])
        start, best = ck["epoch"] + 1, ck["best"]
        set_rng_state(ck["rng"])
        log.write(event="resume", epoch=start)
    budget = Budget(a.time_budget)
    g = torch.Generator().manual_seed(cfg["seed"])
    bs = cfg["batch_size"]
    for ep in range(start, cfg["epochs"]):
        if not budget.allows_another():
            log.write(event="time_budget_stop", epoch=ep)
            break
        t0 = time.time()
        model.train()
        perm = np.random.permutation(tr)
        tot, nb = 0.0, 0
        out_of_time = False
        for i in range(0, len(perm) - bs + 1, bs):
            if a.time_budget and time.time() - budget.t0 > a.time_budget:
                out_of_time = True
                break
            if nb and nb % 50 == 0:
                print(f"  epoch {ep} batch {nb} loss {tot / nb:.4f} {(time.time() - t0) / nb:.2f}s/batch", flush=True)
            idx = np.sort(perm[i:i + bs])
            x = torch.from_numpy(xin[idx])[:, None]
            y = torch.from_numpy(yt[idx].astype(np.float32))[:, None]
            x, y = augment(x, y, g)
            logit = model(x)
            p = torch.sigmoid(logit)
            dice = 1 - (2 * (p * y).sum((1, 2, 3)) + 1) / (p.sum((1, 2, 3)) + y.sum((1, 2, 3)) + 1)
            loss = F.binary_cross_entropy_with_logits(logit, y) + dice.mean()
            opt.zero_grad(); loss.backward(); opt.step()
            tot += float(loss); nb += 1
        sched.step()
        viou = evaluate(model, xin[va[::cfg.get("val_every", 1)]], yt[va[::cfg.get("val_every", 1)]])
        dt = time.time() - t0
        budget.epoch_done(dt)
        if viou > best:
            best = viou
            save_ckpt(os.path.join(a.out, "best.pt"), model=model.state_dict(), cfg=cfg, epoch=ep, val_iou=viou)
        save_ckpt(last, model=model.state_dict(), opt=opt.state_dict(), sched=sched.state_dict(), epoch=ep,
                  best=best, rng=rng_state(), cfg=cfg)
        log.write(epoch=ep, train_loss=tot / max(nb, 1), val_iou_vs_classical=viou, lr=opt.param_groups[0]["lr"],
                  sec=dt, batches=nb, partial=out_of_time)
        if out_of_time:
            log.write(event="time_budget_stop", epoch=ep)
            break


if __name__ == "__main__":
    reexec_with_malloc_env("carpus_training.train_seg")
    main()
