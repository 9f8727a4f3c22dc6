"""Dataset access: RSNA 299 px images, labels, fixed split, ossification boxes."""
from __future__ import annotations

import csv
import glob
import os
import xml.etree.ElementTree as ET

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DATA = os.environ.get("CARPUS_DATA", os.path.join(REPO, "..", "shared", "data"))
RSNA299 = os.path.join(DATA, "rsna-train-299")
ANN = os.path.join(DATA, "rsna-annotations", "ossification-roi-voc")


def load_labels():
    """Return list of dicts: id (int), male (bool), age (float months), split, path."""
    rows = []
    with open(os.path.join(RSNA299, "labels.csv")) as f:
        for r in csv.DictReader(f):
            rows.append({
                "id": int(r["id"]),
                "male": r["male"].strip().lower() == "true",
                "age": float(r["boneage_months"]),
                "split": r["split"],
                "path": os.path.join(RSNA299, r["file"]),
            })
    return rows


def load_u8(path):
    """Decode an image file to a 2-D uint8 array (grayscale)."""
    im = Image.open(path)
    if im.mode != "L":
        im = im.convert("L")
    return np.asarray(im, dtype=np.uint8)


def load_boxes():
    """Ossification boxes per RSNA id, union over all annotation files.

    Returns {id: [(xmin, ymin, xmax, ymax, cls), ...]} in *normalised* coordinates
    (0..1 of the annotated image's width/height), so they can be scaled to any
    squashed size.
    """
    out = {}
    for p in sorted(glob.glob(os.path.join(ANN, "**", "*.xml"), recursive=True)):
        root = ET.parse(p).getroot()
        rid = int(os.path.splitext(os.path.basename(p))[0])
        w = float(root.find("size/width").text)
        h = float(root.find("size/height").text)
        for o in root.findall("object"):
            bb = o.find("bndbox")
            x0, y0, x1, y1 = (float(bb.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
            out.setdefault(rid, []).append((x0 / w, y0 / h, x1 / w, y1 / h, o.find("name").text))
    return out


def label_arrays(age_dtype=np.float32):
    """(rows, split, age, male) of labels.csv as numpy arrays in labels order."""
    rows = load_labels()
    return (rows, np.array([r["split"] for r in rows]), np.array([r["age"] for r in rows], dtype=age_dtype),
            np.array([r["male"] for r in rows]))
