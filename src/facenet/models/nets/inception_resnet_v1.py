"""Inception-ResNet-v1 (Szegedy et al., 2016) as used by FaceNet (davidsandberg/facenet).

A PyTorch re-implementation of ``src/models/inception_resnet_v1.py`` of davidsandberg/facenet:
stem, 5x block35 (scale 0.17), reduction A, 10x block17 (scale 0.10), reduction B, 5x block8
(scale 0.20), a final block8 without ReLU (scale 1.0), global average pooling, dropout, a
bias-free bottleneck ``Linear`` with batch norm, and L2 normalisation.

TensorFlow details kept so that TF weights reproduce TF outputs exactly:

* every convolution is conv (no bias) -> batch norm (epsilon 1e-3, no learned scale: slim's
  ``scale=False``; the BN ``weight`` is kept at 1 and frozen) -> ReLU;
* ``SAME`` padding follows TensorFlow (odd padding pixel at the bottom/right), ``VALID`` pads
  nothing;
* the final normalisation is ``x * rsqrt(max(sum(x^2), 1e-10))`` like ``tf.nn.l2_normalize``.

The input is NCHW float32, already standardised (FaceNet: ``(pixel - 127.5) / 128``), at least
75x75 (160x160 for the pretrained weights).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facenet.validation import check_option, check_scalar

BN_EPS = 1e-3
BN_MOMENTUM = 0.005  # TF moving-average decay 0.995
MIN_INPUT = 75  # smallest height/width for which every stride-2 stage still has a pixel


def _pair(k: int | tuple[int, int]) -> tuple[int, int]:
    return (k, k) if isinstance(k, int) else (int(k[0]), int(k[1]))


def tf_same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow ``SAME`` padding (before, after) of one spatial axis; the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class ConvBN(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d (no learned scale) -> optional ReLU, TF padding.

    (N, cin, H, W) -> (N, cout, H', W'); ``padding`` is "SAME" or "VALID".
    """

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: str = "SAME", relu: bool = True) -> None:
        super().__init__()
        check_option(padding, "padding", ("SAME", "VALID"), owner="ConvBN")
        self.kernel = _pair(kernel)
        self.stride = stride
        self.padding = padding
        self.relu = relu
        # Stride 1 with an odd kernel: TF's SAME padding is symmetric, let the conv do it.
        self._static_same = padding == "SAME" and stride == 1 and all(k % 2 == 1 for k in self.kernel)
        pad = tuple(k // 2 for k in self.kernel) if self._static_same else (0, 0)
        self.conv = nn.Conv2d(cin, cout, self.kernel, stride, padding=pad, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.bn.weight.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == "SAME" and not self._static_same:
            top, bottom = tf_same_pads(x.shape[-2], self.kernel[0], self.stride)
            left, right = tf_same_pads(x.shape[-1], self.kernel[1], self.stride)
            x = F.pad(x, (left, right, top, bottom))
        x = self.bn(self.conv(x))
        return F.relu(x) if self.relu else x


class Block35(nn.Module):
    """Inception-ResNet-A on 35x35-grid features (17x17 here): (N, 256, H, W) -> same shape."""

    def __init__(self, scale: float = 0.17, channels: int = 256) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = ConvBN(channels, 32, 1)
        self.branch1 = nn.Sequential(ConvBN(channels, 32, 1), ConvBN(32, 32, 3))
        self.branch2 = nn.Sequential(ConvBN(channels, 32, 1), ConvBN(32, 32, 3), ConvBN(32, 32, 3))
        self.up = nn.Conv2d(96, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], 1)
        return F.relu(x + self.scale * self.up(mixed))


class Block17(nn.Module):
    """Inception-ResNet-B: (N, 896, H, W) -> same shape."""

    def __init__(self, scale: float = 0.10, channels: int = 896) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = ConvBN(channels, 128, 1)
        self.branch1 = nn.Sequential(ConvBN(channels, 128, 1), ConvBN(128, 128, (1, 7)), ConvBN(128, 128, (7, 1)))
        self.up = nn.Conv2d(256, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = torch.cat([self.branch0(x), self.branch1(x)], 1)
        return F.relu(x + self.scale * self.up(mixed))


class Block8(nn.Module):
    """Inception-ResNet-C: (N, 1792, H, W) -> same shape; ``relu=False`` for the last block."""

    def __init__(self, scale: float = 0.20, relu: bool = True, channels: int = 1792) -> None:
        super().__init__()
        self.scale = scale
        self.relu = relu
        self.branch0 = ConvBN(channels, 192, 1)
        self.branch1 = nn.Sequential(ConvBN(channels, 192, 1), ConvBN(192, 192, (1, 3)), ConvBN(192, 192, (3, 1)))
        self.up = nn.Conv2d(384, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x + self.scale * self.up(torch.cat([self.branch0(x), self.branch1(x)], 1))
        return F.relu(out) if self.relu else out


class ReductionA(nn.Module):
    """Mixed_6a (k, l, m, n = 192, 192, 256, 384): (N, 256, H, W) -> (N, 896, H', W'), stride 2."""

    def __init__(self, cin: int = 256) -> None:
        super().__init__()
        self.branch0 = ConvBN(cin, 384, 3, 2, "VALID")
        self.branch1 = nn.Sequential(ConvBN(cin, 192, 1), ConvBN(192, 192, 3), ConvBN(192, 256, 3, 2, "VALID"))
        self.branch2 = nn.MaxPool2d(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], 1)


class ReductionB(nn.Module):
    """Mixed_7a: (N, 896, H, W) -> (N, 1792, H', W'), stride 2."""

    def __init__(self, cin: int = 896) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(ConvBN(cin, 256, 1), ConvBN(256, 384, 3, 2, "VALID"))
        self.branch1 = nn.Sequential(ConvBN(cin, 256, 1), ConvBN(256, 256, 3, 2, "VALID"))
        self.branch2 = nn.Sequential(ConvBN(cin, 256, 1), ConvBN(256, 256, 3), ConvBN(256, 256, 3, 2, "VALID"))
        self.branch3 = nn.MaxPool2d(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1)


class InceptionResNetV1(nn.Module):
    """FaceNet's Inception-ResNet-v1: (N, 3, H, W) standardised float -> (N, embedding_size), unit L2 norm.

    embedding_size: bottleneck width (128 in the paper; 512 for the 2018 CASIA/VGGFace2 models).
    dropout: drop probability before the bottleneck (TF's ``1 - keep_probability``), training only.
    """

    def __init__(self, embedding_size: int = 128, dropout: float = 0.0) -> None:
        super().__init__()
        owner = "InceptionResNetV1"
        embedding_size = check_scalar(embedding_size, "embedding_size", int, min_val=1, owner=owner)
        dropout = check_scalar(dropout, "dropout", float, min_val=0.0, max_val=1.0, include="left", owner=owner)
        self.embedding_size = embedding_size
        self.conv2d_1a = ConvBN(3, 32, 3, 2, "VALID")
        self.conv2d_2a = ConvBN(32, 32, 3, 1, "VALID")
        self.conv2d_2b = ConvBN(32, 64, 3, 1, "SAME")
        self.maxpool_3a = nn.MaxPool2d(3, 2)
        self.conv2d_3b = ConvBN(64, 80, 1, 1, "VALID")
        self.conv2d_4a = ConvBN(80, 192, 3, 1, "VALID")
        self.conv2d_4b = ConvBN(192, 256, 3, 2, "VALID")
        self.repeat_1 = nn.Sequential(*[Block35(0.17) for _ in range(5)])
        self.mixed_6a = ReductionA()
        self.repeat_2 = nn.Sequential(*[Block17(0.10) for _ in range(10)])
        self.mixed_7a = ReductionB()
        self.repeat_3 = nn.Sequential(*[Block8(0.20) for _ in range(5)])
        self.block8 = Block8(1.0, relu=False)
        self.dropout = nn.Dropout(float(dropout))
        self.bottleneck = nn.Linear(1792, embedding_size, bias=False)
        self.bottleneck_bn = nn.BatchNorm1d(embedding_size, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.bottleneck_bn.weight.requires_grad_(False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 1792) pooled features, before dropout and bottleneck."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"InceptionResNetV1 takes (N, 3, H, W) input. Got shape {tuple(x.shape)} instead.")
        if min(x.shape[-2:]) < MIN_INPUT:
            raise ValueError(f"InceptionResNetV1 needs H, W >= {MIN_INPUT}. Got {tuple(x.shape[-2:])} instead.")
        x = self.conv2d_4b(self.conv2d_4a(self.conv2d_3b(self.maxpool_3a(self.conv2d_2b(self.conv2d_2a(self.conv2d_1a(x)))))))
        x = self.mixed_7a(self.repeat_2(self.mixed_6a(self.repeat_1(x))))
        x = self.block8(self.repeat_3(x))
        # TF: avg_pool2d with the whole feature map as kernel, VALID padding -> a global mean.
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def embedding_head(self) -> tuple[nn.Linear, nn.BatchNorm1d]:
        """The embedding layer: (Linear, BatchNorm1d) applied to ``features`` before L2 normalisation."""
        return self.bottleneck, self.bottleneck_bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float32 standardised -> (N, embedding_size) float32, L2-normalised."""
        x = self.bottleneck_bn(self.bottleneck(self.dropout(self.features(x))))
        return x * torch.rsqrt(torch.clamp((x * x).sum(1, keepdim=True), min=1e-10))
