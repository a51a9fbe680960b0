"""The learning curve of a run: training loss (and active-triplet fraction) and validation metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


def plot_learning_curve(history: Sequence[dict[str, Any]], out_path: str | Path, title: str = "") -> Path:
    """Save a PNG: loss per logged step (left axis) and View 1 validation AUC / accuracy (right)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    train = [h for h in history if "loss" in h]
    val = [h for h in history if "val_auc" in h]
    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if train:
        ax.plot([h["step"] for h in train], [h["loss"] for h in train], color="#1565c0", lw=1, label="triplet loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss", color="#1565c0")
    if val:
        ax2 = ax.twinx()
        ax2.plot([h["step"] for h in val], [h["val_accuracy"] for h in val], "o-", color="#2e7d32", label="View 1 accuracy")
        ax2.plot([h["step"] for h in val], [h["val_auc"] for h in val], "s--", color="#ef6c00", label="View 1 AUC")
        ax2.set_ylabel("LFW View 1")
        ax2.legend(loc="lower right", fontsize=8)
    ax.set_title(title or "training", fontsize=10)
    ax.grid(alpha=0.3)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    return out
