"""Compact U-Net for hand segmentation at 128 x 128 (1 channel in, 1 logit map out).

With stem_stride=2 the first convolution has stride 2, the U-Net runs at 64 x 64 and the logits are
upsampled x2 (bilinear, align_corners=False) back to 128 x 128: a quarter of the compute.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class SmallUNet(nn.Module):
    def __init__(self, widths=(8, 16, 32, 64, 96), stem_stride=1):
        super().__init__()
        self.widths = list(widths)
        self.stem_stride = stem_stride
        self.stem = None
        cin = 1
        if stem_stride == 2:
            self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, stride=2, padding=1, bias=False),
                                      nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
            cin = widths[0]
        self.enc = nn.ModuleList()
        for w in widths:
            self.enc.append(_block(cin, w))
            cin = w
        self.dec = nn.ModuleList()
        for i in range(len(widths) - 1, 0, -1):
            self.dec.append(_block(widths[i] + widths[i - 1], widths[i - 1]))
        self.out = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x):
        if self.stem is not None:
            x = self.stem(x)
        skips = []
        for i, blk in enumerate(self.enc):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = blk(x)
            skips.append(x)
        for j, blk in enumerate(self.dec):
            skip = skips[-2 - j]
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = blk(torch.cat([x, skip], 1))
        x = self.out(x)
        if self.stem is not None:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return x
