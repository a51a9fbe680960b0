"""How hard the 1M gallery benchmark's data is for nearest-neighbour search, against real faces (issue 9).

    OMP_NUM_THREADS=2 .venv/bin/python bench/ann_difficulty.py [--out out/bench] [--queries 2000]

A diagnostic: it decides nothing. It checks whether the synthetic faces of bench/realistic.py
(used by ``make bench-gallery-scale``) are harder or easier to search than real ones. It uses
LFW's 13,233 SFace embeddings and a synthetic set of the same size, fitted on them. For each set
it reports:

- the local intrinsic dimension (maximum-likelihood estimate of Levina and Bickel, over the 20
  nearest neighbours; the median over the queries);
- the median gaps between the 1st and the 2nd, and the 1st and the 10th nearest squared-L2
  distances;
- HNSW recall@1 against exact search as efSearch grows. The index is faiss ``IndexHNSWFlat``
  with M 48 and efConstruction 200, as the shipped graph. Queries are left out of the index.

Low intrinsic dimension and wide gaps make search easy (SIFT-like data). High intrinsic
dimension and narrow gaps mean the exact nearest face has to be found in a crowd.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from realistic import RealisticEmbeddings, lfw_embeddings

EF = (16, 32, 64, 128, 256)


def lid_mle(base: np.ndarray, q: np.ndarray, k: int = 20) -> float:
    """Median Levina-Bickel MLE over queries q (rows of base; each one's own hit is dropped)."""
    import faiss

    ix = faiss.IndexFlatL2(base.shape[1])
    ix.add(base)
    d2, _ = ix.search(base[q], k + 1)
    d = np.sqrt(np.maximum(d2[:, 1:], 1e-12))
    return float(np.median(-1.0 / np.mean(np.log(d[:, :-1] / d[:, -1:]), axis=1)))


def measure(x: np.ndarray, q: np.ndarray) -> dict[str, object]:
    import faiss

    base = np.ascontiguousarray(np.delete(x, q, axis=0))
    queries = np.ascontiguousarray(x[q])
    exact = faiss.IndexFlatIP(x.shape[1])
    exact.add(base)
    sims, truth = exact.search(queries, 10)
    d = 2.0 - 2.0 * sims
    hnsw = faiss.IndexHNSWFlat(x.shape[1], 48, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 200
    hnsw.add(base)
    recall = {}
    for ef in EF:
        hnsw.hnsw.efSearch = ef
        _, got = hnsw.search(queries, 1)
        recall[ef] = round(float(np.mean(got[:, 0] == truth[:, 0])), 4)
    return {"lid_mle_k20": round(lid_mle(x, q), 1), "gap_1_2": round(float(np.median(d[:, 1] - d[:, 0])), 3),
            "gap_1_10": round(float(np.median(d[:, 9] - d[:, 0])), 3), "hnsw_recall_at_1_by_ef": recall}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/bench"))
    ap.add_argument("--embeddings", type=Path, help="an NPZ with labels and plain (default: the cached LFW SFace ones)")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    labels, x = lfw_embeddings(args)
    x = x.astype(np.float32)
    rng = np.random.default_rng(args.seed)
    _, _, synthetic = RealisticEmbeddings(labels, x).gallery(rng, len(x))
    q = rng.choice(len(x), args.queries, replace=False)
    res = {"faces": len(x), "queries": args.queries, "real_lfw_sface": measure(x, q), "synthetic": measure(synthetic, q)}
    print(json.dumps(res, indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ann_difficulty.json").write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
