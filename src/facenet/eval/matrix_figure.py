"""The FaceNet paper's Figure 1: faces with the pairwise distances between them."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def plot_distance_matrix(crops: np.ndarray, distances: np.ndarray, threshold: float, out_path: str | Path,
                         labels: Sequence[str] | None = None, title: str = "") -> Path:
    """Save a figure: aligned faces along both axes, each cell the squared-L2 distance, green
    when below ``threshold`` (same person) and red otherwise.

    crops: (N, H, W, 3) uint8 aligned faces. distances: (N, N) squared L2. Returns the path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(crops)
    size = max(4.0, 1.1 * (n + 1))
    fig = Figure(figsize=(size, size), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xlim(-1.5, n - 0.5)
    ax.set_ylim(n - 0.5, -1.5)
    ax.set_aspect("equal")
    ax.axis("off")
    for i in range(n):
        for x, y in ((i, -1), (-1, i)):  # header row and header column
            ax.imshow(crops[i], extent=(x - 0.46, x + 0.46, y + 0.46, y - 0.46), interpolation="bilinear")
        for j in range(n):
            d = float(distances[i, j])
            colour = "#2e7d32" if d < threshold else "#c62828"
            ax.add_patch(_cell(j, i, colour, alpha=0.18 if i != j else 0.05))
            ax.text(j, i, f"{d:.2f}", ha="center", va="center", fontsize=9, color=colour, weight="bold")
    if labels is not None:
        for i, lab in enumerate(labels):
            ax.text(-1.52, i, lab[:24], ha="right", va="center", fontsize=7)
    ax.set_title(title or f"squared L2 distance (green: < {threshold:.2f}, same person)", fontsize=10, pad=12)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    return out


def _cell(x: float, y: float, colour: str, alpha: float):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor=colour, alpha=alpha, edgecolor="white")
