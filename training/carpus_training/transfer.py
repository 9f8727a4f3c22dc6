"""Moving a training run to a lent GPU machine and back (gpu/run_vgg19.sh).

The lent machine receives only the repository's working tree, at most 64 MiB, and returns at most 8
files of 16 MiB. So:

- `pack-inputs`: the RidgeNet input cache (float32 [N, S, S], 4.5 GB at 299 px) is sent as lossy WebP
  (quality 90 by default: 40.6 MiB for the 12,611 images at 299 px; on 200 of them 3.2 KB an image and
  a mean absolute error of 0.0021 on the 0..1 scale, about half an 8-bit grey level). Only training sees these; the val MAE that decides whether a model
  ships is measured afterwards on this machine with the exact inputs.
- `unpack-inputs`: WebP back to a uint8 cache [N, S, S] (train_ridgenet scales uint8 by 1/255).
- `pack-ckpt` / `unpack-ckpt`: a checkpoint as numpy arrays (split into parts under 16 MiB) plus
  JSON, readable by any PyTorch: a 2.x pickle is not promised to load in Debian's 1.13.
- `pooled-train`: the train rows' pooled features, for feature_stats --train-features (11,352 images
  twice through the backbone: an hour on one CPU core, seconds on the GPU).

    /usr/bin/python3 -m carpus_training.transfer pack-inputs --cache C.npy --out DIR [--quality 90]
    python3 -m carpus_training.transfer unpack-inputs --src DIR --out C_u8.npy
    python3 -m carpus_training.transfer pack-ckpt --ckpt X.pt --out PREFIX
    /usr/bin/python3 -m carpus_training.transfer unpack-ckpt --src PREFIX --out X.pt
    python3 -m carpus_training.transfer pooled-train --ckpt X.pt --cache C_u8.npy --out PREFIX
"""
from __future__ import annotations

import argparse
import glob
import io
import json
import os
from multiprocessing import Pool

import numpy as np
from PIL import Image


def pack_inputs(cache, out, quality):
    x = np.load(cache, mmap_mode="r")
    os.makedirs(out, exist_ok=True)
    blobs, offsets = [], [0]
    for k in range(len(x)):
        u8 = np.clip(np.rint(np.asarray(x[k], np.float32) * 255), 0, 255).astype(np.uint8)
        b = io.BytesIO()
        Image.fromarray(u8).save(b, "WEBP", quality=quality, method=6)
        blobs.append(b.getvalue())
        offsets.append(offsets[-1] + len(blobs[-1]))
    with open(os.path.join(out, "inputs.webp.bin"), "wb") as f:
        for b in blobs:
            f.write(b)
    np.save(os.path.join(out, "inputs.offsets.npy"), np.array(offsets, np.int64))
    with open(os.path.join(out, "inputs.json"), "w") as f:
        json.dump({"n": len(x), "size": int(x.shape[1]), "quality": quality, "source": os.path.basename(cache)}, f)
    print(f"{len(x)} images, {offsets[-1] / 2**20:.1f} MiB", flush=True)


def _decode(b):
    return np.asarray(Image.open(io.BytesIO(b)).convert("L"), np.uint8)


def unpack_inputs(src, out):
    meta = json.load(open(os.path.join(src, "inputs.json")))
    off = np.load(os.path.join(src, "inputs.offsets.npy"))
    data = open(os.path.join(src, "inputs.webp.bin"), "rb").read()
    blobs = [data[off[k]:off[k + 1]] for k in range(meta["n"])]
    with Pool(min(16, os.cpu_count() or 1)) as p:
        imgs = p.map(_decode, blobs, chunksize=64)
    x = np.stack(imgs)
    assert x.shape == (meta["n"], meta["size"], meta["size"]), x.shape
    np.save(out, x)
    print(f"{x.shape} uint8 -> {out}", flush=True)


def _jsonable(v):
    try:
        json.dumps(v)
        return True
    except TypeError:
        return False


def pack_ckpt(ckpt, out, max_mb=12):
    import torch
    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    parts, cur, size = [], {}, 0
    for k, t in ck["model"].items():
        a = t.detach().cpu().contiguous().numpy()
        if cur and size + a.nbytes > max_mb * 2**20:
            parts.append(cur)
            cur, size = {}, 0
        cur[k] = a
        size += a.nbytes
    parts.append(cur)
    for i, p in enumerate(parts):
        np.savez(f"{out}.part{i}.npz", **p)
    meta = {k: v for k, v in ck.items() if k != "model" and _jsonable(v)}
    meta["keys"] = list(ck["model"].keys())
    meta["parts"] = len(parts)
    with open(f"{out}.json", "w") as f:
        json.dump(meta, f)


def unpack_ckpt(src, out):
    import torch
    from .common import save_ckpt
    meta = json.load(open(f"{src}.json"))
    arrays = {}
    for i in range(meta["parts"]):
        with np.load(f"{src}.part{i}.npz") as z:
            arrays.update({k: z[k] for k in z.files})
    assert set(arrays) == set(meta["keys"]), "checkpoint parts incomplete"
    model = {k: torch.from_numpy(np.ascontiguousarray(arrays[k])) for k in meta["keys"]}
    rest = {k: v for k, v in meta.items() if k not in ("keys", "parts")}
    save_ckpt(out, model=model, **rest)


def pooled_train(ckpt, cache, out):
    """The train rows' pooled features (plain pass, mirrored pass) for feature_stats --train-features."""
    from .common import device
    from .data import load_labels
    from .feature_stats import pooled_features
    from .ridgenet import load_ridgenet
    from .train_ridgenet import device_cache
    m, _ = load_ridgenet(ckpt)
    dev = device()
    m = m.to(dev)
    split = np.array([r["split"] for r in load_labels()])
    tr = np.flatnonzero(split == "train")
    x = np.load(cache, mmap_mode="r")
    xt = device_cache(x[tr], dev) if dev.type == "cuda" else x[tr]
    for part, name in (("none", "plain"), ("hflip-only", "hflip")):
        np.save(f"{out}-{name}.npy", pooled_features(m, xt, bs=256, tta=part).astype(np.float32))


def main(argv=None):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack-inputs"); p.add_argument("--cache", required=True); p.add_argument("--out", required=True)
    p.add_argument("--quality", type=int, default=90)
    p = sub.add_parser("unpack-inputs"); p.add_argument("--src", required=True); p.add_argument("--out", required=True)
    p = sub.add_parser("pack-ckpt"); p.add_argument("--ckpt", required=True); p.add_argument("--out", required=True)
    p = sub.add_parser("unpack-ckpt"); p.add_argument("--src", required=True); p.add_argument("--out", required=True)
    p = sub.add_parser("pooled-train"); p.add_argument("--ckpt", required=True); p.add_argument("--cache", required=True)
    p.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    if a.cmd == "pooled-train":
        pooled_train(a.ckpt, a.cache, a.out)
    elif a.cmd == "pack-inputs":
        pack_inputs(a.cache, a.out, a.quality)
    elif a.cmd == "unpack-inputs":
        unpack_inputs(a.src, a.out)
    elif a.cmd == "pack-ckpt":
        pack_ckpt(a.ckpt, a.out)
    else:
        unpack_ckpt(a.src, a.out)


if __name__ == "__main__":
    main()
