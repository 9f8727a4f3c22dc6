"""Reference implementation of the carpus model input specification.

docs/model-input.md describes these steps in words; the TypeScript runtime
implements them and is tested against this module (parity within 1e-4).
Every step is deliberately simple: PIL bilinear resize of mode 'F' images,
a strict threshold, an 8-connected largest component, a bounding box, a
square zero-padded crop and a multiply.

CLI (used by the parity test):
    /usr/bin/python3 -m carpus_training.preprocess IMAGE.png OUT_DIR [--seg-onnx-logits LOGITS.f32]
run from training/ (or with PYTHONPATH=training).
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
from PIL import Image

SEG_SIZE = 128      # segmenter input: 128 x 128
WORK_SIZE = 256     # working grid for mask and crop: 256 x 256
CROP_MARGIN = 8     # margin around the mask's bounding box, in working-grid pixels
RIDGE_SIZE = 128    # RidgeNet input: 128 x 128
UNKNOWN_SEX = 0.5   # sex input: 1 male, 0 female, 0.5 unknown


def u8_to_unit(img_u8: np.ndarray) -> np.ndarray:
    """8-bit grayscale (bone bright) -> float32 in [0, 1]: value / 255."""
    return (np.asarray(img_u8, dtype=np.float32) / np.float32(255.0)).astype(np.float32)


def resize_f(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """PIL Image.resize(..., BILINEAR) on a mode 'F' (float32) image. Aspect ratio is not kept."""
    im = Image.fromarray(np.ascontiguousarray(img, dtype=np.float32), mode="F")
    return np.asarray(im.resize((width, height), Image.BILINEAR), dtype=np.float32)


def segmenter_input(img01: np.ndarray) -> np.ndarray:
    """[1, 1, 128, 128] float32, no normalisation."""
    return resize_f(img01, SEG_SIZE, SEG_SIZE)[None, None]


def largest_component(b: np.ndarray) -> np.ndarray:
    """Largest 8-connected component of a boolean image.

    Ties: the component whose first pixel in row-major order comes first.
    Empty input -> empty output.
    """
    h, w = b.shape
    labels = np.zeros((h, w), dtype=np.int32)
    best_label, best_size, n = 0, 0, 0
    for y0 in range(h):
        row = b[y0]
        for x0 in range(w):
            if not row[x0] or labels[y0, x0]:
                continue
            n += 1
            labels[y0, x0] = n
            stack = [(y0, x0)]
            size = 0
            while stack:
                y, x = stack.pop()
                size += 1
                for dy in (-1, 0, 1):
                    yy = y + dy
                    if yy < 0 or yy >= h:
                        continue
                    for dx in (-1, 0, 1):
                        xx = x + dx
                        if 0 <= xx < w and b[yy, xx] and not labels[yy, xx]:
                            labels[yy, xx] = n
                            stack.append((yy, xx))
            if size > best_size:
                best_label, best_size = n, size
    if best_label == 0:
        return np.zeros((h, w), dtype=bool)
    return labels == best_label


def mask_from_logits(logits: np.ndarray) -> np.ndarray:
    """Segmenter logits [128, 128] -> binary hand mask on the 256 x 256 working grid (float32 0/1).

    1. B = logits > 0 (strict; same as sigmoid > 0.5)
    2. B = largest 8-connected component of B
    3. if B is empty: the mask is all ones (no segmentation)
    4. M = resize_f(B as float32 0/1, 256, 256); mask = M >= 0.5
       (with an exact 2x bilinear upscale no value equals 0.5, so this is tie-free)
    """
    b = largest_component(np.asarray(logits).reshape(SEG_SIZE, SEG_SIZE) > 0)
    if not b.any():
        return np.ones((WORK_SIZE, WORK_SIZE), dtype=np.float32)
    m = resize_f(b.astype(np.float32), WORK_SIZE, WORK_SIZE)
    return (m >= 0.5).astype(np.float32)


def crop_box(mask256: np.ndarray):
    """Square crop box (top, left, side) around the mask, on the 256 grid.

    r0, r1, c0, c1: first/last row and column with a mask pixel (inclusive)
    h = r1 - r0 + 1; w = c1 - c0 + 1
    side = max(h, w) + 2 * CROP_MARGIN
    top  = r0 - floor((side - h) / 2);  left = c0 - floor((side - w) / 2)
    The box may extend beyond the image; those pixels are 0.
    """
    rows = np.flatnonzero(mask256.any(axis=1))
    cols = np.flatnonzero(mask256.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    h, w = r1 - r0 + 1, c1 - c0 + 1
    side = max(h, w) + 2 * CROP_MARGIN
    return r0 - (side - h) // 2, c0 - (side - w) // 2, side


def ridgenet_input_from_mask(img01: np.ndarray, mask256: np.ndarray, size: int = RIDGE_SIZE) -> np.ndarray:
    """Background-removed, cropped hand: [1, 1, 128, 128] float32, no normalisation."""
    work = resize_f(img01, WORK_SIZE, WORK_SIZE)
    hand = (work * mask256).astype(np.float32)
    top, left, side = crop_box(mask256)
    canvas = np.zeros((side, side), dtype=np.float32)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + side, WORK_SIZE), min(left + side, WORK_SIZE)
    canvas[y0 - top:y1 - top, x0 - left:x1 - left] = hand[y0:y1, x0:x1]
    return resize_f(canvas, size, size)[None, None]


def ridgenet_input_unsegmented(img01: np.ndarray, size: int = RIDGE_SIZE) -> np.ndarray:
    """Ablation only (not shipped): whole radiograph squashed to RIDGE_SIZE x RIDGE_SIZE."""
    return resize_f(img01, size, size)[None, None]


def sex_input(male):
    """[1, 1] float32: 1.0 male, 0.0 female, 0.5 unknown (None)."""
    v = UNKNOWN_SEX if male is None else (1.0 if male else 0.0)
    return np.array([[v]], dtype=np.float32)


def _write(path, arr):
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    arr.tofile(path)
    return {"file": os.path.basename(path), "shape": list(arr.shape), "dtype": "float32", "byteOrder": "little"}


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description="carpus preprocessing reference (parity)")
    ap.add_argument("image", help="8-bit grayscale PNG/JPEG, bone bright")
    ap.add_argument("out_dir")
    ap.add_argument("--seg-logits", help="raw little-endian float32 [128*128] segmenter logits; "
                    "if omitted the PyTorch segmenter checkpoint/ONNX is not run and only "
                    "seg_input is written")
    a = ap.parse_args(argv)
    from .data import load_u8

    os.makedirs(a.out_dir, exist_ok=True)
    img01 = u8_to_unit(load_u8(a.image))
    meta = {"image": os.path.abspath(a.image), "arrays": {}}
    meta["arrays"]["seg_input"] = _write(os.path.join(a.out_dir, "seg_input.f32"), segmenter_input(img01))
    meta["arrays"]["work"] = _write(os.path.join(a.out_dir, "work.f32"), resize_f(img01, WORK_SIZE, WORK_SIZE))
    if a.seg_logits:
        logits = np.fromfile(a.seg_logits, dtype="<f4").reshape(SEG_SIZE, SEG_SIZE)
        mask = mask_from_logits(logits)
        meta["arrays"]["mask256"] = _write(os.path.join(a.out_dir, "mask256.f32"), mask)
        meta["crop"] = dict(zip(("top", "left", "side"), crop_box(mask)))
        meta["arrays"]["ridge_input"] = _write(os.path.join(a.out_dir, "ridge_input.f32"),
                                               ridgenet_input_from_mask(img01, mask))
    with open(os.path.join(a.out_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    sys.exit(main())
