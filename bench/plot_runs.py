"""Compare training runs: LFW View 1 accuracy and AUC per step, one line per run.

    .venv/bin/python bench/plot_runs.py runs/mfn_semihard runs/mfn_batch_hard runs/mfn_batch_all --out out/ablation.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", default="out/runs.png")
    args = ap.parse_args(argv)
    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, 2, i + 1) for i in range(2)]
    for run in args.runs:
        hist = [h for h in json.loads((Path(run) / "history.json").read_text()) if "val_auc" in h]
        for ax, key in zip(axes, ("val_accuracy", "val_auc")):
            ax.plot([h["step"] for h in hist], [h[key] for h in hist], "o-", label=Path(run).name)
    for ax, title in zip(axes, ("LFW View 1 accuracy (10-fold)", "LFW View 1 AUC")):
        ax.set_xlabel("step")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
