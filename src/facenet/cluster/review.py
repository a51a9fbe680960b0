"""Which clusters of a run to check first for two people in one: the contact sheet's top section.

A cluster that holds two people, such as two brothers merged, divides cleanly into two groups
(:func:`facenet.cluster.split.two_groups`). :func:`clusters_to_review` ranks the clusters by
that gap. It sets no threshold: CelebA-wild, the development set, has no relatives to calibrate
one on (bench/cluster_split.py). So it lists the few clusters most worth a look, whatever their
gap. On all of LFW, with each shipped default, the 10 it ranks highest all hold two or more
people, against 15-20 % of the clusters it ranks (bench/lfw_error_audit.py, a measurement;
nothing was chosen from it). ``facenet cluster split OUT CLUSTER`` cuts one on request.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from facenet.cluster.cache import EmbeddingCache, cache_key
from facenet.cluster.output import cache_of, write_run
from facenet.cluster.results import ClusterFace, ClusterRun
from facenet.cluster.sheet import write_sheet

#: Clusters listed at the top of the contact sheet.
REVIEW_TOP = 5
#: The largest cluster :func:`clusters_to_review` and ``cluster split`` look inside: average
#: linkage over n faces holds n (n - 1) / 2 distances (5,000 faces: 100 MB).
SPLIT_LIMIT = 5000


def face_embeddings(out: Path, run: ClusterRun, faces: list[ClusterFace]) -> np.ndarray | None:
    """(n, D) float64 embeddings of the faces, from the run's embedding cache; None when the
    cache is gone or lacks one of them."""
    from facenet.gallery.store import ModelIdentity

    cache_path = cache_of(out, run)
    if not faces or not cache_path.is_file():
        return None
    key = cache_key(ModelIdentity.from_dict(run.model), run.settings.get("detector", "yunet"))
    with EmbeddingCache(cache_path, key) as cache:
        got = cache.get_many({f.sha256 for f in faces})
    if any(f.sha256 not in got or f.face_index >= len(got[f.sha256]) for f in faces):
        return None
    return np.stack([got[f.sha256].embeddings[f.face_index] for f in faces]).astype(np.float64)


def clusters_to_review(out: str | Path, run: ClusterRun, top: int = REVIEW_TOP, min_size: int = 2) -> list[tuple[int, float]]:
    """[(cluster id, gap)], largest gap first (ties: the lower id), at most ``top``
    (:func:`facenet.cluster.split.rank_by_gap`). Only clusters of 2 ``min_size`` to
    ``SPLIT_LIMIT`` faces are ranked. The list is empty when the embedding cache cannot give
    the faces."""
    from facenet.cluster.split import rank_by_gap

    big = [c for c in run.clusters if 2 * min_size <= c.size <= SPLIT_LIMIT]
    x = face_embeddings(Path(out), run, [f for c in big for f in c.faces]) if big else None
    if x is None:
        return []
    labels = np.repeat([c.id for c in big], [c.size for c in big])
    return rank_by_gap(labels, x, min_size, SPLIT_LIMIT)[:top]


def publish(out: str | Path, run: ClusterRun) -> ClusterRun:
    """The run with ``check_first`` computed again, written to ``OUT/assignments.json`` and
    ``OUT/index.html``; every run and every correction ends here. Returns that run."""
    ranked = clusters_to_review(out, run)
    run = replace(run, check_first=[{"cluster": cid, "gap": round(gap, 4)} for cid, gap in ranked])
    write_run(Path(out), run)
    write_sheet(Path(out), run)
    return run

