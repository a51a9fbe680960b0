"""LFW View 2 (6,000 pairs, 10 folds) for each pipeline configuration, side by side in one run.

    make bench        # = .venv/bin/python bench/lfw_pipeline.py --data ../shared/data --out out/bench

Configurations: YuNet + SFace with flip TTA off and on, and MTCNN + SFace. Prints a markdown
table (accuracy mean ± std, VAL@FAR=1e-3, AUC, EER, detection failures, images/s), writes
OUT/lfw.json and OUT/lfw_roc.png (all curves on one plot).
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
        results[name] = ev.metrics
        fpr, tpr, _ = roc_curve(ev.distances, ev.same)
        curves[f"{name} (AUC {ev.metrics['auc']:.4f})"] = (fpr, tpr)
        print(f"{name}: {100 * ev.metrics['accuracy_mean']:.2f} ± {100 * ev.metrics['accuracy_std']:.2f} %", file=sys.stderr)
    plot_roc(curves, out / "lfw_roc.png", title="LFW View 2, 6,000 pairs")
    (out / "lfw.json").write_text(json.dumps(results, indent=2))
    print("| pipeline | accuracy | VAL@FAR=1e-3 | AUC | EER | no face | images/s |")
    print("|---|---|---|---|---|---|---|")
    for name, m in results.items():
        print(f"| {name} | {100 * m['accuracy_mean']:.2f} ± {100 * m['accuracy_std']:.2f}% | {100 * m['val_mean']:.2f}% | "
              f"{m['auc']:.4f} | {100 * m['eer']:.2f}% | {m['detection_failures']} | {m['images_per_second']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
