"""A split step for merged relatives, tried on CelebA-wild only (issue 10). Not shipped.

    OMP_NUM_THREADS=2 .venv/bin/python bench/cluster_split.py [--model sface] [--draws 10]

Where it comes from: bench/lfw_error_audit.py found that one merge, Jeb Bush's 11 photos into
George W. Bush's 530, makes most of the false pairs of every shipped default on LFW. Inside that
cluster the two brothers are two tight groups: mean within-group distance 0.61 and 0.62, mean
between them 1.20, under the fixed threshold.

The step (:func:`facenet.cluster.split.split_labels`) runs after the shipped ``graph`` default.
Inside each cluster of at least 2m faces it finds the two groups of m or more faces that
average linkage divides it into, and their gap: the mean between-distance minus the mean of
their two mean within-distances (:func:`facenet.cluster.split.two_groups`). When the gap is
``gap`` or more, the cluster is cut there, and both parts are tried again. A cut never joins
faces, so the photo rule holds. The same cut, on request and for one cluster, is
``facenet cluster split OUT CLUSTER``.

Only CelebA-wild is read: the same split, draws and objective as ``bench/cluster_lfw.py
calibrate``, over the grid m in MIN_SIZES and gap in GAPS. The setting would ship only if some
grid point beat the default's objective. None does, and the result is recorded in
bench/cluster_RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from cluster_lfw import MODELS, draws, lfw_counts, memo_knn, objective
from facenet.cluster.methods import cluster_embeddings
from facenet.cluster.split import split_labels
from identify_common import celeba_dev

MIN_SIZES = (3, 5, 8)
GAPS = (0.3, 0.4, 0.5, 0.6, 0.7)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out-identify", type=Path, default=Path("out/identify"))
    ap.add_argument("--model", default="sface", choices=list(MODELS))
    ap.add_argument("--draws", type=int, default=10)
    args = ap.parse_args(argv)
    embedder, emb = MODELS[args.model]
    dev = celeba_dev(args.data, args.out_identify, embedder)
    sets = draws(dev["labels"], lfw_counts(args.data), args.draws) + [np.arange(len(dev["labels"]))]
    x, labels = dev[emb], dev["labels"]
    memo_knn()
    base = [cluster_embeddings(x[sel], method="graph", model=args.model).labels for sel in sets]
    rows = [{"setting": "shipped default", **objective(labels, sets, base)}]
    for m in MIN_SIZES:
        for gap in GAPS:
            preds = [split_labels(b, x[sel], m, gap) for b, sel in zip(base, sets)]
            cut = sum(len(np.unique(p)) - len(np.unique(b)) for p, b in zip(preds, base))
            rows.append({"setting": f"split m={m} gap={gap}", "cuts": cut, **objective(labels, sets, preds)})
    for r in rows:
        print(json.dumps(r))
    top = max(rows[1:], key=lambda r: r["objective"])
    verdict = "beats" if top["objective"] > rows[0]["objective"] else "does not beat"
    print(f"best split {top['setting']} ({top['objective']}) {verdict} the default ({rows[0]['objective']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
