"""Tiny stand-ins for hand-segmenter and ridgenet with the same ONNX inputs/outputs and cards
(written by the inference tests into a temporary folder; never into models/).

    /usr/bin/python3 make_tiny_models.py OUT_MODELS_DIR
"""
import hashlib
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

VERSION = "0.0.1-test"
torch.manual_seed(3)


class TinySeg(nn.Module):
    """logits = 40 * (3x3 mean of the image - 0.3): bright (bone/soft tissue) is 'hand'."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.fill_(40.0 / 9)
            self.conv.bias.fill_(-40.0 * 0.3)

    def forward(self, x):
        return self.conv(x)


class TinyRidge(nn.Module):
    """avgpool 16 -> 1x1 conv to 8 channels + ReLU (features) -> GAP -> [g, sex] -> dense 16 ReLU -> linear."""

    def __init__(self, c=8, dense=16):
        super().__init__()
        self.c = c
        self.pool = nn.AvgPool2d(16)
        self.conv = nn.Conv2d(1, c, 1)
        self.fc1 = nn.Linear(c + 1, dense)
        self.ridge = nn.Linear(dense, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.linspace(-2, 3, c).view(c, 1, 1, 1))
            self.conv.bias.copy_(torch.linspace(0.2, -0.3, c))

    def forward(self, x, sex):
        a = F.relu(self.conv(self.pool(x)))
        g = a.mean(dim=(2, 3))
        z = self.fc1(torch.cat([g, sex], 1))
        age = self.ridge(F.relu(z)) * 40.0 + 120.0
        gate = (z > 0).to(z.dtype) * (self.ridge.weight * 40.0)
        dg = gate @ self.fc1.weight[:, : self.c]
        grad = dg[:, :, None, None] * torch.ones_like(a) / (a.shape[2] * a.shape[3])
        return age, a, grad


def sha(p):
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


def w(path, arr):
    arr = np.ascontiguousarray(arr, dtype="<f4")
    arr.tofile(path)
    return {"file": os.path.basename(path), "shape": list(arr.shape), "dtype": "float32"}


def main(out):
    rng = np.random.default_rng(5)
    seg_dir = os.path.join(out, "hand-segmenter", VERSION)
    ridge_dir = os.path.join(out, "ridgenet", VERSION)
    for d in (seg_dir, ridge_dir):
        os.makedirs(os.path.join(d, "parity"), exist_ok=True)
    seg = TinySeg().eval()
    torch.onnx.export(seg, torch.zeros(1, 1, 128, 128), os.path.join(seg_dir, "model.onnx"), input_names=["image"],
                      output_names=["logits"], opset_version=13, dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
    x = torch.from_numpy(rng.random((1, 1, 128, 128), dtype=np.float32))
    with torch.no_grad():
        lg = seg(x).numpy()
    seg_card = {
        "name": "hand-segmenter", "version": VERSION, "task": "TEST STAND-IN (threshold), not a model",
        "input": {"name": "image", "shape": ["N", 1, 128, 128]},
        "outputs": [{"name": "logits", "shape": ["N", 1, 128, 128]}],
        "metrics": None,
        "parity": {"dir": "parity", "tolerance": 1e-4, "fixtures": [
            {"input": w(os.path.join(seg_dir, "parity", "r.image.f32"), x.numpy()),
             "logits": w(os.path.join(seg_dir, "parity", "r.logits.f32"), lg)}]},
    }
    ridge = TinyRidge().eval()
    torch.onnx.export(ridge, (torch.zeros(1, 1, 128, 128), torch.full((1, 1), 0.5)), os.path.join(ridge_dir, "model.onnx"),
                      input_names=["image", "sex"], output_names=["bone_age_months", "features", "d_bone_age_d_features"],
                      opset_version=13, dynamic_axes={k: {0: "N"} for k in ["image", "sex", "bone_age_months", "features", "d_bone_age_d_features"]})
    xr = torch.from_numpy(rng.random((1, 1, 128, 128), dtype=np.float32))
    cases = []
    for sv in (1.0, 0.0, 0.5):
        with torch.no_grad():
            age, a, g = ridge(xr, torch.tensor([[sv]]))
        c = {"sex": sv, "bone_age_months": float(age[0, 0])}
        if sv == 0.5:
            c["features"] = w(os.path.join(ridge_dir, "parity", "r.features.f32"), a.numpy())
            c["d_bone_age_d_features_per_channel"] = w(os.path.join(ridge_dir, "parity", "r.grad_channel.f32"), g.numpy()[:, :, 0, 0])
        cases.append(c)
    ridge_card = {
        "name": "ridgenet", "version": VERSION, "task": "TEST STAND-IN, not a model",
        "inputs": [{"name": "image", "shape": ["N", 1, 128, 128]}, {"name": "sex", "shape": ["N", 1]}],
        "outputs": [{"name": "bone_age_months", "shape": ["N", 1]}, {"name": "features", "shape": ["N", 8, 8, 8]},
                    {"name": "d_bone_age_d_features", "shape": ["N", 8, 8, 8]}],
        "metrics": {"split": "val", "sex_given": {"all": {"mae": 99.0}}},
        "parity": {"dir": "parity", "tolerance": 1e-4, "fixtures": [
            {"input": w(os.path.join(ridge_dir, "parity", "r.image.f32"), xr.numpy()), "cases": cases}]},
    }
    for d, card in ((seg_dir, seg_card), (ridge_dir, ridge_card)):
        p = os.path.join(d, "model.onnx")
        card["onnx_sha256"] = sha(p)
        card["onnx_bytes"] = os.path.getsize(p)
        json.dump(card, open(os.path.join(d, "model.json"), "w"), indent=1)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1])
