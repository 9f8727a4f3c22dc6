"""RidgeNet inputs for all RSNA images, computed exactly as docs/model-input.md says, with the
trained segmenter (PyTorch checkpoint = the exported ONNX graph).

    /usr/bin/python3 -m carpus_training.build_ridge_cache --seg-ckpt runs/seg1/best.pt
writes runs/cache/ridge_in128_seg.npy, ridge_in128_noseg.npy, seg_logits128.npy, crop_boxes.npy.
The largest-component step uses OpenCV here for speed; it is checked against the reference
(pure-Python) implementation on a sample.
"""
from __future__ import annotations

import argparse
import os
import time

import cv2
import numpy as np
import torch

from . import preprocess as P
from .build_cache import CACHE
from .segnet import SmallUNet


def largest_component_cv(b):
    n, lab, stats, _ = cv2.connectedComponentsWithStats(b.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(b, dtype=bool)
    return lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def mask_fast(logits):
    b = largest_component_cv(logits > 0)
    if not b.any():
        return np.ones((P.WORK_SIZE, P.WORK_SIZE), dtype=np.float32)
    return (P.resize_f(b.astype(np.float32), P.WORK_SIZE, P.WORK_SIZE) >= 0.5).astype(np.float32)


def load_segmenter(path):
    ck = torch.load(path, map_location="cpu", weights_only=False)
    m = SmallUNet(ck["cfg"]["widths"], ck["cfg"].get("stem_stride", 1))
    m.load_state_dict(ck["model"])
    return m.eval()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--seg-ckpt", help="learned segmenter; without it the classical masks (128 px, the "
                    "segmenter's training targets) stand in for its thresholded logits")
    ap.add_argument("--tag", default="seg")
    ap.add_argument("--only-split", help="only rows of this split (others stay zero), e.g. val")
    ap.add_argument("--size", type=int, default=P.RIDGE_SIZE, help="RidgeNet input size (128 shipped; 299 for VGG-19)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    u8 = np.load(os.path.join(CACHE, "u8_299.npy"))
    t = time.time()
    from .data import load_labels
    split = np.array([r["split"] for r in load_labels()])
    if a.seg_ckpt:
        seg = load_segmenter(a.seg_ckpt)
        xin = np.load(os.path.join(CACHE, "seg_in128.npy"), mmap_mode="r")
        rows_sel = np.flatnonzero(split == a.only_split) if a.only_split else np.arange(len(u8))
        logits = np.full((len(u8), P.SEG_SIZE, P.SEG_SIZE), -1.0, np.float32)
        with torch.no_grad():
            for i in range(0, len(rows_sel), 128):
                r = rows_sel[i:i + 128]
                logits[r] = seg(torch.from_numpy(np.asarray(xin[r]))[:, None])[:, 0].numpy()
    else:
        logits = np.where(np.load(os.path.join(CACHE, "classical128.npy")), 1.0, -1.0).astype(np.float32)
    print(f"segmenter {time.time() - t:.0f}s", flush=True)
    rs = np.random.RandomState(0)
    for k in rs.choice(len(logits), 5, replace=False):
        assert np.array_equal(P.largest_component(logits[k] > 0), largest_component_cv(logits[k] > 0)), k
    n = len(u8)
    seg_out = np.zeros((n, a.size, a.size), np.float32)
    noseg = np.zeros((n, a.size, a.size), np.float32)
    boxes = np.zeros((n, 3), np.int32)
    area = np.zeros(n, np.float32)
    for k in range(n):
        if a.only_split and split[k] != a.only_split:
            continue
        img01 = P.u8_to_unit(u8[k])
        m = mask_fast(logits[k])
        seg_out[k] = P.ridgenet_input_from_mask(img01, m, a.size)[0, 0]
        noseg[k] = P.ridgenet_input_unsegmented(img01, a.size)[0, 0]
        boxes[k] = P.crop_box(m)
        area[k] = m.mean()
    np.save(os.path.join(CACHE, f"ridge_in{a.size}_{a.tag}.npy"), seg_out)
    if not a.only_split:
        np.save(os.path.join(CACHE, f"ridge_in{a.size}_noseg.npy"), noseg)
    np.save(os.path.join(CACHE, f"crop_boxes_{a.tag}.npy"), boxes)
    np.save(os.path.join(CACHE, f"mask_area_{a.tag}.npy"), area)
    print(f"done {n} in {time.time() - t:.0f}s; mean mask area {area.mean():.3f}", flush=True)


if __name__ == "__main__":
    main()
