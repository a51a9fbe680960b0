"""Export a trained embedding to ONNX (with its preprocessing in the file) and load it back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facenet.models.onnx_meta import METADATA_KEY, config_json


def export_onnx(checkpoint: str | Path, out: str | Path, opset: int = 17, name: str | None = None) -> tuple[Path, float]:
    """Write the checkpoint's network as ONNX (input ``data`` (N, 3, H, W) float, already
    normalised; output (N, D) L2-normalised) with its :class:`ModelConfig` stored in the file's
    metadata, so ``create_model("model.onnx")`` and ``--embedder model.onnx`` need nothing else.
    name: the model name in that config (default: the file's stem). A checkpoint validated on
    LFW View 1 (``best.pt``) carries the best-accuracy View 1 threshold, which becomes the
    model's calibrated verification threshold.

    Returns (path, max absolute difference between ONNX Runtime and PyTorch on a test batch).
    """
    import onnx
    import onnxruntime as ort
    import torch

    from facenet.models.registry import create_model
    from facenet.train.checkpoint import load_checkpoint

    ck = load_checkpoint(checkpoint)
    emb = create_model(ck["model_name"], pretrained=False, embedding_size=ck["config"]["embedding_size"])
    if ck["config"].get("input_size"):
        from dataclasses import replace

        s = int(ck["config"]["input_size"])
        emb.config = replace(emb.config, input_size=(s, s))
    module = emb.module.cpu()
    module.load_state_dict(ck["model"])
    module.eval()
    h, w = emb.config.input_size
    x = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(0))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(module, (x,), str(out), input_names=["data"], output_names=["embedding"],
                      dynamic_axes={"data": {0: "N"}, "embedding": {0: "N"}}, opset_version=opset, dynamo=False)
    model = onnx.load(str(out))
    cfg = emb.config.to_dict()
    metrics = ck.get("metrics") or {}
    if metrics.get("val_threshold") is not None:
        cfg.update(threshold=float(metrics["val_threshold"]), threshold_flip=None,
                   threshold_source=f"best accuracy on LFW View 1 pairsDevTest at step {ck['step']} "
                                    f"({metrics['val_accuracy']:.2%} 10-fold accuracy there)")
    cfg.update(name=name or out.stem, description=f"{ck['model_name']} trained by facenet ({ck['step']} steps), exported from {Path(checkpoint).name}",
               weights=None, weights_sha256=None)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, config_json(cfg)
    onnx.save(model, str(out))
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        ref = module(x).numpy()
    got = sess.run(None, {"data": x.numpy()})[0]
    return out, float(np.abs(ref - got).max())
