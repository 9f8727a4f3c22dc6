"""Box recall of the classical segmenter on the annotated images + montages."""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
from PIL import Image, ImageDraw

from . import classical_seg
from .data import RSNA299, load_boxes, load_labels, load_u8


def montage(items, out, cols=8, size=150):
    rows = (len(items) + cols - 1) // cols
    canvas = Image.new("RGB", (cols * size, rows * size))
    for k, (img, mask, boxes, caption) in enumerate(items):
        rgb = np.stack([img] * 3, -1).astype(np.float32)
        rgb[~mask] = rgb[~mask] * 0.35 + np.array([120, 0, 0]) * 0.65
        im = Image.fromarray(rgb.astype(np.uint8)).resize((size, size))
        d = ImageDraw.Draw(im)
        for x0, y0, x1, y1, _ in boxes or []:
            d.rectangle([x0 * size, y0 * size, x1 * size, y1 * size], outline=(0, 255, 0))
        d.text((2, 2), caption, fill=(255, 255, 0))
        canvas.paste(im, ((k % cols) * size, (k // cols) * size))
    canvas.save(out)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "runs", "classical"))
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    boxes = load_boxes()
    rec = {}
    items = []
    for rid, bx in sorted(boxes.items()):
        img = load_u8(os.path.join(RSNA299, "images", f"{rid}.jpg"))
        m = classical_seg.segment_tophat(img)
        r = classical_seg.box_recall(m, bx)
        rec[rid] = r
        items.append((r, rid, img, m, bx))
    v = np.array(list(rec.values()))
    summ = {"n_images": len(v), "mean_box_recall": float(v.mean()), "median": float(np.median(v)),
            "frac_ge_0.99": float((v >= 0.99).mean()), "frac_ge_0.95": float((v >= 0.95).mean()),
            "min": float(v.min())}
    print(json.dumps(summ))
    items.sort(key=lambda t: t[0])
    montage([(i, m, b, f"{rid} {r:.3f}") for r, rid, i, m, b in items[:48]], os.path.join(a.out, "worst48.png"))
    rs = np.random.RandomState(0)
    pick = rs.choice(len(items), 48, replace=False)
    montage([(items[k][2], items[k][3], items[k][4], f"{items[k][1]} {items[k][0]:.3f}") for k in pick],
            os.path.join(a.out, "random48.png"))
    with open(os.path.join(a.out, "box_recall.json"), "w") as f:
        json.dump({"summary": summ, "per_image": {str(k): v for k, v in rec.items()}}, f)


if __name__ == "__main__":
    main()
