"""Verification metrics, reports, threshold calibration and plots. Importing this package does
not import matplotlib: :func:`plot_roc` loads it on first use. (The function that calibrates a
pipeline on pairs is ``facenet.eval.calibrate.calibrate``: not re-exported here, where its name
would hide the module.)"""

from __future__ import annotations

from typing import Any

from facenet.eval.calibrate import CalibrationResult, NotFittedError, ThresholdCalibrator, folder_pairs, view1_pairs
from facenet.eval.protocol import (
    KFoldResult,
    accuracy,
    auc,
    best_threshold,
    eer,
    kfold_evaluate,
    roc_curve,
    threshold_at_far,
    val_far,
)
from facenet.eval.report import FoldRow, VerificationReport, report_from_distances

__all__ = [
    "CalibrationResult", "FoldRow", "KFoldResult", "NotFittedError", "ThresholdCalibrator", "folder_pairs",
    "view1_pairs", "VerificationReport", "accuracy", "auc", "best_threshold", "eer", "kfold_evaluate",
    "plot_roc", "report_from_distances", "roc_curve", "threshold_at_far", "val_far",
]


def __getattr__(name: str) -> Any:
    if name == "plot_roc":
        from facenet.eval.plots import plot_roc

        return plot_roc
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
