"""Calibrate a model's verification threshold on LFW View 1 (never on View 2).

    .venv/bin/python bench/calibrate.py --data ../shared/data [--detector yunet] [--embedder sface] [--flip]

Embeds every image of pairsDevTrain.txt + pairsDevTest.txt (3,200 pairs), picks the squared-L2
threshold with the best accuracy on all of them, and prints it with the View 1 accuracy and the
accuracy on each half at the threshold chosen on the other half.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from facenet.data.lfw import read_pairs
from facenet.distance import squared_l2
from facenet.eval.benchmark import embed_paths
from facenet.eval.protocol import accuracy, best_threshold
from facenet.pipeline import FacePipeline


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--detector", default="yunet")
    ap.add_argument("--embedder", default="sface")
    ap.add_argument("--flip", action="store_true")
    args = ap.parse_args(argv)
    root = Path(args.data) / "lfw"
    halves = [read_pairs(root / f, root) for f in ("pairsDevTrain.txt", "pairsDevTest.txt")]
    pipe = FacePipeline(detector=args.detector, embedder=args.embedder, flip=args.flip)
    paths = sorted(set(halves[0].unique_paths()) | set(halves[1].unique_paths()))
    emb, found, secs = embed_paths(pipe, paths, desc="View 1")
    dists, sames = [], []
    for h in halves:
        ia, ib = h.index_pairs(paths)
        dists.append(squared_l2(emb[ia], emb[ib]))
        sames.append(np.asarray(h.same, bool))
    d_all, s_all = np.concatenate(dists), np.concatenate(sames)
    thr = best_threshold(d_all, s_all)
    cross = [accuracy(dists[1 - k], sames[1 - k], best_threshold(dists[k], sames[k])) for k in (0, 1)]
    out = {
        "detector": args.detector, "embedder": args.embedder, "flip": args.flip,
        "threshold": round(float(thr), 4),
        "view1_accuracy_at_threshold": round(accuracy(d_all, s_all, thr), 4),
        "devtest_acc_with_devtrain_threshold": round(cross[0], 4),
        "devtrain_acc_with_devtest_threshold": round(cross[1], 4),
        "n_pairs": int(len(d_all)), "n_images": len(paths), "no_face": int((~found).sum()),
        "images_per_second": round(len(paths) / secs, 1),
    }
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
