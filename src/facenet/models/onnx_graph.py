"""ONNX graph surgery used when loading shipped models (no TensorFlow / no network).

``onnx`` is imported inside the functions: a cold start that finds the prepared graph in the
cache (:mod:`facenet.models.graph_cache`) never imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

#: Version of what :func:`prepare_onnx` produces. It is part of the graph cache key: bump it
#: whenever the preparation changes its output, so graphs prepared by older code are not reused.
PREPARE_VERSION = "1"


def prepare_onnx(model: "onnx.ModelProto", input_name: str, dynamic_batch: bool = True) -> "onnx.ModelProto":
    """Return a copy of ``model`` ready for fast batched CPU inference.

    - keeps only ``input_name`` among the graph inputs (some exporters list weights as inputs);
    - folds every node whose inputs are all constants (e.g. block-quantised weights'
      ``DequantizeLinear`` + ``Reshape``) into float initializers, evaluated once here with the
      ONNX reference evaluator, so inference does not dequantise weights on every call;
    - makes the batch dimension of the input and outputs symbolic (``N``).
    The arithmetic of the network is unchanged (the folded values are exactly what the nodes
    would compute at run time).
    """
    import onnx
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    names = [i.name for i in g.input]
    if input_name not in names:
        raise ValueError(f"ONNX model has no input {input_name!r}; inputs are {names[:5]}")
    const = {i.name for i in g.initializer}
    folded = []
    for node in g.node:
        if node.op_type not in ("RandomNormal", "RandomUniform") and all((x in const) or x == "" for x in node.input):
            folded.append(node)
            const.update(node.output)
    folded_ids = {id(n) for n in folded}
    kept = [n for n in g.node if id(n) not in folded_ids]
    folded_out = {o for n in folded for o in n.output}
    needed = list(dict.fromkeys(x for n in kept for x in n.input if x in folded_out))
    new_inits = []
    if needed:
        sub = helper.make_graph(
            folded, "fold", [], [helper.make_tensor_value_info(x, onnx.TensorProto.FLOAT, None) for x in needed], list(g.initializer)
        )
        sm = helper.make_model(sub, opset_imports=m.opset_import)
        sm.ir_version = m.ir_version
        values = ReferenceEvaluator(sm).run(None, {})
        new_inits = [numpy_helper.from_array(v, k) for k, v in zip(needed, values)]
    used = {x for n in kept for x in n.input}
    inits = [i for i in g.initializer if i.name in used] + new_inits
    inputs = [i for i in g.input if i.name == input_name]
    outputs = list(g.output)
    if dynamic_batch:
        for vi in inputs + outputs:
            dims = vi.type.tensor_type.shape.dim
            if len(dims):
                dims[0].ClearField("dim_value")
                dims[0].dim_param = "N"
    new_graph = helper.make_graph(kept, g.name, inputs, outputs, inits)
    out = helper.make_model(new_graph, opset_imports=m.opset_import)
    out.ir_version = m.ir_version
    onnx.checker.check_model(out)
    return out


def prepare_onnx_file(path: str, input_name: str) -> bytes:
    """:func:`prepare_onnx` of the ONNX file at ``path``, serialised (the bytes OpenCV DNN and
    ONNX Runtime load)."""
    import onnx

    return prepare_onnx(onnx.load(str(path)), input_name).SerializeToString()
