"""SFace against the head models (``fused``, ``fused-casia``; and mixed) on ORL: 40 people x 10 grey 92x112 photos with head
turns, tilts and expression changes, tightly cropped (a face-finding stress test too).

    nice -n 19 env OMP_NUM_THREADS=2 .venv/bin/python bench/own_embedding/orl.py --data ../shared/data --out out/own_embedding \
        [--models sface fused fused-casia]

Every pair of the 400 photos (1,800 same-person, 78,000 different-person pairs), each system at
its LFW View 1 threshold (SFace's 1.34, each head model's calibrated one; mixed pairs at SFace's, the one an
SFace gallery holds; LFW View 1's best mixed threshold is about the same): accuracy
on the same pairs and on the different pairs, AUC, and the photos with no face found (the
pipeline's retry pass, then the counted centre-crop fallback).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from facenet.data.files import iter_images
from facenet.eval.protocol import auc, roc_curve
from facenet.models import model_config
from facenet.pipeline import FacePipeline


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/own_embedding"))
    ap.add_argument("--models", nargs="+", default=["sface", "fused", "fused-casia"])
    args = ap.parse_args(argv)
    if "sface" not in args.models:
        ap.error("--models must include sface (the mixed pairs' gallery side)")
    paths = sorted(iter_images(args.data / "orl"))
    labels = np.array([p.parent.name for p in paths])
    emb, found = {}, {}
    for name in args.models:
        r = FacePipeline("yunet", name, threads=2).represent(paths)
        emb[name], found[name] = r.embeddings, r.face_found
    i, j = np.triu_indices(len(paths), 1)
    same = labels[i] == labels[j]
    res = {"photos": len(paths), "same_pairs": int(same.sum()), "different_pairs": int((~same).sum()),
           "no_face": {k: int((~v).sum()) for k, v in found.items()}}
    systems = {"SFace": (emb["sface"], emb["sface"], model_config("sface").threshold)}
    for m in args.models:
        if m != "sface":
            systems[m] = (emb[m], emb[m], model_config(m).threshold)
            systems[f"mixed (A {m}, B SFace)"] = (emb[m], emb["sface"], model_config("sface").threshold)
    for k, (ea, eb, t) in systems.items():
        d = ((ea[i] - eb[j]) ** 2).sum(1)
        fpr, tpr, _ = roc_curve(d, same)
        res[k] = {"threshold": t, "same_accepted": float((d[same] < t).mean()),
                  "different_rejected": float((d[~same] >= t).mean()), "auc": auc(fpr, tpr)}
    (args.out / "orl.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1), file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
