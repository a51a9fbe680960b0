"""Run a pipeline over a verification pair list and score it with the 10-fold LFW protocol."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facenet.distance import squared_l2


@dataclass
class PairEvaluation:
    """Result of :func:`evaluate_pairs`.

    metrics: JSON-ready summary (``accuracy_mean``, ``accuracy_std``, ``val_at_far_1e-3``,
        ``auc``, ``eer``, ``n_pairs``, ``detection_failures``, ``images_per_second``, ...).
    distances: (P,) float32 squared L2 per pair. same: (P,) bool. folds: (P,) int.
    failed_images: paths where no face was found (the fallback crop was embedded).
    """

    metrics: dict[str, Any]
    distances: np.ndarray
    same: np.ndarray
    folds: np.ndarray
    failed_images: list[str] = field(default_factory=list)


def val_key(far_target: float) -> str:
    """JSON key for VAL at a FAR: 1e-3 → ``"val_at_far_1e-3"``."""
    mant, exp = f"{far_target:.0e}".split("e")
    return f"val_at_far_{mant}e{int(exp)}"


def embed_paths(pipeline: Any, paths: Sequence[Path], chunk: int = 64, progress: bool = True,
                desc: str = "embedding") -> tuple[np.ndarray, np.ndarray, float]:
    """Embed every path with ``pipeline.represent`` in chunks, with a progress bar.

    Returns (embeddings (N, D) float32, face_found (N,) bool, seconds spent).
    """
    from tqdm import tqdm

    d = pipeline.embedder.config.embedding_size
    emb = np.zeros((len(paths), d), np.float32)
    found = np.zeros(len(paths), bool)
    t0 = time.perf_counter()
    with tqdm(total=len(paths), desc=desc, unit="img", disable=not progress, leave=False) as bar:
        for i in range(0, len(paths), chunk):
            r = pipeline.represent(list(paths[i : i + chunk]))
            emb[i : i + len(r)], found[i : i + len(r)] = r.embeddings, r.face_found
            bar.update(len(r))
    return emb, found, time.perf_counter() - t0


def evaluate_pairs(pipeline: Any, pairs: Any, far_target: float = 1e-3, progress: bool = True) -> PairEvaluation:
    """Embed each distinct image of ``pairs`` (a :class:`facenet.data.lfw.PairList`) once and
    apply the k-fold protocol: for each fold the threshold is chosen on the other folds."""
    from facenet.eval.protocol import kfold_evaluate

    paths = pairs.unique_paths()
    emb, found, seconds = embed_paths(pipeline, paths, progress=progress, desc="LFW")
    ia, ib = pairs.index_pairs(paths)
    dist = squared_l2(emb[ia], emb[ib])
    if len(np.unique(pairs.folds)) >= 2:
        metrics = dict(kfold_evaluate(dist, pairs.same, pairs.folds, far_target=far_target).to_dict())
        metrics[val_key(far_target)] = metrics["val_mean"]
    else:
        metrics = _single_fold_metrics(dist, np.asarray(pairs.same, bool), pipeline.threshold)
    metrics.update(
        n_pairs=int(len(pairs)),
        n_images=int(len(paths)),
        n_folds=int(len(np.unique(pairs.folds))),
        detection_failures=int((~found).sum()),
        images_per_second=round(len(paths) / seconds, 2) if seconds > 0 else None,
        detector=getattr(pipeline.detector, "name", type(pipeline.detector).__name__),
        embedder=pipeline.embedder.config.name,
        flip=pipeline.flip,
    )
    failed = [str(p) for p, ok in zip(paths, found) if not ok]
    return PairEvaluation(metrics, dist, np.asarray(pairs.same, bool), np.asarray(pairs.folds), failed)


def _single_fold_metrics(dist: np.ndarray, same: np.ndarray, threshold: float) -> dict[str, Any]:
    """One fold has no training folds to choose a threshold on: use the pipeline's calibrated
    threshold (chosen on LFW View 1) and report accuracy at it; VAL@FAR needs training folds."""
    from facenet.eval.protocol import auc, eer, roc_curve

    fpr, tpr, _ = roc_curve(dist, same)
    acc = float(np.mean((dist < threshold) == same))
    return {"accuracy_mean": acc, "accuracy_std": 0.0, "val_mean": None, "auc": float(auc(fpr, tpr)),
            "eer": float(eer(fpr, tpr)), "threshold": float(threshold), "threshold_source": "calibrated (LFW View 1)"}
