"""Torch re-implementations of the two network families in insightface's packs, to export to ONNX with
torch.onnx.export and so cover the op shapes of the real files (which cannot be downloaded here):

- IResNet: the ArcFace backbone of glintr100 (iresnet100, layers 3-13-30-3) and w600k_r50 (iresnet50, 3-4-14-3):
  BN -> conv3x3 -> BN -> PReLU -> conv3x3(stride) -> BN blocks, a conv1x1 + BN shortcut, then BN2d, dropout,
  flatten, a linear layer and BN1d (insightface's recognition/arcface_torch/backbones/iresnet.py, re-written).
- ScrfdLike: an SCRFD-style detector (ResNet-V1e stem and blocks with average-pool shortcuts, an FPN with nearest
  upsampling, shared heads per stride with sigmoid scores) exported with SCRFD's output layout: scores [N, 1],
  boxes [N, 4], landmarks [N, 10] for strides 8, 16, 32, all scores first, then boxes, then landmarks.

Weights are random with non-trivial BN statistics so every normalisation matters.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import torch
from torch import nn
import torch.nn.functional as F

IRESNET50 = (3, 4, 14, 3)
IRESNET100 = (3, 13, 30, 3)


class IBasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-5)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-5)
        self.prelu = nn.PReLU(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-5)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (self.downsample(x) if self.downsample is not None else x)


class IResNet(nn.Module):
    """[N, 3, 112, 112] -> [N, embedding]."""

    def __init__(self, layers: Sequence[int] = IRESNET50, width: int = 64, embedding: int = 512) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width, eps=1e-5)
        self.prelu = nn.PReLU(width)
        stages, inplanes = [], width
        for index, blocks in enumerate(layers):
            planes = width * 2 ** index
            stage = [IBasicBlock(inplanes, planes, 2)] + [IBasicBlock(planes, planes, 1) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            inplanes = planes
        self.layers = nn.Sequential(*stages)
        self.bn2 = nn.BatchNorm2d(inplanes, eps=1e-5)
        self.dropout = nn.Dropout(0.0)
        self.fc = nn.Linear(inplanes * 7 * 7, embedding)
        self.features = nn.BatchNorm1d(embedding, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.prelu(self.bn1(self.conv1(x))))
        x = torch.flatten(self.dropout(self.bn2(x)), 1)
        return self.features(self.fc(x))


class _ConvBnRelu(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class _BasicBlockV1e(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_ConvBnRelu(cin, cout, 3, stride),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:  # ResNet-V1e: average-pool, then a 1x1 conv
            self.shortcut = nn.Sequential(
                nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False),
                nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class ScrfdLike(nn.Module):
    """[1, 3, H, W] -> 9 outputs (see the module docstring); H and W multiples of 32."""

    strides = (8, 16, 32)

    def __init__(self, widths: Sequence[int] = (16, 24, 32, 48), blocks: Sequence[int] = (1, 1, 1, 1),
                 neck: int = 24, anchors: int = 2) -> None:
        super().__init__()
        self.stem = nn.Sequential(_ConvBnRelu(3, widths[0] // 2, 3, 2), _ConvBnRelu(widths[0] // 2, widths[0], 3, 1),
                                  nn.MaxPool2d(3, 2, 1))
        stages, cin = [], widths[0]
        for index, (width, count) in enumerate(zip(widths, blocks)):
            stride = 1 if index == 0 else 2
            stages.append(nn.Sequential(*[_BasicBlockV1e(cin if i == 0 else width, width, stride if i == 0 else 1)
                                          for i in range(count)]))
            cin = width
        self.stages = nn.ModuleList(stages)
        self.lateral = nn.ModuleList(nn.Conv2d(w, neck, 1) for w in widths[1:])
        self.smooth = nn.ModuleList(_ConvBnRelu(neck, neck) for _ in widths[1:])
        self.head = _ConvBnRelu(neck, neck)
        self.anchors = anchors
        self.cls = nn.Conv2d(neck, anchors, 3, 1, 1)
        self.reg = nn.Conv2d(neck, anchors * 4, 3, 1, 1)
        self.kps = nn.Conv2d(neck, anchors * 10, 3, 1, 1)
        self.scales = nn.Parameter(torch.ones(len(self.strides)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        laterals = [conv(f) for conv, f in zip(self.lateral, features[1:])]
        for level in range(len(laterals) - 1, 0, -1):
            laterals[level - 1] = laterals[level - 1] + F.interpolate(laterals[level], scale_factor=2.0, mode="nearest")
        levels = [smooth(lat) for smooth, lat in zip(self.smooth, laterals)]
        scores, boxes, points = [], [], []
        for level, feature in enumerate(levels):
            feature = self.head(feature)
            scores.append(self.cls(feature).sigmoid().permute(0, 2, 3, 1).reshape(-1, 1))
            boxes.append((self.reg(feature) * self.scales[level]).permute(0, 2, 3, 1).reshape(-1, 4))
            points.append(self.kps(feature).permute(0, 2, 3, 1).reshape(-1, 10))
        return (*scores, *boxes, *points)


def randomise_batch_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affine terms (fresh BNs are identities at inference) and PReLU slopes."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                size = module.num_features
                module.running_mean.copy_(torch.randn(size, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(size, generator=generator) * 0.5 + 0.75)
                module.weight.copy_(torch.rand(size, generator=generator) * 0.5 + 0.75)
                module.bias.copy_(torch.randn(size, generator=generator) * 0.1)
            elif isinstance(module, nn.PReLU):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) * 0.3)
    return model.eval()


def export_onnx(model: nn.Module, example: torch.Tensor, input_name: str, output_names: Sequence[str],
                opset: int, dynamic_axes: dict | None = None, path: Path | None = None) -> bytes:
    """The model exported by the TorchScript exporter (the one that writes files like the packs', offline)."""
    buffer = io.BytesIO()
    torch.onnx.export(model, (example,), buffer, input_names=[input_name], output_names=list(output_names),
                      opset_version=opset, dynamic_axes=dynamic_axes, dynamo=False, do_constant_folding=True)
    data = buffer.getvalue()
    if path is not None:
        path.write_bytes(data)
    return data


def scrfd_output_names(strides: Sequence[int] = ScrfdLike.strides) -> list[str]:
    return [f"{kind}_{stride}" for kind in ("score", "bbox", "kps") for stride in strides]
