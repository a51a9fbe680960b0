"""``cluster_embeddings``: one entry point for every clustering method, with the cannot-link rule.

Methods (distances are squared L2 between unit embeddings, 0..4):

* ``graph`` (default, scales to millions): a FAISS k-NN graph, then a partition
  (:mod:`facenet.cluster.graph`: graph-restricted average linkage, single linkage, or Chinese
  whispers), each refusing to join two faces of one photo. With ``pair_fpir``, average linkage
  with a size-aware limit (:func:`facenet.cluster.graph.merge_limit`): ``threshold + (single -
  threshold) (n_a n_b)^-size_power``, or with ``size_limit`` T ``min(threshold, T + (single - T)
  (n_a n_b)^-size_power)`` (the size term then only tightens merges of small clusters), with
  ``single`` = :func:`single_threshold` (the gallery's impostor model at the number of faces N,
  solved for ``pair_fpir``: the limit for two single faces falls as N grows). ``size_rule``
  "merge" applies it to every merge; "detach" keeps the plain merges at ``threshold`` and then
  lets every face over the limit for one face joining the rest of its cluster leave it
  (:func:`facenet.cluster.graph.detach`). The shipped graph entry says which rule is the default
  (``rule``; bench/cluster_RESULTS.md, Session 3), the others are stored beside it.
* ``agglomerative``: SciPy's average linkage (``scipy.cluster.hierarchy.linkage`` on the condensed
  squared-L2 matrix, cut at the threshold). O(N^2) memory: refused above ``LIMITS``.
* ``kmeans``: scikit-learn's ``KMeans`` with ``k`` clusters (no threshold).
* ``dbscan``: scikit-learn's ``DBSCAN``, ``eps`` = sqrt(threshold) (Euclidean), calibrated
  ``min_samples``; noise is -1.
* ``hdbscan``: scikit-learn's ``HDBSCAN`` (``min_cluster_size`` 2, calibrated ``min_samples``
  and ``cluster_selection_method``); it takes no distance threshold (scikit-learn 1.9.1's
  ``cluster_selection_epsilon`` fails inside ``epsilon_search`` on face embeddings, so it is not
  used); noise is -1.

The four library methods know nothing of photos: their clusters then go through
:func:`~facenet.cluster.constraints.split_violations`, which splits every cluster holding two
faces of one photo. ``min_size``: a cluster with fewer faces becomes -1 (unclustered). Cluster
ids are renumbered 0..C-1, largest first (ties: the cluster whose first face comes first).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from facenet.cluster.constraints import check_groups, split_violations
from facenet.cluster.threshold import default_options, default_threshold
from facenet.errors import FacenetError, UncalibratedError, UsageError
from facenet.validation import check_option, check_scalar

__all__ = ["METHODS", "LIMITS", "ClusterResult", "TooLargeError", "cluster_embeddings", "default_threshold", "finish_labels",
           "impostor_model", "single_threshold"]

METHODS = ("graph", "agglomerative", "kmeans", "dbscan", "hdbscan")
#: The most faces each O(N^2)-ish method accepts (memory or time); graph has no limit.
LIMITS = {"agglomerative": 30_000, "hdbscan": 50_000, "dbscan": 200_000, "kmeans": 200_000}


class TooLargeError(UsageError):
    """An O(N^2) method was asked to cluster more faces than its stated limit."""


@dataclass(frozen=True)
class ClusterResult:
    """labels: (N,) int64, -1 = unclustered (cluster under min_size, or noise); threshold: the
    squared-L2 threshold used (None for kmeans); threshold_source: where it came from."""

    labels: np.ndarray
    method: str
    threshold: float | None
    threshold_source: str
    seconds: float
    n_clusters: int
    options: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "threshold": self.threshold, "threshold_source": self.threshold_source,
                "seconds": self.seconds, "n_clusters": self.n_clusters, "options": dict(self.options or {}),
                "labels": self.labels.tolist()}


def _check_embeddings(embeddings: Any) -> np.ndarray:
    x = np.asarray(embeddings)
    if x.ndim != 2 or x.dtype.kind not in "fiu":
        raise ValueError(f"The 'embeddings' parameter of cluster_embeddings must be an (N, D) float array. "
                         f"Got {x.dtype} array of shape {x.shape} instead.")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError("The 'embeddings' parameter of cluster_embeddings must be finite. Got NaN or inf instead.")
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def finish_labels(labels: np.ndarray, min_size: int = 1) -> np.ndarray:
    """Clusters under ``min_size`` -> -1; the rest renumbered 0..C-1 largest first (ties: first
    face first). labels: (N,) ints, -1 kept."""
    labels = np.asarray(labels, np.int64)
    out = np.full(len(labels), -1, np.int64)
    keep = labels >= 0
    if not keep.any():
        return out
    ids, first, inv, size = np.unique(labels[keep], return_index=True, return_inverse=True, return_counts=True)
    pos = np.flatnonzero(keep)[first]
    order = np.lexsort((pos, -size))  # largest first, then by first face
    rank = np.empty(len(ids), np.int64)
    rank[order] = np.arange(len(ids))
    new = rank[inv.reshape(-1)]
    new[size[inv.reshape(-1)] < min_size] = -1
    out[keep] = new
    if min_size > 1:  # close the gaps the dropped clusters left
        k = out >= 0
        out[k] = np.unique(out[k], return_inverse=True)[1].reshape(-1)
    return out


def cluster_embeddings(embeddings: Any, groups: Any = None, *, method: str = "graph", threshold: float | None = None,
                       k: int | None = None, min_size: int = 1, model: str = "sface", seed: int = 0,
                       progress: bool = False, neighbors: int | None = None, partition: str | None = None,
                       pair_fpir: float | None = None, size_power: float | None = None,
                       size_limit: float | None = None, size_rule: str | None = None,
                       attach_limit: float | None = None) -> ClusterResult:
    """Cluster faces by person.

    embeddings: (N, D) float32 unit norm (re-normalised here). groups: (N,) int photo id per face
    (faces with the same id never share a cluster); None = every face its own photo.
    method: one of ``METHODS``. threshold: squared-L2 distance (None: the calibrated value for
    ``model``; ignored by kmeans). k: kmeans' number of clusters (required there).
    min_size: clusters with fewer faces become -1. neighbors / partition: graph only (the k of
    the k-NN graph, and one of :data:`facenet.cluster.graph.PARTITIONS`); None = calibrated.
    pair_fpir / size_power: graph ``average`` only, the size-aware merge limit (module docstring),
    off when ``pair_fpir`` is None; size_power None: the calibrated one with no threshold given,
    else 1. size_limit: the size-aware limit's value for many pairs (the T of
    :func:`facenet.cluster.graph.merge_limit`; None: ``threshold``, or the calibrated one with no
    threshold given); ``threshold`` caps every merge limit, so with size_limit over it the
    size term only tightens merges of small clusters, and clusters with many pairs between them
    merge under ``threshold`` as with the fixed rule. size_rule: ``"merge"`` (None's default, or
    the calibrated one): the size-aware limit decides every merge; ``"detach"``: plain average
    linkage at ``threshold`` first (its clusters as with the fixed rule), then every face whose
    average distance to the rest of its cluster is at or over the limit for one face joining
    them becomes a single face (:func:`facenet.cluster.graph.detach`). A calibrated setting with
    ``pair_fpir`` turns the size-aware limit on by itself. attach_limit: graph only, a last step in
    which every face left alone joins the nearest cluster of two or more faces (among its k-NN
    neighbours' clusters) whose normalised mean face is within this squared-L2 distance, photo
    rule kept (:func:`facenet.cluster.graph.attach`); None: the calibrated entry's when no threshold
    is given and it has one (no shipped entry has: opt-in, ``bench/cluster_attach.py``), else off;
    0 turns it off.
    Returns a :class:`ClusterResult`. Raises ValueError on bad parameters, :class:`TooLargeError`
    when an O(N^2) method gets more faces than ``LIMITS`` allows,
    :class:`~facenet.errors.UncalibratedError` when no threshold is given and none is shipped.
    """
    owner = "cluster_embeddings"
    method = check_option(method, "method", METHODS, owner=owner)
    x = _check_embeddings(embeddings)
    n = len(x)
    g = check_groups(groups, n, owner)
    min_size = check_scalar(min_size, "min_size", int, min_val=1, owner=owner)
    seed = check_scalar(seed, "seed", int, min_val=0, owner=owner)
    if n > LIMITS.get(method, n):
        raise TooLargeError(f"method {method!r} is limited to {LIMITS[method]:,} faces (O(N^2) memory or time); "
                            f"got {n:,}: use method 'graph', which scales to millions")
    opts: dict[str, Any] = {}
    source = "given"
    if method == "hdbscan":
        if threshold is not None:
            raise ValueError("The 'threshold' parameter of cluster_embeddings must be None for method 'hdbscan' "
                             f"(it has no distance threshold). Got {threshold!r} instead.")
        try:
            opts = default_options(model, method)
            source = str(opts["source"])
        except UsageError:
            source = "none (hdbscan defaults: min_samples 1, eom)"
    elif method == "kmeans":
        if k is None:
            raise ValueError("The 'k' parameter of cluster_embeddings must be an int in [1, inf) for method 'kmeans'. "
                             "Got None instead.")
        k = check_scalar(k, "k", int, min_val=1, max_val=max(n, 1), owner=owner)
        threshold, source = None, "none (kmeans takes k)"
    else:
        threshold = check_scalar(threshold, "threshold", float, min_val=0.0, max_val=4.0, include="right",
                                 owner=owner, allow_none=True)
        try:
            opts = default_options(model, method)
        except UsageError:
            if threshold is None:
                raise
        if threshold is None:
            threshold, source = float(opts["threshold"]), str(opts["source"])
    t0 = time.perf_counter()
    if n == 0:
        labels = np.zeros(0, np.int64)
    elif method == "graph":
        from facenet.cluster.graph import PARTITIONS

        neighbors = check_scalar(neighbors if neighbors is not None else opts.get("neighbors", 32), "neighbors", int,
                                 min_val=1, owner=owner)
        partition = check_option(partition if partition is not None else opts.get("partition", "average"),
                                 "partition", PARTITIONS, owner=owner)
        calibrated = source != "given"
        if pair_fpir is None and calibrated:
            pair_fpir = opts.get("pair_fpir")
        if size_power is None:
            size_power = opts.get("size_power", 1.0) if calibrated else 1.0
        if size_limit is None and calibrated:
            size_limit = opts.get("size_limit")
        if size_rule is None:
            size_rule = opts.get("size_rule", "merge") if calibrated else "merge"
        if attach_limit is None and calibrated:
            attach_limit = opts.get("attach_limit")
        attach_limit = check_scalar(attach_limit, "attach_limit", float, min_val=0.0, max_val=4.0, owner=owner, allow_none=True)
        if attach_limit == 0.0:
            attach_limit = None
        single = None
        if pair_fpir is not None and partition == "average":
            pair_fpir = check_scalar(pair_fpir, "pair_fpir", float, min_val=0.0, max_val=1.0, include="neither", owner=owner)
            size_power = check_scalar(size_power, "size_power", float, min_val=0.0, include="neither", owner=owner)
            single = single_threshold(model, n, pair_fpir, threshold)
            size_limit = check_scalar(size_limit, "size_limit", float, min_val=0.0, max_val=4.0, include="right", owner=owner,
                                      allow_none=True)
            size_rule = check_option(size_rule, "size_rule", ("merge", "detach"), owner=owner)
        else:
            size_limit, size_rule = None, None
        labels = _graph(x, g, threshold, neighbors, partition, seed, progress, single, float(size_power), size_limit,
                        size_rule == "detach", attach_limit)
        opts = {"neighbors": neighbors, "partition": partition}
        if attach_limit is not None:
            opts["attach_limit"] = attach_limit
        if single is not None:
            opts.update(pair_fpir=pair_fpir, size_power=size_power, single_threshold=round(single, 6))
            if size_limit is not None:
                opts["size_limit"] = size_limit
            if size_rule == "detach":
                opts["size_rule"] = size_rule
    else:
        labels, opts = _library(method, x, g, threshold, k, opts, seed)
    labels = finish_labels(labels, min_size)
    seconds = time.perf_counter() - t0
    return ClusterResult(labels=labels, method=method, threshold=threshold, threshold_source=source, seconds=seconds,
                         n_clusters=int(labels.max()) + 1 if (labels >= 0).any() else 0,
                         options={kk: v for kk, v in opts.items() if kk not in ("source", "threshold")})


def single_threshold(model: str, n: int, pair_fpir: float, threshold: float) -> float:
    """The merge limit of two single faces among ``n``: the distance under which a face finds a
    false partner among the n - 1 others with probability ``pair_fpir``, as the gallery's
    impostor model for ``model`` predicts (:func:`impostor_model`;
    :meth:`facenet.gallery.impostor.ImpostorModel.threshold`: the limit falls as the collection
    grows), capped at ``threshold``. Raises :class:`~facenet.errors.UncalibratedError` for a
    model without one."""
    return min(float(threshold), impostor_model(model).threshold(max(n - 1, 1), pair_fpir))


def impostor_model(model: str) -> Any:
    """The impostor model a gallery of ``model`` ("sface", "fused", "sface+flip", ...: a
    registered name, "+flip" for flip TTA) uses without a calibration of its own: the one shipped
    for it (:func:`facenet.gallery.auto_threshold.shipped_model`), else the one shipped for a model
    it is declared harmonic with, rescaled by the two verification thresholds' ratio
    (:func:`facenet.gallery.auto_threshold.borrowed`: ``fused`` and ``fused-casia`` get SFace's,
    with flip SFace+flip's). Raises :class:`~facenet.errors.UncalibratedError` when there is none."""
    from facenet.gallery.auto_threshold import borrowed, shipped_model
    from facenet.gallery.impostor import SHIPPED_MODELS
    from facenet.gallery.store import ModelIdentity
    from facenet.models.registry import model_config

    name, flip = (model[: -len("+flip")], True) if model.endswith("+flip") else (model, False)
    try:
        cfg = model_config(name)
    except (FacenetError, KeyError, ValueError, OSError):  # as facenet.gallery.harmonic reads configs
        cfg = None
    if cfg is not None:
        identity = ModelIdentity(name, cfg.weights.sha256 if cfg.weights is not None else "", int(cfg.embedding_size), flip)
        shipped = shipped_model(identity)
        if shipped is not None:
            return shipped[1]
        rescaled = borrowed(identity)
        if rescaled is not None:
            return rescaled[0]
    raise UncalibratedError(f"no impostor model for {model!r} (shipped: {', '.join(sorted(SHIPPED_MODELS))}, and the models "
                            "declared harmonic with one of them): give --threshold for plain average linkage")


def _graph(x: np.ndarray, g: np.ndarray, threshold: float, neighbors: int, partition: str, seed: int,
           progress: bool, single: float | None = None, power: float = 1.0, size_limit: float | None = None,
           detach: bool = False, attach_limit: float | None = None) -> np.ndarray:
    from facenet.cluster import graph

    steps = ["k-NN graph", "edges", f"partition ({partition})"] + (["attach"] if attach_limit is not None else [])
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(steps), desc="clustering", unit="step", leave=False)
    nbr, dist = graph.knn(x, neighbors, seed=seed)
    if bar is not None:
        bar.update()
    i, j, d = graph.knn_edges(nbr, dist)
    del dist
    if bar is not None:
        bar.update()
    n = len(x)
    if partition == "components":
        labels = graph.components(n, i, j, d, threshold, g)
    elif partition == "average":
        limit = threshold if size_limit is None else size_limit  # the size-aware limit tends to it, capped at threshold
        if detach and single is not None:  # the fixed rule's clusters, then faces over the limit leave them
            labels = graph.average(n, i, j, d, threshold, g, x)
            labels = graph.detach(labels, x, limit, single, power, cap=threshold)
        else:
            labels = graph.average(n, i, j, d, limit, g, x, single=single, power=power,
                                   cap=None if size_limit is None else threshold)
    else:
        labels = graph.whispers(n, i, j, d, threshold, g, x, seed=seed)
    if bar is not None:
        bar.update()
    if attach_limit is not None:  # faces left alone join the nearest cluster's mean face when near enough
        labels = graph.attach(labels, x, nbr, attach_limit, g)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return labels


def _library(method: str, x: np.ndarray, g: np.ndarray, threshold: float | None, k: int | None, opts: dict[str, Any],
             seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The scikit-learn / SciPy methods, then the cannot-link split."""
    used: dict[str, Any] = {}
    if len(x) == 1:
        return np.zeros(1, np.int64), used
    if method == "agglomerative":
        from scipy.cluster.hierarchy import fcluster, linkage
        from scipy.spatial.distance import pdist

        z = linkage(pdist(x.astype(np.float64), "sqeuclidean"), method="average")
        labels = fcluster(z, np.nextafter(threshold, 0.0), criterion="distance").astype(np.int64) - 1  # strict <
        used = {"linkage": "average"}
    elif method == "kmeans":
        from sklearn.cluster import KMeans

        labels = KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(x).astype(np.int64)
        used = {"k": k}
    elif method == "dbscan":
        from sklearn.cluster import DBSCAN

        ms = int(opts.get("min_samples", 1))
        labels = DBSCAN(eps=float(np.sqrt(threshold)), min_samples=ms).fit_predict(x).astype(np.int64)
        used = {"min_samples": ms}
    else:
        from sklearn.cluster import HDBSCAN

        ms = int(opts.get("min_samples", 1))
        sel = str(opts.get("cluster_selection_method", "eom"))
        labels = HDBSCAN(min_cluster_size=2, min_samples=ms, cluster_selection_method=sel, copy=True).fit_predict(x).astype(np.int64)
        used = {"min_samples": ms, "min_cluster_size": 2, "cluster_selection_method": sel}
    noise = labels < 0
    labels[noise] = -1
    return split_violations(labels, g, x), used
