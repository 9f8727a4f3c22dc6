"""Decode all RSNA 299 px images once: segmenter inputs (128 px, per the spec) and
classical masks (targets for the learned segmenter). Cache goes to runs/cache/ (git-ignored)."""
from __future__ import annotations

import os
import time
from multiprocessing import Pool

import numpy as np

from . import classical_seg
from .data import load_labels, load_u8
from .preprocess import SEG_SIZE, resize_f, u8_to_unit

CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runs", "cache")


def _one(path):
    u8 = load_u8(path)
    img01 = u8_to_unit(u8)
    seg_in = resize_f(img01, SEG_SIZE, SEG_SIZE)
    m = classical_seg.segment_tophat(u8)
    m128 = resize_f(m.astype(np.float32), SEG_SIZE, SEG_SIZE) >= 0.5
    return u8, seg_in, m128


def main():
    os.makedirs(CACHE, exist_ok=True)
    rows = load_labels()
    t = time.time()
    with Pool(min(os.cpu_count() or 2, 16)) as p:
        res = p.map(_one, [r["path"] for r in rows], chunksize=64)
    np.save(os.path.join(CACHE, "u8_299.npy"), np.stack([r[0] for r in res]))
    np.save(os.path.join(CACHE, "seg_in128.npy"), np.stack([r[1] for r in res]).astype(np.float32))
    np.save(os.path.join(CACHE, "classical128.npy"), np.stack([r[2] for r in res]))
    np.save(os.path.join(CACHE, "ids.npy"), np.array([r["id"] for r in rows]))
    print(f"cached {len(rows)} images in {time.time() - t:.0f}s")


if __name__ == "__main__":
    main()
