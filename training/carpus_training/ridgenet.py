"""RidgeNet: conv backbone -> global average pooling -> [features, sex] -> dense(1024, ReLU)
-> dropout -> ridge output (linear; its weights carry an L2 penalty lambda).

The network predicts a standardised age z; age_months = z * age_std + age_mean (inside the graph).
For export, forward(x, sex, with_gradcam=True) also returns the last convolutional feature maps A
and d(age_months)/dA computed in closed form (exact, ReLU'(0) = 0), so the runtime needs no autograd.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def make_backbone(name: str):
    """Return (module, out_channels). Input: 1 channel."""
    if name == "plaincnn":
        # 3x3 conv-BN-ReLU stack, output stride 16: cheap on CPU (dense convolutions train ~8x faster
        # per batch than MobileNetV3-Small's depthwise/SE blocks in PyTorch 1.13 on one core)
        layers, cin = [], 1
        for cout, stride in ((24, 2), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (128, 1)):
            layers += [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        return nn.Sequential(*layers), cin
    if name == "plaincnn10":
        # 1.1.0: the same dense 3x3 stack, two layers deeper and wider (up to 256 maps), output stride 32,
        # for 192 px inputs: ~3.7x the multiply-adds of plaincnn at 128 px, still trainable on one core
        layers, cin = [], 1
        for cout, stride in ((24, 2), (32, 2), (48, 1), (64, 2), (96, 1), (128, 2), (128, 1), (192, 1), (256, 2), (256, 1)):
            layers += [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        return nn.Sequential(*layers), cin
    if name == "mobilenet_v3_small_os16":
        m = torchvision.models.mobilenet_v3_small(weights=None, dilated=True)
        feats = m.features
        old = feats[0][0]
        feats[0][0] = nn.Conv2d(1, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
        return feats, 576
    if name == "mobilenet_v3_small":
        m = torchvision.models.mobilenet_v3_small(weights=None)
        feats = m.features
        old = feats[0][0]
        feats[0][0] = nn.Conv2d(1, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
        return feats, 576
    if name == "vgg19":
        m = torchvision.models.vgg19(weights=None)
        feats = m.features
        feats[0] = nn.Conv2d(1, 64, 3, padding=1)
        # drop the last max-pool so the feature maps stay at stride 16 (19x19 at 299 px)
        feats = nn.Sequential(*list(feats.children())[:-1])
        return feats, 512
    if name == "vgg19_bn_half":
        # VGG-19's 16 3x3 convolutions in its 5 stages, at half its widths (32-64-128-256-256) with batch
        # norm: full widths are 20M parameters (80 MB of float32, over the 30 MB a shipped model may weigh)
        # and, with no pretrained weights to start from, batch norm is what lets the stack train from
        # scratch in minutes. The last max-pool is dropped (stride 16: 18x18 maps at 299 px).
        layers, cin = [], 1
        for stage, (cout, n) in enumerate(((32, 2), (64, 2), (128, 4), (256, 4), (256, 4))):
            if stage:
                layers.append(nn.MaxPool2d(2, 2))
            for _ in range(n):
                conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
                nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
                layers += [conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
                cin = cout
        return nn.Sequential(*layers), cin
    raise ValueError(name)


class RidgeNet(nn.Module):
    def __init__(self, backbone="mobilenet_v3_small_os16", dense=1024, dropout=0.5, age_mean=127.0, age_std=41.0):
        super().__init__()
        self.backbone_name = backbone
        self.backbone, c = make_backbone(backbone)
        self.channels = c
        self.fc1 = nn.Linear(c + 1, dense)
        self.drop = nn.Dropout(dropout)
        self.ridge = nn.Linear(dense, 1)
        self.register_buffer("age_mean", torch.tensor(float(age_mean)))
        self.register_buffer("age_std", torch.tensor(float(age_std)))

    def forward(self, x, sex, with_gradcam=False):
        a = self.backbone(x)                         # [N, C, h, w]
        return self.head(a, sex, with_gradcam)

    def head(self, a, sex, with_gradcam=False):
        """Everything after the backbone: age (and, with_gradcam, A and d age / d A) from the maps A."""
        g = a.mean(dim=(2, 3))                       # GAP
        z = self.fc1(torch.cat([g, sex], 1))         # [N, 1024]
        h = self.drop(F.relu(z))
        age = self.ridge(h) * self.age_std + self.age_mean   # [N, 1] months
        if not with_gradcam:
            return age
        # d age / d g = (1[z > 0] * w_ridge * std) @ W1[:, :C];  d g / d A = 1/(h*w)
        gate = (z > 0).to(z.dtype) * (self.ridge.weight * self.age_std)     # [N, 1024]
        dg = gate @ self.fc1.weight[:, : self.channels]                      # [N, C]
        hw = a.shape[2] * a.shape[3]
        grad = dg[:, :, None, None] * torch.ones_like(a) / hw
        return age, a, grad

    def ridge_penalty(self):
        return (self.ridge.weight ** 2).sum()


TTA_CHOICES = ("none", "hflip")


class HFlipTTA(nn.Module):
    """Test-time flip: the network on the image and on its mirror image (flipped along W), age = mean.

    with_gradcam: features = concat(A, flipW(A')) along channels ([N, 2C, h, w]; A' = the mirrored
    pass's maps, flipped back to the input's orientation) and the exact gradient of the mean age with
    respect to them (0.5 x each pass's gradient, the mirrored one flipped back likewise). Grad-CAM's
    recipe over the 2C channels (alpha_k = spatial mean of the gradient, ReLU(sum_k alpha_k A_k)) is
    then the Grad-CAM of the averaged age. Both passes run as one batch of 2N (eval-mode BatchNorm
    is per sample, so the rows do not interact).
    """

    def __init__(self, m: RidgeNet):
        super().__init__()
        self.m = m
        self.channels = 2 * m.channels

    def forward(self, x, sex, with_gradcam=False):
        n = x.shape[0]
        xx = torch.cat([x, torch.flip(x, [3])], 0)
        ss = torch.cat([sex, sex], 0)
        if not with_gradcam:
            age2 = self.m(xx, ss)
            return 0.5 * (age2[:n] + age2[n:])
        age2, a2, g2 = self.m(xx, ss, with_gradcam=True)
        age = 0.5 * (age2[:n] + age2[n:])
        feats = torch.cat([a2[:n], torch.flip(a2[n:], [3])], 1)
        grad = torch.cat([0.5 * g2[:n], torch.flip(0.5 * g2[n:], [3])], 1)
        return age, feats, grad


def with_tta(m: RidgeNet, tta: str):
    """The model as the exported graph computes it: plain, or wrapped in a test-time augmentation."""
    if tta == "none":
        return m
    if tta == "hflip":
        return HFlipTTA(m).eval()
    raise ValueError(f"unknown test-time augmentation {tta!r} (choices: {', '.join(TTA_CHOICES)})")


def graph_features(m: RidgeNet, x, tta: str):
    """The exported graph's `features` output for inputs x [N, 1, H, W] (no gradient)."""
    with torch.no_grad():
        a = m.backbone(x)
        if tta == "none":
            return a
        if tta == "hflip":
            return torch.cat([a, torch.flip(m.backbone(torch.flip(x, [3])), [3])], 1)
    raise ValueError(f"unknown test-time augmentation {tta!r}")


def torch_load(path, map_location="cpu"):
    """torch.load of our own checkpoints on PyTorch 1.13 and 2.x (2.6+ defaults to weights_only=True,
    which refuses the numpy RNG state that train_ridgenet stores for --resume)."""
    return torch.load(path, map_location=map_location, weights_only=False)


def load_ridgenet(path):
    """(model in eval mode, checkpoint dict) from a RidgeNet checkpoint written by train_ridgenet/refit_ridge."""
    ck = torch_load(path)
    cfg = ck["cfg"]
    m = RidgeNet(cfg["backbone"], cfg["dense"], cfg["dropout"])
    m.load_state_dict(ck["model"])
    return m.eval(), ck
