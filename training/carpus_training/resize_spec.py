"""Plain re-implementation of PIL's BILINEAR resize of mode 'F' images, written from the
description in docs/model-input.md section 2, to prove that description is complete.

    /usr/bin/python3 -m carpus_training.resize_spec    # compares with PIL on random images
"""
from __future__ import annotations

import numpy as np
from PIL import Image


def _coeffs(in_size, out_size):
    scale = in_size / out_size
    fs = max(scale, 1.0)
    support = fs
    ss = 1.0 / fs
    out = []
    for o in range(out_size):
        center = (o + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        k = []
        for i in range(xmin, xmax):
            t = abs((i - center + 0.5) * ss)
            k.append(1.0 - t if t < 1.0 else 0.0)
        s = sum(k)
        if s != 0.0:
            k = [v / s for v in k]
        out.append((xmin, np.array(k, dtype=np.float64)))
    return out


def resize(img, width, height):
    tmp = np.asarray(img, dtype=np.float32)
    h0, w0 = tmp.shape
    if width != w0:
        res = np.zeros((h0, width), np.float32)
        for o, (xmin, k) in enumerate(_coeffs(w0, width)):
            res[:, o] = (tmp[:, xmin:xmin + len(k)].astype(np.float64) @ k).astype(np.float32)
        tmp = res
    if height != h0:
        res = np.zeros((height, tmp.shape[1]), np.float32)
        for o, (ymin, k) in enumerate(_coeffs(h0, height)):
            res[o] = (k @ tmp[ymin:ymin + len(k)].astype(np.float64)).astype(np.float32)
        tmp = res
    return tmp


def main():
    rng = np.random.RandomState(0)
    worst = 0.0
    for h, w, H, W in [(2044, 1514, 128, 128), (2044, 1514, 256, 256), (299, 299, 256, 256),
                       (128, 128, 256, 256), (173, 201, 160, 160), (90, 90, 160, 160)]:
        a = rng.rand(h, w).astype(np.float32)
        ref = np.asarray(Image.fromarray(a, "F").resize((W, H), Image.BILINEAR))
        d = float(np.abs(ref - resize(a, W, H)).max())
        worst = max(worst, d)
        print(f"{w}x{h} -> {W}x{H}: max |diff| = {d:.3g}")
    assert worst < 1e-6, worst
    print("OK")


if __name__ == "__main__":
    main()
