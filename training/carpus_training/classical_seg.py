"""Classical hand segmentation of 8-bit radiographs (bone bright).

Steps (on the 299 x 299 training images):
 1. contrast normalisation: stretch the 1st..99.5th percentile to 0..255
 2. Gaussian blur (5x5), Otsu threshold, lowered by a factor (soft tissue is dim)
 3. morphological opening (breaks thin bridges to burned-in letters/markers)
 4. largest connected component (letters, markers and collimator specks are smaller)
 5. fill holes, closing, dilation (soft tissue margin around bones)
A second pass handles bright backgrounds: if the component touches most of the
image border the threshold is raised from the border level.
"""
from __future__ import annotations

import cv2
import numpy as np


def _largest_cc(b: np.ndarray) -> np.ndarray:
    n, lab, stats, _ = cv2.connectedComponentsWithStats(b.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(b, dtype=bool)
    i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return lab == i


def _fill_holes(b: np.ndarray) -> np.ndarray:
    h, w = b.shape
    inv = np.pad(~b, 1, constant_values=True).astype(np.uint8)
    ff = inv.copy()
    mask = np.zeros((h + 4, w + 4), np.uint8)
    cv2.floodFill(ff, mask, (0, 0), 2)
    holes = (ff == 1)[1:-1, 1:-1]
    return b | holes


def _ellipse(r):
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _ring(r: np.ndarray, width=3) -> np.ndarray:
    inner = cv2.erode(np.pad(r, 1).astype(np.uint8), _ellipse(width))[1:-1, 1:-1].astype(bool)
    return r & ~inner


def _threshold_in(blur, region, thr_factor, open_r):
    vals = blur[region]
    ring = blur[_ring(region)]
    bg = float(np.median(ring)) if ring.size else float(np.percentile(vals, 5))
    otsu, _ = cv2.threshold(vals.reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    t = bg + thr_factor * (otsu - bg) if otsu > bg else otsu
    b = (blur > t) & region
    b = cv2.morphologyEx(b.astype(np.uint8), cv2.MORPH_OPEN, _ellipse(open_r)).astype(bool)
    return _largest_cc(b)


def segment(img_u8: np.ndarray, thr_factor=0.4, open_r=2, close_r=4, dilate_r=4, max_iter=3) -> np.ndarray:
    """Return a boolean hand mask with the image's shape.

    Works inside a region R (first the whole image). If the component found is
    a filled rectangle (a bright detector plate / collimated field) the search
    repeats inside it; if it is a frame around the image (bright surround) the
    search repeats inside the hole it leaves.
    """
    img = img_u8.astype(np.float32)
    lo, hi = np.percentile(img, [1.0, 99.5])
    norm = np.clip((img - lo) * (255.0 / max(hi - lo, 1.0)), 0, 255).astype(np.uint8)
    blur = cv2.GaussianBlur(norm, (5, 5), 0)
    region = np.ones(img.shape, dtype=bool)
    b = None
    for _ in range(max_iter):
        c = _threshold_in(blur, region, thr_factor, open_r)
        if not c.any():
            break
        b = c
        ring = _ring(region)
        touch = (c & ring).sum() / max(ring.sum(), 1)
        ys, xs = np.nonzero(c)
        bbox_area = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        fill = c.sum() / bbox_area
        if touch > 0.5:
            # frame: continue inside the largest hole of the region not covered by c
            inner = _largest_cc(region & ~c)
            inner = cv2.erode(inner.astype(np.uint8), _ellipse(2)).astype(bool)
            if inner.sum() < 0.05 * region.sum():
                break
            region = inner
            b = None
            continue
        if fill > 0.85 and c.sum() > 0.25 * region.sum():
            # plate / collimated rectangle: search inside it
            region = cv2.erode(_fill_holes(c).astype(np.uint8), _ellipse(3)).astype(bool)
            continue
        break
    if b is None or not b.any():
        return np.ones_like(img_u8, dtype=bool)
    b = _fill_holes(b)
    b = cv2.morphologyEx(b.astype(np.uint8), cv2.MORPH_CLOSE, _ellipse(close_r)).astype(bool)
    b = cv2.dilate(b.astype(np.uint8), _ellipse(dilate_r)).astype(bool)
    return _fill_holes(b)


def box_recall(mask: np.ndarray, boxes_norm):
    """Fraction of total box area inside the mask (boxes in normalised coordinates)."""
    h, w = mask.shape
    inside = total = 0.0
    for x0, y0, x1, y1, _ in boxes_norm:
        c0, c1 = int(np.floor(x0 * w)), int(np.ceil(x1 * w))
        r0, r1 = int(np.floor(y0 * h)), int(np.ceil(y1 * h))
        c0, r0 = max(c0, 0), max(r0, 0)
        c1, r1 = min(c1, w), min(r1, h)
        if c1 <= c0 or r1 <= r0:
            continue
        sub = mask[r0:r1, c0:c1]
        inside += float(sub.sum())
        total += float(sub.size)
    return inside / total if total else 1.0


def segment_tophat(img_u8: np.ndarray, r_bg=60, thr_factor=0.2, open_r=2, close_r=5, dilate_r=10) -> np.ndarray:
    """White top-hat variant: the background (uniform plate, surround, gradients) is
    estimated by a grey opening with a disk wider than a finger; the hand stands out
    from it; the palm's centre (wider than the disk) is recovered by hole filling."""
    img = img_u8.astype(np.float32)
    lo, hi = np.percentile(img, [1.0, 99.5])
    norm = np.clip((img - lo) * (255.0 / max(hi - lo, 1.0)), 0, 255).astype(np.uint8)
    blur = cv2.GaussianBlur(norm, (5, 5), 0)
    # grey opening at half resolution (speed), background upsampled back
    h, w = blur.shape
    small = cv2.resize(blur, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    r2 = max(r_bg // 2, 1)
    pad = r2 + 2
    big = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    bg = cv2.morphologyEx(big, cv2.MORPH_OPEN, _ellipse(r2))[pad:-pad, pad:-pad]
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)
    th = cv2.subtract(blur, bg)
    otsu, _ = cv2.threshold(th, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    b = th > max(thr_factor * otsu, 4)
    b = cv2.morphologyEx(b.astype(np.uint8), cv2.MORPH_OPEN, _ellipse(open_r)).astype(bool)
    b = cv2.morphologyEx(b.astype(np.uint8), cv2.MORPH_CLOSE, _ellipse(close_r)).astype(bool)
    b = _largest_cc(b)
    if not b.any():
        return np.ones_like(img_u8, dtype=bool)
    b = _fill_holes(b)
    b = cv2.dilate(b.astype(np.uint8), _ellipse(dilate_r)).astype(bool)
    return _fill_holes(b)
