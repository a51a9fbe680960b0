"""Clustering at photo-library scale (issue 10): 1,000,000 LFW-structured embeddings with ``graph``.

    OMP_NUM_THREADS=2 .venv/bin/python bench/cluster_scale.py --n 1000000   # make bench-cluster-scale

Faces come from bench/realistic.py's ``RealisticEmbeddings`` fitted on LFW's SFace embeddings
(identity centres, per-face spread, LFW's photos-per-person, so a long tail of people with one
photo), generated in chunks. Photos: most faces are alone in their photo, but ``--shared`` of the
faces (default 15 %) are put two or three to a photo with faces of *different* people (a group
photo), so the cannot-link rule is exercised at scale; the generating identities never share a
photo, so a correct clustering loses nothing by obeying it. Clustering runs once with the shipped
SFace graph setting (``cluster_embeddings(x, groups)``, nothing set by hand; ``--options`` runs a
setting under consideration instead); reported: seconds
(k-NN graph + partition, generation excluded; wall clock and the process's CPU seconds, since a
shared machine's wall clock says little), peak RSS of the process, pairwise and BCubed
P/R/F against the generating identities, clusters found against true, cannot-link violations
(must be 0), and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

from facenet.cluster.constraints import has_conflicts
from facenet.cluster.methods import cluster_embeddings
from facenet.cluster.metrics import bcubed_prf, pairwise_prf
from realistic import RealisticEmbeddings, lfw_embeddings


def synthetic(model: RealisticEmbeddings, n: int, seed: int, chunk: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """(faces (n, D) float32 unit norm, identity per face (n,)) with LFW's photos-per-person."""
    rng = np.random.default_rng(seed)
    per = rng.choice(model.counts, size=int(n / model.counts.mean() * 1.2) + 16)  # more people than needed
    while per.sum() < n:
        per = np.concatenate([per, rng.choice(model.counts, size=len(per))])
    per = per[: int(np.searchsorted(np.cumsum(per), n)) + 1]
    per[-1] -= per.sum() - n
    owner = np.repeat(np.arange(len(per)), per)
    centres = model.identities(rng, len(per))
    x = np.empty((n, centres.shape[1]), np.float32)
    for s in range(0, n, chunk):
        x[s : s + chunk] = model.faces(rng, centres[owner[s : s + chunk]])
    perm = rng.permutation(n)  # faces of one person are not stored together
    return x[perm], owner[perm]


def photos(owner: np.ndarray, shared: float, seed: int) -> np.ndarray:
    """(n,) photo ids: ``shared`` of the faces two or three to a photo, all of different people."""
    rng = np.random.default_rng(seed + 1)
    n = len(owner)
    groups = np.arange(n, dtype=np.int64)
    pick = rng.permutation(n)[: int(shared * n)]
    s = 0
    while s < len(pick):
        size = int(rng.integers(2, 4))
        members = pick[s : s + size]
        s += size
        if len(set(owner[members].tolist())) == len(members):  # different people only
            groups[members] = groups[members[0]]
    return groups


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--shared", type=float, default=0.15, help="share of faces in photos with 2-3 faces")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/cluster"))
    ap.add_argument("--options", type=json.loads, default={},
                    help="JSON of cluster_embeddings graph options to use instead of the shipped ones (e.g. a setting "
                         "under consideration: threshold, neighbors, pair_fpir, size_power, size_limit)")
    ap.add_argument("--tag", default="", help="suffix of the result file (cluster_scale_N[_TAG].json)")
    ap.add_argument("--embeddings", help="NPZ with labels/plain(/face_found) of LFW (default: OUT/lfw_sface_plain.npz, made once)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    labels, x_lfw = lfw_embeddings(args)
    model = RealisticEmbeddings(labels, x_lfw)
    t0 = time.perf_counter()
    x, owner = synthetic(model, args.n, args.seed)
    groups = photos(owner, args.shared, args.seed)
    gen = time.perf_counter() - t0
    photo_size = np.bincount(np.unique(groups, return_inverse=True)[1].reshape(-1))
    n_multi = int(photo_size[photo_size > 1].sum())  # faces in photos with 2-3 faces
    print(f"{args.n:,} faces of {len(np.unique(owner)):,} people ({np.mean(np.bincount(owner) == 1):.0%} of people with one face), "
          f"{n_multi:,} faces in {int((photo_size > 1).sum()):,} photos of 2-3 people; generated in {gen:.0f} s", file=sys.stderr)
    load_before = os.getloadavg()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    r = cluster_embeddings(x, groups, method="graph", progress=True, **args.options)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    load_after = os.getloadavg()
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)  # the machine is shared: CPU seconds too
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    pp, pr, pf = pairwise_prf(owner, r.labels)
    bp, br, bf = bcubed_prf(owner, r.labels)
    res = {"n": args.n, "people": int(len(np.unique(owner))), "faces_sharing_a_photo": n_multi, "method": r.method,
           "threshold": r.threshold, "threshold_source": r.threshold_source, "options": r.options,
           "seconds_cluster": round(r.seconds, 1), "cpu_seconds_cluster": round(cpu, 1), "seconds_generate": round(gen, 1), "peak_rss_gib": round(rss, 2),
           "pairwise": [round(v, 4) for v in (pp, pr, pf)], "bcubed": [round(v, 4) for v in (bp, br, bf)],
           "clusters": r.n_clusters, "cannot_link_violations": int(has_conflicts(r.labels, groups).sum()),
           "threads": os.environ.get("OMP_NUM_THREADS"), "load_average_before": load_before, "load_average_after": load_after}
    (args.out / f"cluster_scale_{args.n}{'_' + args.tag if args.tag else ''}.json").write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
