"""Run a pipeline over a verification pair list and score it (:mod:`facenet.eval.report`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facenet.distance import squared_l2
from facenet.errors import DataError
from facenet.eval.report import VerificationReport, report_from_distances
from facenet.validation import check_scalar


@dataclass(frozen=True)
class PairEvaluation:
    """Result of :func:`evaluate_pairs`.

    report: the :class:`~facenet.eval.report.VerificationReport` (``report.to_dict()`` is what
        ``facenet evaluate lfw --json`` prints).
    distances: (P,) float32 squared L2 per pair. same: (P,) bool. folds: (P,) int.
    failed_images: paths where no face was found (the fallback crop was embedded); as many as
        ``report.no_face``.
    """

    report: VerificationReport
    distances: np.ndarray
    same: np.ndarray
    folds: np.ndarray
    failed_images: list[str] = field(default_factory=list)


def describe_pipeline(pipeline: Any) -> dict[str, Any]:
    """``{"detector": name, "embedder": name, "flip": bool}`` of a :class:`~facenet.FacePipeline`
    (the keyword arguments :func:`~facenet.eval.report.report_from_distances` takes)."""
    return {"detector": getattr(pipeline.detector, "name", type(pipeline.detector).__name__),
            "embedder": pipeline.embedder.config.name, "flip": bool(pipeline.flip)}


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


@dataclass(frozen=True)
class PairDistances:
    """Each distinct image of a pair list embedded once, and the pairs' distances.

    distances: (P,) float32 squared L2. same: (P,) bool. folds: (P,) int.
    paths: the distinct images (N). face_found: (N,) bool. seconds: embedding wall time.
    embeddings: (N, D) float32 unit norm, one per distinct image.
    """

    distances: np.ndarray
    same: np.ndarray
    folds: np.ndarray
    paths: list[Path]
    face_found: np.ndarray
    seconds: float
    embeddings: np.ndarray


def pair_distances(pipeline: Any, pairs: Any, progress: bool = True, desc: str = "pairs") -> PairDistances:
    """Embed every distinct image of ``pairs`` (a :class:`facenet.data.lfw.PairList`) once with
    ``pipeline`` and measure each pair (DataError for an empty list)."""
    if len(pairs) == 0:
        raise DataError("No pairs to embed (the pair list is empty).")
    paths = pairs.unique_paths()
    emb, found, seconds = embed_paths(pipeline, paths, progress=progress, desc=desc)
    ia, ib = pairs.index_pairs(paths)
    return PairDistances(squared_l2(emb[ia], emb[ib]), np.asarray(pairs.same, bool), np.asarray(pairs.folds),
                         list(paths), found, seconds, emb)


def evaluate_pairs(pipeline: Any, pairs: Any, far_target: float = 1e-3, progress: bool = True) -> PairEvaluation:
    """Embed each distinct image of ``pairs`` (a :class:`facenet.data.lfw.PairList`) once and score
    the pairs with :func:`~facenet.eval.report.report_from_distances`: with two folds or more, each
    fold's thresholds are chosen on the other folds; with one fold, accuracy is at the pipeline's
    calibrated ``threshold`` (not reported when it is None)."""
    far_target = check_scalar(far_target, "far_target", float, min_val=0.0, max_val=1.0, owner="evaluate_pairs")
    pd = pair_distances(pipeline, pairs, progress=progress, desc="LFW")
    dist, same, folds, paths, found, seconds = pd.distances, pd.same, pd.folds, pd.paths, pd.face_found, pd.seconds
    report = report_from_distances(
        dist, same, folds, far_target=far_target, calibrated_threshold=getattr(pipeline, "threshold", None),
        n_images=len(paths), no_face=int((~found).sum()), seconds=seconds, **describe_pipeline(pipeline),
    )
    failed = [str(p) for p, ok in zip(paths, found) if not ok]
    return PairEvaluation(report, dist, same, folds, failed)
