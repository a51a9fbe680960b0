"""ROC plots, drawn with matplotlib's object API and the Agg canvas (no pyplot global state)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence, Union

import numpy as np

from facenet.eval.protocol import auc

PathLike = Union[str, os.PathLike]


def plot_roc(
    results: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    out_path: PathLike,
    title: str = "ROC",
    log_fpr: bool = False,
    min_fpr: float = 1e-4,
    dpi: int = 120,
) -> Path:
    """Draw one ROC curve per entry of ``results`` and save the figure.

    Args:
        results: label -> ``(fpr, tpr)``, two (C,) arrays (e.g. from :func:`roc_curve`). The
            legend shows each label with its AUC.
        out_path: image file to write; the format follows its suffix (png, pdf, svg, ...).
            Parent folders are created.
        title: figure title.
        log_fpr: logarithmic FPR axis (shows the low-FAR regime that VAL@FAR reports); points
            with FPR = 0 cannot be drawn there and the axis starts at ``min_fpr``.
        min_fpr: left end of the log FPR axis.
        dpi: resolution of raster output.

    Returns:
        ``out_path`` as a :class:`~pathlib.Path`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not results:
        raise ValueError("plot_roc needs at least one (fpr, tpr) curve.")
    out = Path(out_path)
    fig = Figure(figsize=(6.0, 5.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for label, (fpr, tpr) in results.items():
        x = np.asarray(fpr, dtype=np.float64)
        y = np.asarray(tpr, dtype=np.float64)
        if x.shape != y.shape or x.ndim != 1:
            raise ValueError(f"{label}: fpr and tpr must be (C,) arrays of equal length; got {x.shape}, {y.shape}.")
        order = np.lexsort((y, x))
        x, y = x[order], y[order]
        if log_fpr:
            keep = x > 0
            x, y = x[keep], y[keep]
        area = auc(fpr, tpr) if np.size(fpr) >= 2 else float("nan")
        ax.plot(x, y, label=f"{label} (AUC {area:.4f})", linewidth=1.5)
    if log_fpr:
        ax.set_xscale("log")
        ax.set_xlim(min_fpr, 1.0)
    else:
        ax.set_xlim(0.0, 1.0)
        ax.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=1.0)
    ax.set_ylim(0.0, 1.005)
    ax.set_xlabel("False accept rate (FPR)" + (", log scale" if log_fpr else ""))
    ax.set_ylabel("Validation rate (TPR)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, bbox_inches="tight")
    return out
