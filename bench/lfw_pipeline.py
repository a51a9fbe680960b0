"""LFW View 2 (6,000 pairs, 10 folds) for each pipeline configuration, side by side in one run.

    make bench        # = .venv/bin/python bench/lfw_pipeline.py --data ../shared/data --out out/bench

Configurations: YuNet + SFace with flip TTA off and on, and MTCNN + SFace. Prints a markdown
table (accuracy mean ± std, VAL@FAR=1e-3, AUC, EER, no face, images/s), writes OUT/lfw.json
(one VerificationReport.to_dict() per configuration) and OUT/lfw_roc.png (all curves on one plot).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from facenet.data.lfw import read_pairs
from facenet.eval.benchmark import evaluate_pairs
from facenet.eval.plots import plot_roc
from facenet.eval.protocol import roc_curve
from facenet.pipeline import FacePipeline

CONFIGS = {
    "yunet+sface": dict(detector="yunet", embedder="sface", flip=False),
    "yunet+sface+flip": dict(detector="yunet", embedder="sface", flip=True),
    "mtcnn+sface": dict(detector="mtcnn", embedder="sface", flip=False),
}


def pct(x: float | None, std: float | None = None) -> str:
    """A rate as a percentage ("n/a" for None), with "± std" when given."""
    if x is None:
        return "n/a"
    return f"{100 * x:.2f}%" if std is None else f"{100 * x:.2f} ± {100 * std:.2f}%"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="out/bench")
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    args = ap.parse_args(argv)
    root = Path(args.data) / "lfw"
    pairs = read_pairs(root / "pairs.txt", root)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, curves = {}, {}
    for name in args.configs:
        ev = evaluate_pairs(FacePipeline(**CONFIGS[name]), pairs)
        r = ev.report
        results[name] = r.to_dict()
        fpr, tpr, _ = roc_curve(ev.distances, ev.same)
        curves[f"{name} (AUC {r.auc:.4f})"] = (fpr, tpr)
        print(f"{name}: {pct(r.accuracy_mean, r.accuracy_std)} ({r.protocol})", file=sys.stderr)
    plot_roc(curves, out / "lfw_roc.png", title="LFW View 2, 6,000 pairs")
    (out / "lfw.json").write_text(json.dumps(results, indent=2))
    print("| pipeline | accuracy | VAL@FAR=1e-3 | AUC | EER | no face | images/s |")
    print("|---|---|---|---|---|---|---|")
    for name, m in results.items():
        ips = "n/a" if m["images_per_second"] is None else f"{m['images_per_second']:.1f}"
        print(f"| {name} | {pct(m['accuracy_mean'], m['accuracy_std'])} | {pct(m['val_mean'])} | {m['auc']:.4f} "
              f"| {pct(m['eer'])} | {m['no_face']} / {m['n_images']} | {ips} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
