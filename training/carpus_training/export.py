"""Export trained checkpoints to ONNX (dynamic batch) + model.json cards + parity fixtures.

    /usr/bin/python3 -m carpus_training.export segmenter --ckpt runs/seg1/best.pt --version 1.0.0 --metrics runs/seg_eval.json
    /usr/bin/python3 -m carpus_training.export ridgenet  --ckpt runs/ridge1/best.pt --version 1.0.0 --metrics runs/ridge_eval.json

ridgenet --tta hflip (default none, so older exports reproduce): the graph runs the network on the image
and on its mirror image and outputs the mean age, features concat(A, flipW(A')) [N, 2C, h, w] and the
exact gradient of the mean age with respect to them (ridgenet.HFlipTTA). --metrics must then come from
`evaluate --tta hflip`; the parity fixtures' gradients are PyTorch autograd's of the mean age.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os

import numpy as np
import torch

from . import preprocess as P
from .build_ridge_cache import load_segmenter
from .data import DATA, REPO, load_u8
from .ridgenet import TTA_CHOICES, RidgeNet, torch_load, with_tta

MODELS = os.environ.get("CARPUS_MODELS", os.path.join(REPO, "models"))
PARITY_IMAGES = ["1377.png", "1380.png", "1418.png"]  # from ../shared/data/rsna-fullres-sample/images
OPSET = 13

LICENCE = {
    "images": "RSNA Pediatric Bone Age Challenge 2017 training set (Stanford and Colorado Children's Hospitals, "
              "de-identified). RSNA terms: non-commercial research and education use only, attribution, "
              "no attempt at re-identification. Model weights trained on these images inherit these terms.",
    "citation": "Halabi SS, Prevedello LM, Kalpathy-Cramer J, et al. The RSNA Pediatric Bone Age Machine Learning "
                "Challenge. Radiology 2018;290(2):498-503. doi:10.1148/radiol.2018180736",
    "annotations": "Ossification ROI boxes (used only to measure segmentation box recall): Koitka S, Demircioglu A, "
                   "Kim MS, Friedrich CM, Nensa F. Ossification area localization in pediatric hand radiographs "
                   "using deep neural networks for object detection. PLOS ONE 2018;13(11):e0207496. MIT licence.",
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_f32(path, arr):
    arr = np.ascontiguousarray(arr, dtype="<f4")
    arr.tofile(path)
    return {"file": os.path.basename(path), "shape": list(arr.shape), "dtype": "float32", "byteOrder": "little"}


def parity_inputs():
    out = []
    for name in PARITY_IMAGES:
        path = os.path.join(DATA, "rsna-fullres-sample", "images", name)
        out.append((name, path, P.u8_to_unit(load_u8(path))))
    return out


class _RidgeExport(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, image, sex):
        return self.m(image, sex, with_gradcam=True)


def autograd_check(m, x, sex, age, feat, grad):
    """PyTorch autograd of the flip-averaged age vs the closed-form outputs (age, features, gradient).

    Returns (autograd's d age / d features in the graph's layout, Grad-CAM from it, worst errors).
    """
    a1 = m.backbone(x).detach().requires_grad_(True)
    a2 = m.backbone(torch.flip(x, [3])).detach().requires_grad_(True)
    mean_age = 0.5 * (m.head(a1, sex) + m.head(a2, sex))
    g1, g2 = torch.autograd.grad(mean_age.sum(), [a1, a2])
    with torch.no_grad():
        want_feat = torch.cat([a1, torch.flip(a2, [3])], 1)
        want_grad = torch.cat([g1, torch.flip(g2, [3])], 1)
        # Grad-CAM of the mean age from the two passes' own maps (the mirrored one's CAM flipped back)
        cam1 = (g1.mean(dim=(2, 3), keepdim=True) * a1).sum(1)
        cam2 = torch.flip((g2.mean(dim=(2, 3), keepdim=True) * a2).sum(1), [2])
        cam = torch.relu(cam1 + cam2)
        errs = {"bone_age_months": float((mean_age - age).abs().max()),
                "features": float(((want_feat - feat).abs() / (1 + want_feat.abs())).max()),
                "d_bone_age_d_features": float(((want_grad - grad).abs() / (1e-2 + want_grad.abs())).max()),
                "gradient_not_constant_over_positions": float(
                    (want_grad - want_grad[:, :, :1, :1]).abs().max() / want_grad.abs().max())}
    return want_grad, cam, errs


def export_segmenter(a):
    seg = load_segmenter(a.ckpt)
    ck = torch_load(a.ckpt)
    out = os.path.join(MODELS, a.name or "hand-segmenter", a.version)
    os.makedirs(os.path.join(out, "parity"), exist_ok=True)
    onnx_path = os.path.join(out, "model.onnx")
    x = torch.zeros(1, 1, P.SEG_SIZE, P.SEG_SIZE)
    torch.onnx.export(seg, x, onnx_path, input_names=["image"], output_names=["logits"], opset_version=OPSET,
                      dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}}, do_constant_folding=True)
    fixtures = []
    for name, path, img01 in parity_inputs():
        stem = os.path.splitext(name)[0]
        xin = P.segmenter_input(img01)
        with torch.no_grad():
            logits = seg(torch.from_numpy(xin)).numpy()
        mask = P.mask_from_logits(logits[0, 0])
        top, left, side = P.crop_box(mask)
        fixtures.append({
            "image": f"../shared/data/rsna-fullres-sample/images/{name}",
            "input": write_f32(os.path.join(out, "parity", f"{stem}.image.f32"), xin),
            "logits": write_f32(os.path.join(out, "parity", f"{stem}.logits.f32"), logits),
            "mask256_sum": float(mask.sum()),
            "crop": {"top": top, "left": left, "side": side},
        })
    metrics = json.load(open(a.metrics)) if a.metrics else None
    card = {
        "name": "hand-segmenter",
        "version": a.version,
        "task": "binary hand segmentation of a hand radiograph (hand and soft tissue vs background, "
                "burned-in letters and markers)",
        "architecture": {"type": "U-Net", "widths": ck["cfg"]["widths"], "blocks": ("stem conv3x3 stride 2-BN-ReLU (the U-Net runs at 64x64), then "
                                    if ck["cfg"].get("stem_stride", 1) == 2 else "") + "2x(conv3x3-BN-ReLU) per level, "
                         "max-pool down, bilinear x2 up (align_corners=false) + skip concat, 1x1 conv to 1 logit" + (", logits bilinear x2 up to 128x128 (align_corners=false)"
                                                          if ck["cfg"].get("stem_stride", 1) == 2 else ""),
                         "parameters": int(sum(p.numel() for p in seg.parameters())), "onnx_opset": OPSET},
        "input": {
            "name": "image", "shape": ["N", 1, P.SEG_SIZE, P.SEG_SIZE], "dtype": "float32", "layout": "NCHW",
            "channels": 1,
            "values": "grayscale in [0,1], bone bright (8-bit: value/255; DICOM: modality LUT, VOI window, "
                      "MONOCHROME1 inverted)",
            "resize": f"PIL Image.resize((128,128), BILINEAR) of the mode 'F' image; aspect ratio NOT kept",
            "normalisation": "none",
            "spec": "docs/model-input.md",
        },
        "outputs": [{"name": "logits", "shape": ["N", 1, P.SEG_SIZE, P.SEG_SIZE], "dtype": "float32",
                     "units": "logit of P(hand); hand where logit > 0"}],
        "postprocessing": {
            "threshold": "logits > 0 (strict)",
            "largest_component": "8-connected, ties -> first in row-major order; empty -> mask of all ones",
            "upsample": "PIL bilinear 128->256 of the 0/1 float mask, then >= 0.5",
            "crop": {"grid": P.WORK_SIZE, "margin": P.CROP_MARGIN, "square": True, "outside": 0.0},
            "spec": "docs/model-input.md",
        },
        "training": {"targets": "classical masks (training/carpus_training/classical_seg.py: segment_tophat) on all "
                                "11,352 train-split images, 128 px", "config": ck["cfg"], "epoch": ck["epoch"],
                     "command": "see training/README.md"},
        "data": LICENCE,
        "metrics": metrics,
        "parity": {"dir": "parity", "tolerance": 1e-4, "fixtures": fixtures},
        "onnx_sha256": sha256(onnx_path),
        "onnx_bytes": os.path.getsize(onnx_path),
    }
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(card, f, indent=2)
    print(onnx_path, card["onnx_sha256"], card["onnx_bytes"])


def export_ridgenet(a):
    ck = torch_load(a.ckpt)
    cfg = ck["cfg"]
    m = RidgeNet(cfg["backbone"], cfg["dense"], cfg["dropout"])
    m.load_state_dict(ck["model"])
    m.eval()
    seg = load_segmenter(a.seg_ckpt)
    out = os.path.join(MODELS, a.name or "ridgenet", a.version)
    size = int(cfg["size"])
    os.makedirs(os.path.join(out, "parity"), exist_ok=True)
    onnx_path = os.path.join(out, "model.onnx")
    net = with_tta(m, a.tta)
    wrap = _RidgeExport(net).eval()
    x = torch.zeros(1, 1, size, size)
    s = torch.full((1, 1), 0.5)
    torch.onnx.export(wrap, (x, s), onnx_path, input_names=["image", "sex"],
                      output_names=["bone_age_months", "features", "d_bone_age_d_features"],
                      opset_version=OPSET, do_constant_folding=True,
                      dynamic_axes={"image": {0: "N"}, "sex": {0: "N"}, "bone_age_months": {0: "N"},
                                    "features": {0: "N"}, "d_bone_age_d_features": {0: "N"}})
    with torch.no_grad():
        _, feat, _ = wrap(x, s)
    fh, fw = int(feat.shape[2]), int(feat.shape[3])
    fixtures = []
    worst = {}
    for name, path, img01 in parity_inputs():
        stem = os.path.splitext(name)[0]
        with torch.no_grad():
            logits = seg(torch.from_numpy(P.segmenter_input(img01))).numpy()[0, 0]
        xin = P.ridgenet_input_from_mask(img01, P.mask_from_logits(logits), size)
        entry = {"image": f"../shared/data/rsna-fullres-sample/images/{name}",
                 "input": write_f32(os.path.join(out, "parity", f"{stem}.image.f32"), xin), "cases": []}
        for sex_name, sv in (("male", 1.0), ("female", 0.0), ("unknown", 0.5)):
            with torch.no_grad():
                age, feat, grad = wrap(torch.from_numpy(xin), torch.tensor([[sv]]))
            case = {"sex": sv, "bone_age_months": float(age[0, 0])}
            if a.tta == "hflip":
                # the fixtures' gradients and Grad-CAM are autograd's, not the graph's closed form
                grad, cam, errs = autograd_check(m, torch.from_numpy(xin), torch.tensor([[sv]]), age, feat, grad)
                for k, v in errs.items():
                    worst[k] = max(worst.get(k, 0.0), v)
            if sex_name == "unknown":
                case["features"] = write_f32(os.path.join(out, "parity", f"{stem}.features.f32"), feat.numpy())
                case["d_bone_age_d_features_per_channel"] = write_f32(
                    os.path.join(out, "parity", f"{stem}.grad_channel.f32"), grad.numpy()[:, :, 0, 0])
                if a.tta == "hflip":
                    case["gradcam"] = write_f32(os.path.join(out, "parity", f"{stem}.gradcam.f32"), cam.numpy())
            entry["cases"].append(case)
        fixtures.append(entry)
    if a.tta == "hflip":
        print("closed form vs autograd of the mean age (worst over the parity cases):", worst)
        # months: 1e-3 as the runtime tests (float32 at 200 months is 1.5e-5); relative 1e-4 for the tensors
        if worst["bone_age_months"] > 1e-3 or max(v for k, v in worst.items() if k != "bone_age_months") > 1e-4:
            raise SystemExit(f"the graph's Grad-CAM tensors are not the exact gradients of the mean age: {worst}")
    metrics = json.load(open(a.metrics)) if a.metrics else None
    if metrics is not None and metrics.get("test_time_augmentation", "none") != a.tta:
        raise SystemExit(f"{a.metrics} was evaluated with test-time augmentation "
                         f"{metrics.get('test_time_augmentation', 'none')}, the export is --tta {a.tta}: "
                         "run evaluate with the same --tta")
    c_out = net.channels
    flip = a.tta == "hflip"
    card = {
        "name": a.name or "ridgenet",
        "version": a.version,
        "task": "bone age (months) from a left-hand radiograph, with sex as an input",
        "architecture": {
            "type": "RidgeNet",
            "backbone": cfg["backbone"] + {
                "plaincnn": " (8 x [conv3x3-BN-ReLU], channels 24-32-32-64-64-128-128-128, strides 2-2-1-2-1-2-1-1: "
                            "output stride 16, trained from scratch)",
                "plaincnn10": " (10 x [conv3x3-BN-ReLU], channels 24-32-48-64-96-128-128-192-256-256, strides "
                              "2-2-1-2-1-2-1-1-2-1: output stride 32, trained from scratch)",
                "mobilenet_v3_small_os16": " (torchvision MobileNetV3-Small features, dilated last stage: output "
                                           "stride 16, 1-channel stem, trained from scratch)",
                "vgg19": " (torchvision VGG-19 conv stack without the last max-pool, 1-channel stem)",
                "vgg19_bn_half": " (VGG-19's 16 conv3x3 layers in 5 stages of 2-2-4-4-4 at half VGG-19's widths, "
                                 "channels 32-64-128-256-256, each conv followed by BN and ReLU, max-pool 2x2 "
                                 "between stages, no last max-pool: output stride 16, trained from scratch)",
            }.get(cfg["backbone"], ""),
            "head": f"GAP -> concat[features({m.channels}), sex] -> dense({cfg['dense']}, ReLU) -> "
                    f"dropout({cfg['dropout']}) -> ridge linear(1) with L2 lambda={cfg['ridge_lambda']} -> "
                    f"* {float(m.age_std):.4f} + {float(m.age_mean):.4f} (months)"
                    + ("; run twice, on the image and on its mirror image (flipped along W), as one batch of "
                       "2N; bone_age_months = mean of the two" if flip else ""),
            "parameters": int(sum(p.numel() for p in m.parameters())),
            "onnx_opset": OPSET,
        },
        **({"test_time_augmentation": {
            "type": "hflip",
            "passes": 2,
            "description": "the network runs on the image and on the image flipped along W (left-right mirror); "
                           "bone_age_months is the mean of the two ages. features = concat(A, flipW(A')) "
                           f"along channels ({m.channels} + {m.channels}; A' = the mirrored pass's maps, flipped "
                           "back to the input's orientation) and d_bone_age_d_features the exact gradient of "
                           "the mean age with respect to them (0.5 x each pass's gradient, the mirrored one "
                           "flipped back likewise), so the Grad-CAM recipe over all channels is the Grad-CAM "
                           "of the mean age; flipW(A') lines up with A to within the backbone's stride "
                           "(stride-2 convolutions sample the two orientations one pixel apart)",
            "metrics": "computed through the same averaging (training/carpus_training/evaluate.py --tta hflip)",
        }} if flip else {}),
        "inputs": [
            {"name": "image", "shape": ["N", 1, size, size], "dtype": "float32", "layout": "NCHW",
             "channels": 1, "values": "background-removed, square-cropped hand in [0,1], bone bright, background 0",
             "preprocessing": "docs/model-input.md (segmenter hand-segmenter " + a.seg_version + ": logits>0, "
                              "largest 8-connected component, PIL bilinear 128->256 and >=0.5, multiply the 256x256 "
                              f"image, square box around the mask + {P.CROP_MARGIN} px margin, zero outside, "
                              f"PIL bilinear to {size}x{size}; aspect of the source NOT kept "
                              "(squashed to square first)",
             "normalisation": "none"},
            {"name": "sex", "shape": ["N", 1], "dtype": "float32",
             "values": "1.0 male, 0.0 female, 0.5 unknown (trained with 10% of samples set to 0.5)"},
        ],
        "outputs": [
            {"name": "bone_age_months", "shape": ["N", 1], "dtype": "float32", "units": "months"},
            {"name": "features", "shape": ["N", c_out, fh, fw], "dtype": "float32",
             "units": "last convolutional feature maps A (after the backbone's final activation), "
                      f"stride {size // fh} w.r.t. the input"
                      + (f"; channels 0-{m.channels - 1}: the image's pass, {m.channels}-{c_out - 1}: the "
                         "mirrored pass's maps flipped back along W" if flip else "")},
            {"name": "d_bone_age_d_features", "shape": ["N", c_out, fh, fw], "dtype": "float32",
             "units": "months per unit of A: exact gradient d bone_age_months / d A (dropout off, ReLU'(0)=0); "
                      "constant over positions because the head starts with global average pooling"
                      + ("; of the mean age, so each pass's gradient is halved" if flip else "")},
        ],
        "gradcam": {
            "feature_tensor": "features", "gradient_tensor": "d_bone_age_d_features",
            "recipe": "alpha_k = mean_{i,j} d_bone_age_d_features[k,i,j]; cam[i,j] = max(0, sum_k alpha_k * "
                      "features[k,i,j]); upsample cam to the RidgeNet input size with PIL-style bilinear and map back "
                      "through the crop box to the image",
        },
        "training": {"config": cfg, "epoch": int(ck["epoch"]), "segmenter": "hand-segmenter " + a.seg_version,
                     "data": "rsna-train-299, split=train (11,352 images)", "command": "see training/README.md",
                     **({"initialised_from": a.initialised_from} if a.initialised_from else {}),
                     **({"note": a.training_note} if a.training_note else {}),
                     **({"ridge_refit": {"method": "closed-form ridge on the train split's dense activations "
                                                   "(eval mode), lambda chosen by val MAE",
                                         "grid": ck["refit"]}} if ck.get("refit") else {})},
        "data": LICENCE,
        "metrics": metrics,
        "parity": {"dir": "parity", "tolerance": 1e-4, "fixtures": fixtures,
                   **({"autograd": "fixtures' d_bone_age_d_features_per_channel and gradcam (ReLU of the two "
                                   "passes' Grad-CAM sums, the mirrored one flipped back) are from PyTorch "
                                   "autograd of the mean age; worst difference from the closed form on these cases",
                       "autograd_vs_closed_form": worst} if flip else {})},
        "onnx_sha256": sha256(onnx_path),
        "onnx_bytes": os.path.getsize(onnx_path),
    }
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(card, f, indent=2)
    print(onnx_path, card["onnx_sha256"], card["onnx_bytes"])


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("which", choices=["segmenter", "ridgenet"])
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--seg-ckpt", help="segmenter checkpoint (ridgenet fixtures)")
    ap.add_argument("--seg-version", default="1.0.0")
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--name", help="model name (default: hand-segmenter / ridgenet)")
    ap.add_argument("--metrics")
    ap.add_argument("--initialised-from", help="text for the card: the run whose weights started this one (--init)")
    ap.add_argument("--training-note", help="text for the card: how and where the training ran")
    ap.add_argument("--tta", choices=TTA_CHOICES, default="none",
                    help="ridgenet: test-time augmentation inside the graph (hflip: mean of the image and its "
                         "mirror image; the card's metrics must come from evaluate --tta hflip)")
    a = ap.parse_args(argv)
    torch.set_num_threads(min(2, len(os.sched_getaffinity(0))))  # 2 threads on one taskset core spin against each other
    (export_segmenter if a.which == "segmenter" else export_ridgenet)(a)


if __name__ == "__main__":
    main()
