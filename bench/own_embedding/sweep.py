"""The closed-form heads' choices, scored on LFW View 1 only (no View 2 is read).

    nice -n 10 env OMP_NUM_THREADS=2 .venv/bin/python bench/own_embedding/sweep.py --data ../shared/data \
        --out out/own_embedding [--extra]

For each model (fused, fused-casia), init (pca, lda) and per-network weights (and lda_reg), the
head train.py would start from (epoch 0) is fitted on CelebA-wild and scored on View 1
(pairsDevTrain + pairsDevTest, 3,200 pairs): 1 - AUC of new pairs and of mixed pairs (A new,
B SFace), best-threshold accuracies (train.py's selection rule: the smallest sum of the two
1 - AUC). Output: ``OUT/sweep[_extra].json``, best first.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from common import MODEL_BRANCHES, celeba_train, concat  # noqa: E402

from train import DEFAULTS, initial_head, score_view1, view1  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/own_embedding"))
    ap.add_argument("--extra", action="store_true", help="train on the extra CelebA-wild photos too")
    args = ap.parse_args(argv)
    tr = celeba_train(args.data, args.out, extra=args.extra)
    z, sets = view1(args.data, args.out)
    grid = [("fused", "pca", d, 0.0, 0.1) for d in (1.0, 2.0, 3.0)]
    grid += [("fused-casia", "pca", d, c, 0.1) for d, c in itertools.product((1.0, 2.0), (0.25, 0.5, 1.0, 2.0))]
    grid += [(m, "lda", d, c, r) for m, d, c, r in itertools.product(
        ("fused-casia",), (1.0, 2.0), (0.25, 0.5, 1.0), (0.3, 1.0, 3.0, 10.0))]
    grid += [("fused", "lda", d, 0.0, r) for d, r in itertools.product((1.0, 2.0), (0.3, 1.0, 3.0, 10.0))]
    results = []
    for model, init, dw, cw, reg in grid:
        cfg = {**DEFAULTS, "model": model, "init": init, "dlib_weight": dw, "casia_weight": cw, "lda_reg": reg}
        x = concat(tr["z"], branches=MODEL_BRANCHES[model])
        w = initial_head(x, cfg, tr["labels"])
        s = score_view1(z, sets, {"W": w, "b": np.zeros(128, np.float32)})
        rec = {"model": model, "init": init, "dlib_weight": dw, "casia_weight": cw, "lda_reg": reg, **s,
               "score": s["view1_1-auc"] + s["view1_mixed_1-auc"]}
        results.append(rec)
        print(json.dumps(rec), file=sys.stderr, flush=True)
    results.sort(key=lambda r: r["score"])
    (args.out / f"sweep{'_extra' if args.extra else ''}.json").write_text(
        json.dumps({"train_set": tr["info"], "results": results}, indent=1))
    for r in results[:12]:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
