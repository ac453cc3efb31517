"""YuNet, the face detector that ships with the pack, as a PyTorch module (weights: data/yunet_2023mar.safetensors).

YuNet (Wu, Peng and Yu, "YuNet: a tiny millisecond-level face detector", 2023) is the OpenCV Zoo's
`face_detection_yunet_2023mar` model, MIT-licensed (data/LICENSE-yunet.txt). 53 k parameters: a backbone of
depthwise-separable units (a 1x1 convolution, then a 3x3 depthwise one and ReLU; batch norms folded into the
convolutions), a top-down feature pyramid on strides 8, 16 and 32, and per stride four heads: face class,
objectness, box and 5 landmarks. Parameter names are the original training code's, so the shipped file reads
key for key; tools/convert_yunet.py writes it from the ONNX export.

Input: (B, 3, H, W) BGR pixels in 0..255, not normalised, H and W multiples of 32. Output per stride s: cls and
obj (B, H/s * W/s, 1) after a sigmoid, box (.., 4) and landmarks (.., 10) in units of s; cells row by row.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

STRIDES = (8, 16, 32)
WEIGHTS_FILE = Path(__file__).resolve().parent.parent / "data" / "yunet_2023mar.safetensors"
HEADS = ("cls", "obj", "bbox", "kps")
HEAD_WIDTHS = {"cls": 1, "obj": 1, "bbox": 4, "kps": 10}
WIDTH = 64  # channels of the pyramid levels


class SeparableUnit(nn.Module):
    """1x1 convolution, then a 3x3 depthwise convolution (and ReLU, except in the heads)."""

    def __init__(self, in_channels: int, out_channels: int, relu: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, groups=out_channels)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.conv1(x))
        return F.relu(x) if self.relu else x


class Stem(nn.Module):
    """A full 3x3 stride-2 convolution with ReLU, then one separable unit: stride 2 from the image."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)
        self.conv2 = SeparableUnit(out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(x)))


class Stage(nn.Module):
    """Two separable units."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = SeparableUnit(in_channels, mid_channels)
        self.conv2 = SeparableUnit(mid_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model0 = Stem(3, 16)
        self.model1 = Stage(16, 16, 32)
        self.model2 = Stage(32, 32, 64)
        self.model3 = Stage(WIDTH, WIDTH, WIDTH)
        self.model4 = Stage(WIDTH, WIDTH, WIDTH)
        self.model5 = Stage(WIDTH, WIDTH, WIDTH)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Features at strides 8, 16 and 32 (2x2 max pools between stages)."""
        x = self.model2(self.model1(F.max_pool2d(self.model0(x), 2)))
        stride8 = self.model3(F.max_pool2d(x, 2))
        stride16 = self.model4(F.max_pool2d(stride8, 2))
        stride32 = self.model5(F.max_pool2d(stride16, 2))
        return stride8, stride16, stride32


class Neck(nn.Module):
    """Top-down pyramid: each coarser level, upsampled 2x (nearest), is added to the finer one before its unit."""

    def __init__(self) -> None:
        super().__init__()
        self.lateral_convs = nn.ModuleList(SeparableUnit(WIDTH, WIDTH) for _ in STRIDES)

    def forward(self, features: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
        levels = [self.lateral_convs[-1](features[-1])]
        for level in range(len(features) - 2, -1, -1):
            upsampled = F.interpolate(levels[0], size=features[level].shape[-2:], mode="nearest")
            levels.insert(0, self.lateral_convs[level](features[level] + upsampled))
        return levels


class Head(nn.Module):
    """Per level and per output, a separable unit without ReLU (64 -> 1, 1, 4 or 10 channels)."""

    def __init__(self) -> None:
        super().__init__()
        for name in HEADS:
            units = nn.ModuleList(SeparableUnit(WIDTH, HEAD_WIDTHS[name], relu=False) for _ in STRIDES)
            self.add_module(f"multi_level_{name}", units)

    def forward(self, levels: list[torch.Tensor]) -> dict[str, list[torch.Tensor]]:
        outputs: dict[str, list[torch.Tensor]] = {}
        for name in HEADS:
            units = getattr(self, f"multi_level_{name}")
            # (B, C, h, w) -> (B, h * w, C): one row per cell, row-major as the decoder walks them
            flat = [unit(level).permute(0, 2, 3, 1).flatten(1, 2) for unit, level in zip(units, levels)]
            outputs[name] = [x.sigmoid() for x in flat] if name in ("cls", "obj") else flat
        return outputs


class YuNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = Backbone()
        self.neck = Neck()
        self.bbox_head = Head()

    def forward(self, bgr: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """{"cls", "obj", "bbox", "kps"}: one tensor per stride (8, 16, 32), see the module docstring."""
        return self.bbox_head(self.neck(self.backbone(bgr)))


def load_yunet(path: str | Path = WEIGHTS_FILE, device: torch.device | str = "cpu") -> YuNet:
    """The network with the shipped (or another converted) weights, in eval mode on `device`."""
    from safetensors.torch import load_file

    model = YuNet()
    model.load_state_dict(load_file(str(path)), strict=True)
    return model.eval().requires_grad_(False).to(device)
