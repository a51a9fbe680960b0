"""The mixed-pair threshold that ``fused`` declares for SFace (``compatible_with``), re-derived from
the cached features (bench/own_embedding/extract.py) with facenet.gallery.harmonic.fit_mixed_threshold.

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python bench/own_embedding/mixed_threshold.py \
        --data ../shared/data --out out/own_embedding [--check]

Chosen on LFW View 1 only (pairsDevTrain + pairsDevTest, 3,200 pairs), best accuracy, each pair
taken both ways round (fused photo A with SFace photo B, and SFace A with fused B): a gallery meets
both kinds (fused queries against SFace faces; SFace queries against upgraded faces), so the one
declared threshold is fitted on both. Each direction's own View 1 threshold is printed beside it.
LFW View 2 (pairs.txt) is only scored, at the View 1 threshold, never used to choose it.
--check: exit 1 unless the shipped declaration equals the re-derived threshold (to 4 decimals).
Writes OUT/mixed_threshold.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import embed, lfw_rows, pairs, sqd  # noqa: E402

from facenet.eval.calibrate import ThresholdCalibrator  # noqa: E402
from facenet.gallery.harmonic import fit_mixed_threshold  # noqa: E402
from facenet.models import model_config  # noqa: E402
from facenet.models.fused import load_head  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/own_embedding"))
    ap.add_argument("--head", type=Path, default=Path("src/facenet/models/weights/fused_head.npz"))
    ap.add_argument("--check", action="store_true", help="fail unless the shipped declaration is the re-derived one")
    args = ap.parse_args(argv)
    z = lfw_rows(args.out)
    v1 = [pairs(args.data, z, w) for w in ("view1train", "view1test")]
    v2 = pairs(args.data, z, "view2")
    if v2 is None or any(p is None for p in v1):
        raise SystemExit("LFW features are not all cached yet: run bench/own_embedding/extract.py")
    new, sf = embed(z, load_head(args.head)), z["sface"]
    a, b = np.concatenate([p["a"] for p in v1]), np.concatenate([p["b"] for p in v1])
    same = np.concatenate([p["same"] for p in v1])
    both = fit_mixed_threshold(new, sf, a, b, same)
    one_way = {"A fused, B sface": ThresholdCalibrator(target="accuracy").fit(sqd(new[a], sf[b]), same),
               "A sface, B fused": ThresholdCalibrator(target="accuracy").fit(sqd(sf[a], new[b]), same)}
    t = float(both.threshold_)
    a2, b2, s2 = v2["a"], v2["b"], v2["same"]
    view2 = {"A fused, B sface": float(((sqd(new[a2], sf[b2]) < t) == s2).mean()),
             "A sface, B fused": float(((sqd(sf[a2], new[b2]) < t) == s2).mean())}
    declared = model_config("fused").mixed_threshold("sface")
    res = {"view1_pairs": int(len(same)), "threshold_both_ways": t, "view1_accuracy_both_ways": float(both.accuracy_),
           "view1_one_way": {k: {"threshold": float(c.threshold_), "accuracy": float(c.accuracy_)} for k, c in one_way.items()},
           "view2_accuracy_at_it": view2, "declared": declared}
    (args.out / "mixed_threshold.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    if args.check and (declared is None or round(t, 4) != round(declared, 4)):
        print(f"fused declares {declared} for sface; LFW View 1 gives {t:.4f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
