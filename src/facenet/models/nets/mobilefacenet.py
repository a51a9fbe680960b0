"""MobileFaceNet (Chen, Liu, Gao & Han, "MobileFaceNets: Efficient CNNs for Accurate Real-Time
Face Verification on Mobile Devices", CCBR 2018), Table 1, at 112x112::

    input      operator              t    c    n  s
    112x112x3  conv 3x3              -    64   1  2
    56x56x64   depthwise conv 3x3    -    64   1  1
    56x56x64   bottleneck            2    64   5  2
    28x28x64   bottleneck            4    128  1  2
    14x14x128  bottleneck            2    128  6  1
    14x14x128  bottleneck            4    128  1  2
    7x7x128    bottleneck            2    128  2  1
    7x7x128    conv 1x1              -    512  1  1
    7x7x512    linear GDConv 7x7     -    512  1  1
    1x1x512    linear conv 1x1       -    128  1  1

Bottlenecks are MobileNetV2 inverted residuals (1x1 expand by t, 3x3 depthwise, linear 1x1
project; a residual connection when stride is 1 and the width is unchanged; the first of each
group of n has stride s). Activations are PReLU, every convolution is followed by BatchNorm.
The head is the paper's global depthwise convolution (GDC: a 7x7 depthwise conv over the whole
7x7 map) -> BatchNorm -> (dropout) -> linear embedding layer -> BatchNorm1d -> L2
normalisation. About 1.0M parameters and 0.22G multiply-adds (the paper: 0.99M, 221M).

The GDC kernel fixes the input size: the trunk divides it by 16, and the head needs a 7x7 map,
so the network takes 112x112 crops (forward raises ValueError on other sizes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facenet.validation import check_scalar

#: Table 1 bottlenecks: (expansion t, output channels c, repeats n, first stride s).
BOTTLENECKS: tuple[tuple[int, int, int, int], ...] = (
    (2, 64, 5, 2),
    (4, 128, 1, 2),
    (2, 128, 6, 1),
    (4, 128, 1, 2),
    (2, 128, 2, 1),
)

#: Spatial size of the map the GDC head expects (112 / 16).
GDC_SIZE = 7


class ConvBN(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> PReLU (omitted when ``linear``)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1,
                 linear: bool = False, padding: int | None = None) -> None:
        pad = kernel // 2 if padding is None else padding
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, pad, groups=groups, bias=False),
                                   nn.BatchNorm2d(cout)]
        if not linear:
            layers.append(nn.PReLU(cout))
        super().__init__(*layers)


class Bottleneck(nn.Module):
    """Inverted residual: (N, cin, H, W) -> (N, cout, H / stride, W / stride)."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.residual = stride == 1 and cin == cout
        self.body = nn.Sequential(
            ConvBN(cin, hidden, 1),
            ConvBN(hidden, hidden, 3, stride, groups=hidden),
            ConvBN(hidden, cout, 1, linear=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class MobileFaceNet(nn.Module):
    """MobileFaceNet with a GDC head (see the module docstring).

    embedding_size: length of the output vector (the paper: 128).
    dropout: probability before the linear embedding layer.
    forward: (N, 3, 112, 112) float32, already standardised -> (N, embedding_size), unit L2 norm.
    """

    def __init__(self, embedding_size: int = 128, dropout: float = 0.0) -> None:
        super().__init__()
        owner = "MobileFaceNet"
        embedding_size = check_scalar(embedding_size, "embedding_size", int, min_val=1, owner=owner)
        dropout = check_scalar(dropout, "dropout", float, min_val=0.0, max_val=1.0, include="left", owner=owner)
        layers: list[nn.Module] = [ConvBN(3, 64, 3, 2), ConvBN(64, 64, 3, 1, groups=64)]
        c = 64
        for t, cout, n, s in BOTTLENECKS:
            for i in range(n):
                layers.append(Bottleneck(c, cout, s if i == 0 else 1, t))
                c = cout
        layers.append(ConvBN(c, 512, 1))
        self.trunk = nn.Sequential(*layers)
        self.gdc = ConvBN(512, 512, GDC_SIZE, groups=512, linear=True, padding=0)
        self.dropout = nn.Dropout(dropout)
        self.embedding = nn.Linear(512, embedding_size, bias=False)
        self.bn = nn.BatchNorm1d(embedding_size)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 112, 112) -> (N, 512) GDC features, the input of the embedding layer."""
        x = self.trunk(x)
        if x.shape[-2:] != (GDC_SIZE, GDC_SIZE):
            raise ValueError(f"MobileFaceNet takes 112x112 inputs (a {GDC_SIZE}x{GDC_SIZE} map for its GDC head). "
                             f"Got a {tuple(x.shape[-2:])} map instead.")
        return torch.flatten(self.gdc(x), 1)

    def embedding_head(self) -> tuple[nn.Linear, nn.BatchNorm1d]:
        """The embedding layer: (Linear, BatchNorm1d) applied to ``features`` before L2 normalisation."""
        return self.embedding, self.bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.bn(self.embedding(self.dropout(self.features(x)))), p=2.0, dim=1)
