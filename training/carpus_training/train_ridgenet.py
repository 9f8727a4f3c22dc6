"""Train RidgeNet on the (segmented) hand radiographs.

    /usr/bin/python3 -m carpus_training.train_ridgenet --config configs/ridgenet_cpu.json \
        --out runs/ridge1 [--time-budget 4200] [--resume] [--init CKPT] [--set key=json ...]

--init starts a new run (fresh optimiser, schedule and log) from another run's weights: a warm
restart of the cosine schedule, used for RidgeNet 1.2.0 (see README.md).

Inputs come from runs/cache/ridge_in{size}_{seg|noseg}.npy (see build_ridge_cache), i.e. exactly
the tensors of docs/model-input.md. Logs one JSON line per epoch (train loss/MAE, val loss/MAE).
"""
from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from .build_cache import CACHE
from .common import reexec_with_malloc_env, Budget, JsonlLog, device, load_config, rng_state, save_ckpt, seed_all, set_rng_state
from .data import load_labels
from .ridgenet import RidgeNet, torch_load


def augment(x, cfg, g):
    """Paper-style augmentation on a batch [N,1,S,S] (background 0 stays 0)."""
    n = x.shape[0]
    u = lambda *s: torch.rand(*s, generator=g, device=g.device)
    fg = (x > 0).to(x.dtype)
    c = 1 + (u(n, 1, 1, 1) * 2 - 1) * cfg["aug_contrast"]
    b = (u(n, 1, 1, 1) * 2 - 1) * cfg["aug_brightness"]
    x = (x * c + b).clamp(min=0) * fg
    ang = (u(n) * 2 - 1) * math.radians(cfg["aug_rotate_deg"])
    zoom = 1 + (u(n) * 2 - 1) * cfg["aug_zoom"]
    flip = torch.where(u(n) < cfg["aug_hflip"], -1.0, 1.0)
    tx = (u(n) * 2 - 1) * cfg["aug_shift"] * 2
    ty = (u(n) * 2 - 1) * cfg["aug_shift"] * 2
    cos, sin = torch.cos(ang) / zoom, torch.sin(ang) / zoom
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def metrics(pred, age, male):
    out = {}
    for name, sel in (("all", np.ones_like(male, dtype=bool)), ("female", ~male), ("male", male)):
        p, y = pred[sel], age[sel]
        e = p - y
        out[name] = {"n": int(sel.sum()), "mae": float(np.abs(e).mean()), "rmse": float(np.sqrt((e ** 2).mean())),
                     "rmspe": float(100 * np.sqrt(((e / y) ** 2).mean()))}
    return out


def batch_tensor(x, idx, dev):
    """Rows idx of the inputs as float32 [N, 1, S, S] on dev. x: a numpy array (CPU path) or a tensor
    already on dev (GPU path); uint8 caches (0..255, the GPU run's transfer format) are scaled to 0..1."""
    if isinstance(x, torch.Tensor):
        xb = rows(x, idx)
        xb = xb.float() / 255 if xb.dtype == torch.uint8 else xb.float()
        return xb[:, None]
    xb = np.asarray(x[idx])
    xb = xb.astype(np.float32) / 255 if xb.dtype == np.uint8 else xb.astype(np.float32, copy=False)
    return torch.from_numpy(xb)[:, None].to(dev)


def device_cache(x, dev):
    """A whole input cache (numpy, uint8 or float32) as one tensor on dev: the GPU path indexes and
    augments batches there instead of feeding them from the CPU."""
    return torch.from_numpy(np.ascontiguousarray(x)).to(dev)


def rows(x, idx):
    """x[idx] for a numpy array or a tensor (on any device)."""
    return x[torch.as_tensor(idx, device=x.device)] if isinstance(x, torch.Tensor) else x[idx]


@torch.no_grad()
def predict(model, x, sex, bs=128, dev="cpu"):
    model.eval()
    out = []
    for i in range(0, len(x), bs):
        xb = batch_tensor(x, np.arange(i, min(i + bs, len(x))), dev)
        sb = torch.from_numpy(sex[i:i + bs].astype(np.float32))[:, None].to(dev)
        out.append(model(xb, sb).cpu().numpy()[:, 0])
    return np.concatenate(out)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--time-budget", type=float, default=None, help="seconds of training (whole run)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init", default=None, help="checkpoint whose model weights start this run")
    ap.add_argument("--set", nargs="*", default=[])
    a = ap.parse_args(argv)
    cfg = load_config(a.config, a.set)
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(cfg.get("threads", 2))
    seed_all(cfg["seed"])
    dev = device()
    log = JsonlLog(os.path.join(a.out, "log.jsonl"))
    log.write(event="start", cfg=cfg, time_budget=a.time_budget, device=str(dev))

    rows = load_labels()
    split = np.array([r["split"] for r in rows])
    age = np.array([r["age"] for r in rows], dtype=np.float32)
    male = np.array([r["male"] for r in rows])
    cache_file = cfg.get("cache") or os.path.join(
        CACHE, f"ridge_in{cfg['size']}_{'seg' if cfg['segmented'] else 'noseg'}.npy")
    X = np.load(cache_file, mmap_mode="r" if cfg.get("mmap") else None)
    tr, va = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    va = va[::cfg.get("val_every", 1)]  # per-epoch monitoring subset; evaluate.py reports the full val split
    mean, std = float(age[tr].mean()), float(age[tr].std())
    on_gpu = dev.type == "cuda"
    Xv = X[va]
    if on_gpu or cfg.get("data_on_device"):
        # the whole input cache lives on the GPU and augmentation runs there: a CPU pipeline cannot feed
        # a GPU thousands of 299 px images a second. bf16 autocast for the convolutions (BN stays fp32).
        # (data_on_device: the same path on the CPU, to try the GPU run's code before a device call)
        torch.backends.cudnn.benchmark = True
        X = device_cache(X, dev)
        Xv = rows(X, va)
    amp = on_gpu and cfg.get("amp", True)

    model = RidgeNet(cfg["backbone"], cfg["dense"], cfg["dropout"], mean, std).to(dev)
    if on_gpu:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=cfg.get("plateau_factor", 0.8),
                                                         patience=cfg.get("plateau_patience", 3))
    start, best, step = 0, float("inf"), 0
    last = os.path.join(a.out, "last.pt")
    elapsed_before = 0.0
    if a.init and not (a.resume and os.path.exists(last)):
        init = torch_load(a.init, map_location=dev)
        model.load_state_dict(init["model"])
        cfg["init"] = {"ckpt": a.init, "epoch": init.get("epoch")}  # recorded in every checkpoint and the card
        log.write(event="init", ckpt=a.init, epoch=init.get("epoch"))
    if a.resume and os.path.exists(last):
        ck = torch_load(last, map_location=dev)
        model.load_state_dict(ck["model"]); opt.load_state_dict(ck["opt"]); plateau.load_state_dict(ck["plateau"])
        start, best, step, elapsed_before = ck["epoch"] + 1, ck["best"], ck["step"], ck.get("elapsed", 0.0)
        set_rng_state(ck["rng"])
        log.write(event="resume", epoch=start)
    budget = Budget(None if a.time_budget is None else a.time_budget - elapsed_before)
    g = torch.Generator(device=dev).manual_seed(cfg["seed"] + start)
    bs = cfg["batch_size"]
    steps_per_epoch = len(tr) // bs
    total_steps = cfg["epochs"] * steps_per_epoch
    base_lr = cfg["lr"]
    t_run0 = time.time()
    for ep in range(start, cfg["epochs"]):
        t0 = time.time()
        model.train()
        perm = np.random.permutation(tr)
        tot, tot_mae, nb = 0.0, 0.0, 0
        out_of_time = False
        for i in range(0, steps_per_epoch * bs, bs):
            if a.time_budget and elapsed_before + time.time() - t_run0 > a.time_budget:
                out_of_time = True  # stop mid-epoch: evaluate, save and finish
                break
            if nb and nb % 50 == 0:
                print(f"  step {step} epoch {ep} batch {nb}/{steps_per_epoch} loss {tot / nb:.4f} "
                      f"mae {tot_mae / nb:.2f} lr {opt.param_groups[0]['lr']:.2e} "
                      f"{(time.time() - t0) / nb:.2f}s/batch", flush=True)
            if cfg.get("schedule") == "cosine_budget":
                # cosine decay over the time budget (or over all epochs without one)
                if a.time_budget:
                    frac = min(1.0, (elapsed_before + time.time() - t_run0) / a.time_budget)
                else:
                    frac = step / total_steps
                lr = cfg.get("min_lr", 0.0) + 0.5 * (base_lr - cfg.get("min_lr", 0.0)) * (1 + math.cos(math.pi * frac))
                if frac < cfg.get("warmup_frac", 0.0):  # linear warm-up (a from-scratch start at a high rate)
                    lr *= frac / cfg["warmup_frac"]
                for pg in opt.param_groups:
                    pg["lr"] = lr
            idx = np.sort(perm[i:i + bs])
            x = augment(batch_tensor(X, idx, dev), cfg, g).to(dev)
            s = torch.from_numpy(male[idx].astype(np.float32))[:, None].to(dev)
            unk = torch.rand(len(idx), 1, generator=g, device=g.device).to(dev) < cfg.get("sex_unknown_p", 0.1)
            s = torch.where(unk, torch.full_like(s, 0.5), s)
            y = torch.from_numpy(age[idx])[:, None].to(dev)
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp):
                pred = model(x, s)
            zerr = (pred.float() - y) / std
            loss = (zerr ** 2).mean() + cfg["ridge_lambda"] * model.ridge_penalty()
            opt.zero_grad(); loss.backward(); opt.step()
            tot += float(loss.detach()); tot_mae += float((pred.detach() - y).abs().mean()); nb += 1; step += 1
        pv = predict(model, Xv, male[va].astype(np.float32), dev=dev)
        m = metrics(pv, age[va], male[va])
        val_loss = float((((pv - age[va]) / std) ** 2).mean())
        if cfg.get("schedule", "plateau") == "plateau":
            plateau.step(val_loss)
        dt = time.time() - t0
        budget.epoch_done(dt)
        is_best = m["all"]["mae"] < best
        if is_best:
            best = m["all"]["mae"]
            save_ckpt(os.path.join(a.out, "best.pt"), model=model.state_dict(), cfg=cfg, epoch=ep, val=m)
        save_ckpt(last, model=model.state_dict(), opt=opt.state_dict(), plateau=plateau.state_dict(), epoch=ep,
                  best=best, step=step, rng=rng_state(), cfg=cfg, val=m,
                  elapsed=elapsed_before + time.time() - t_run0)
        log.write(epoch=ep, train_loss=tot / max(nb, 1), train_mae=tot_mae / max(nb, 1), val_loss=val_loss, val_mae=m["all"]["mae"],
                  val_mae_female=m["female"]["mae"], val_mae_male=m["male"]["mae"], lr=opt.param_groups[0]["lr"],
                  sec=dt, best=is_best, batches=nb, partial=out_of_time)
        if out_of_time:
            log.write(event="time_budget_stop", epoch=ep)
            break
    log.write(event="done", best_val_mae=best)


if __name__ == "__main__":
    reexec_with_malloc_env("carpus_training.train_ridgenet")
    main()
