"""Evaluate classical and learned segmenters.

    /usr/bin/python3 -m carpus_training.eval_seg --seg-ckpt runs/seg1/best.pt --out runs/seg_eval.json

- box recall (fraction of ossification-box area inside the mask) on the annotated images,
  classical mask (299 grid) and learned mask (256 grid, exactly the runtime mask of docs/model-input.md)
- mask IoU on the val split: learned (runtime mask, 256 grid) vs classical (its 128 px target, upsampled to 256)
- IoU against the one public reference hand mask (RSNA 1377)
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch

from . import classical_seg
from . import preprocess as P
from .build_cache import CACHE
from .build_ridge_cache import load_segmenter, mask_fast
from .data import DATA, RSNA299, load_boxes, load_labels, load_u8
from .eval_classical import montage


def summ(v):
    v = np.asarray(v)
    return {"n": int(len(v)), "mean": float(v.mean()), "median": float(np.median(v)),
            "frac_ge_0.99": float((v >= 0.99).mean()), "frac_ge_0.95": float((v >= 0.95).mean()),
            "min": float(v.min())}


def iou(a, b):
    u = (a | b).sum()
    return float((a & b).sum() / u) if u else 1.0


def to256(mask_bool):
    return P.resize_f(mask_bool.astype(np.float32), P.WORK_SIZE, P.WORK_SIZE) >= 0.5


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--seg-ckpt", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    seg = load_segmenter(a.seg_ckpt)

    def learned(img01):
        with torch.no_grad():
            lg = seg(torch.from_numpy(P.segmenter_input(img01))).numpy()[0, 0]
        return mask_fast(lg) > 0

    res = {}
    boxes = load_boxes()
    rids = sorted(boxes)
    u8s = [load_u8(os.path.join(RSNA299, "images", f"{rid}.jpg")) for rid in rids]
    xin = np.concatenate([P.segmenter_input(P.u8_to_unit(u)) for u in u8s])
    with torch.no_grad():
        lg_ann = seg(torch.from_numpy(xin))[:, 0].numpy()
    rl, items = [], []
    for j, rid in enumerate(rids):
        ml = mask_fast(lg_ann[j]) > 0
        rl.append(classical_seg.box_recall(ml, boxes[rid]))
        items.append((rl[-1], rid, u8s[j], ml, boxes[rid]))
    cl_json = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runs", "classical", "box_recall.json")
    if os.path.exists(cl_json):  # written by eval_classical (same images, same classical segmenter)
        res["box_recall_classical"] = json.load(open(cl_json))["summary"]
    res["box_recall_learned"] = summ(rl)
    items.sort(key=lambda t: t[0])
    outdir = os.path.dirname(os.path.abspath(a.out))
    montage([(np.asarray(P.resize_f(i / 255.0, 256, 256) * 255, np.uint8), m, b, f"{rid} {r:.3f}")
             for r, rid, i, m, b in items[:32]], os.path.join(outdir, "learned_worst32.png"))

    rows = load_labels()
    split = np.array([r["split"] for r in rows])
    va = np.flatnonzero(split == "val")
    u8all = np.load(os.path.join(CACHE, "u8_299.npy"), mmap_mode="r")
    cl128 = np.load(os.path.join(CACHE, "classical128.npy"), mmap_mode="r")
    ious, ious128, areas = [], [], []
    xall = np.load(os.path.join(CACHE, "seg_in128.npy"), mmap_mode="r")
    with torch.no_grad():
        lg = seg(torch.from_numpy(np.asarray(xall[va]))[:, None])[:, 0].numpy()
    show = []
    for j, k in enumerate(va):
        ml = mask_fast(lg[j]) > 0
        mc = to256(np.asarray(cl128[k]))  # the cached 128 px classical target, upsampled like the runtime mask
        ious.append(iou(ml, mc))
        ious128.append(iou(lg[j] > 0, np.asarray(cl128[k])))
        areas.append(ml.mean())
        if j < 32:
            show.append((np.asarray(P.resize_f(u8all[k] / 255.0, 256, 256) * 255, np.uint8), ml, None,
                         f"{rows[k]['id']} {ious[-1]:.2f}"))
    montage(show, os.path.join(outdir, "learned_val32.png"))
    res["val_iou_learned_vs_classical_256"] = summ(ious)
    res["val_iou_learned_vs_classical_128_raw"] = float(np.mean(ious128))
    res["val_mask_area_fraction"] = float(np.mean(areas))

    ref = load_u8(os.path.join(DATA, "rsna-annotations", "hand-mask-example", "1377_seg.png")) > 0
    ref256 = to256(ref)
    full = P.u8_to_unit(load_u8(os.path.join(DATA, "rsna-fullres-sample", "images", "1377.png")))
    mc = to256(classical_seg.segment_tophat(load_u8(os.path.join(RSNA299, "images", "1377.jpg"))))
    res["reference_1377_iou"] = {"learned_fullres_png": iou(learned(full), ref256), "classical_299": iou(mc, ref256)}
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
