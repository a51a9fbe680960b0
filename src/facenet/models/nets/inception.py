"""The FaceNet paper's Inception networks (Schroff, Kalenichenko & Philbin, CVPR 2015).

NN2 follows Table 2 of the paper layer by layer::

    conv1 7x7/2 (64) -> max pool 3x3/2 -> norm -> inception(2): 1x1 (64) then 3x3 (192)
    -> norm -> max pool 3x3/2 -> inception 3a 3b 3c 4a 4b 4c 4d 4e 5a 5b
    -> global avg pool -> fully connected (embedding) -> L2 normalisation

Each inception block has the table's columns: ``#1x1``, ``#3x3 reduce``, ``#3x3``,
``#5x5 reduce``, ``#5x5`` and a pooling branch ("m": 3x3 max pool, "L2": 3x3 L2 pool,
``sqrt(avg_pool(x^2) + eps)``) followed by a ``pool proj`` 1x1 convolution. Blocks 3c and 4e
downsample: their 3x3 and 5x5 convolutions and their 3x3 max pool have stride 2, and the pooled
input is passed through without projection. Every convolution is followed by BatchNorm and ReLU
(the paper's networks used ReLU; BatchNorm is our addition, as in common re-implementations).
"norm" is local response normalisation (size 5), as in GoogLeNet.

Because of the global average pooling the same network runs at any input size: the paper's NN3
is NN2 at 160x160 and NN4 is NN2 at 96x96 (the paper adds that NN4 drops the 5x5 convolutions in
its higher layers; we keep them, so NN4 here is exactly NN2 at 96x96).

NNS1 ("mini Inception", 165x165) and NNS2 ("tiny Inception") are only summarised in the paper
(Section 4 and Table 3: NNS1 220M FLOPS, NNS2 20M FLOPS, both counted as multiply-adds; the
parameter counts it quotes, 26M and 4.3M, imply large fully connected layers it does not
describe; Table 3 gives NNS2's input as 140x116, we use a square 140x140 crop). The two slimmed
networks below are OUR READING of the paper, not its exact networks: NNS1 is NN2 at half width
without blocks 4c, 4d and 5b; NNS2 is NN2 at quarter width with a 3x3 first convolution and only
blocks 3a, 3c, 4a, 4e and 5a. Their multiply-adds at their input sizes match the paper's
figures to within about 10% (see ``facenet.models.complexity``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from facenet.validation import check_option, check_scalar


@dataclass(frozen=True)
class InceptionSpec:
    """One row of Table 2. ``pool`` is "max" or "l2"; ``pool_proj`` 0 means no projection."""

    name: str
    n1x1: int
    n3x3_reduce: int
    n3x3: int
    n5x5_reduce: int
    n5x5: int
    pool: str
    pool_proj: int
    stride: int = 1

    def out_channels(self, in_channels: int) -> int:
        return self.n1x1 + self.n3x3 + self.n5x5 + (self.pool_proj or in_channels)


@dataclass(frozen=True)
class StemSpec:
    """conv1 (``conv1`` channels, ``conv1_kernel`` square kernel, stride 2) and inception(2)
    (1x1 ``reduce`` then 3x3 ``out``)."""

    conv1: int = 64
    conv1_kernel: int = 7
    reduce: int = 64
    out: int = 192


#: Table 2 of the paper (NN2).
NN2_BLOCKS: tuple[InceptionSpec, ...] = (
    InceptionSpec("3a", 64, 96, 128, 16, 32, "max", 32),
    InceptionSpec("3b", 64, 96, 128, 32, 64, "l2", 64),
    InceptionSpec("3c", 0, 128, 256, 32, 64, "max", 0, stride=2),
    InceptionSpec("4a", 256, 96, 192, 32, 64, "l2", 128),
    InceptionSpec("4b", 224, 112, 224, 32, 64, "l2", 128),
    InceptionSpec("4c", 192, 128, 256, 32, 64, "l2", 128),
    InceptionSpec("4d", 160, 144, 288, 32, 64, "l2", 128),
    InceptionSpec("4e", 0, 160, 256, 64, 128, "max", 0, stride=2),
    InceptionSpec("5a", 384, 192, 384, 48, 128, "l2", 128),
    InceptionSpec("5b", 384, 192, 384, 48, 128, "max", 128),
)


def _narrow(spec: InceptionSpec, width: float) -> InceptionSpec:
    def s(c: int) -> int:
        return 0 if c == 0 else max(4, int(round(c * width)))

    return replace(spec, n1x1=s(spec.n1x1), n3x3_reduce=s(spec.n3x3_reduce), n3x3=s(spec.n3x3),
                   n5x5_reduce=s(spec.n5x5_reduce), n5x5=s(spec.n5x5), pool_proj=s(spec.pool_proj))


def slim_blocks(width: float, keep: tuple[str, ...]) -> tuple[InceptionSpec, ...]:
    """NN2's blocks named in ``keep``, every channel count scaled by ``width`` (at least 4)."""
    return tuple(_narrow(b, width) for b in NN2_BLOCKS if b.name in keep)


class ConvBNReLU(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> ReLU; "same" padding for odd kernels."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class L2Pool(nn.Module):
    """L2 pooling: ``sqrt(avg_pool(x^2) + eps)`` over ``kernel`` x ``kernel`` windows.
    (N, C, H, W) -> (N, C, H', W')."""

    def __init__(self, kernel: int = 3, stride: int = 1, eps: float = 1e-6) -> None:
        super().__init__()
        self.kernel, self.stride, self.eps = kernel, stride, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.avg_pool2d(x * x, self.kernel, self.stride, self.kernel // 2, count_include_pad=False)
        return torch.sqrt(pooled + self.eps)


class InceptionBlock(nn.Module):
    """Parallel 1x1, 3x3 (after a 1x1 reduce), 5x5 (after a 1x1 reduce) and pooling branches,
    concatenated on channels. (N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride)."""

    def __init__(self, in_channels: int, spec: InceptionSpec) -> None:
        super().__init__()
        check_option(spec.pool, "pool", ("max", "l2"), owner=f"inception block {spec.name}")
        if spec.stride != 1 and (spec.n1x1 or spec.pool_proj):
            raise ValueError(f"Block {spec.name}: a strided block has no 1x1 branch and no pool projection.")
        s = spec.stride
        self.out_channels = spec.out_channels(in_channels)
        self.b1 = ConvBNReLU(in_channels, spec.n1x1, 1) if spec.n1x1 else None
        self.b3 = nn.Sequential(ConvBNReLU(in_channels, spec.n3x3_reduce, 1), ConvBNReLU(spec.n3x3_reduce, spec.n3x3, 3, s))
        self.b5 = nn.Sequential(ConvBNReLU(in_channels, spec.n5x5_reduce, 1), ConvBNReLU(spec.n5x5_reduce, spec.n5x5, 5, s))
        pool: nn.Module = nn.MaxPool2d(3, s, 1) if spec.pool == "max" else L2Pool(3, s)
        self.bp = nn.Sequential(pool, ConvBNReLU(in_channels, spec.pool_proj, 1)) if spec.pool_proj else pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [self.b3(x), self.b5(x), self.bp(x)]
        if self.b1 is not None:
            parts.insert(0, self.b1(x))
        return torch.cat(parts, dim=1)


class FaceNetInception(nn.Module):
    """The FaceNet Inception family (see the module docstring).

    stem: conv1 and inception(2) widths. blocks: the inception blocks in order.
    embedding_size: length of the output vector. dropout: probability before the embedding layer.
    forward: (N, 3, H, W) float32, already standardised -> (N, embedding_size), unit L2 norm.
    """

    def __init__(self, stem: StemSpec, blocks: tuple[InceptionSpec, ...], embedding_size: int = 128,
                 dropout: float = 0.0) -> None:
        super().__init__()
        owner = type(self).__name__
        embedding_size = check_scalar(embedding_size, "embedding_size", int, min_val=1, owner=owner)
        dropout = check_scalar(dropout, "dropout", float, min_val=0.0, max_val=1.0, include="left", owner=owner)
        self.stem = nn.Sequential(
            ConvBNReLU(3, stem.conv1, stem.conv1_kernel, 2),
            nn.MaxPool2d(3, 2, 1),
            nn.LocalResponseNorm(5),
            ConvBNReLU(stem.conv1, stem.reduce, 1),
            ConvBNReLU(stem.reduce, stem.out, 3),
            nn.LocalResponseNorm(5),
            nn.MaxPool2d(3, 2, 1),
        )
        layers, c = [], stem.out
        for spec in blocks:
            block = InceptionBlock(c, spec)
            layers.append(block)
            c = block.out_channels
        self.blocks = nn.Sequential(*layers)
        self.block_names = tuple(b.name for b in blocks)
        self.feature_size = c
        self.dropout = nn.Dropout(dropout)
        self.embedding = nn.Linear(c, embedding_size)
        self._init_weights()

    def _init_weights(self) -> None:
        """He-normal convolutions (fan out), unit BatchNorm, zero embedding bias. PyTorch's default
        conv init shrinks the signal layer by layer, and through 22 layers an untrained net would
        output little more than the embedding bias, whatever the input."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.embedding.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, C) pooled features, the input of the embedding layer."""
        return torch.flatten(F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1)

    def embedding_head(self) -> tuple[nn.Linear, None]:
        """The embedding layer (Linear with bias, no BatchNorm) applied before L2 normalisation."""
        return self.embedding, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.embedding(self.dropout(self.features(x))), p=2.0, dim=1)


class NN2(FaceNetInception):
    """NN2: Table 2 of the paper, 224x224 input (7.5M parameters, 1.6G multiply-adds in the
    paper). NN3 and NN4 are this network at 160x160 and 96x96."""

    def __init__(self, embedding_size: int = 128, dropout: float = 0.0) -> None:
        super().__init__(StemSpec(), NN2_BLOCKS, embedding_size, dropout)


#: NN3 and NN4 are NN2 fed smaller crops (160x160 and 96x96); the module is the same.
NN3 = NN2
NN4 = NN2


class NNS1(FaceNetInception):
    """Our reading of NNS1 ("mini Inception", 165x165): NN2 at half width (stem 32 -> 32 -> 96)
    without blocks 4c, 4d and 5b (about 200M multiply-adds at 165x165; the paper: 220M)."""

    def __init__(self, embedding_size: int = 128, dropout: float = 0.0) -> None:
        super().__init__(StemSpec(32, 7, 32, 96), slim_blocks(0.5, ("3a", "3b", "3c", "4a", "4b", "4e", "5a")),
                         embedding_size, dropout)


class NNS2(FaceNetInception):
    """Our reading of NNS2 ("tiny Inception", run here at 140x140): NN2 at quarter width, a 3x3
    first convolution, inception(2) 16 -> 32, blocks 3a, 3c, 4a, 4e, 5a only (about 20M
    multiply-adds at 140x140, the paper's figure)."""

    def __init__(self, embedding_size: int = 128, dropout: float = 0.0) -> None:
        super().__init__(StemSpec(16, 3, 16, 32), slim_blocks(0.25, ("3a", "3c", "4a", "4e", "5a")),
                         embedding_size, dropout)

