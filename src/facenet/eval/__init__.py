"""Verification metrics and plots. Importing this package does not import matplotlib:
:func:`plot_roc` loads it on first use."""

from __future__ import annotations

from typing import Any

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
from facenet.eval.calibrate import CalibrationResult, NotFittedError, ThresholdCalibrator, calibrate, folder_pairs, view1_pairs
from facenet.eval.report import FoldRow, VerificationReport, report_from_distances

__all__ = [
    "CalibrationResult", "FoldRow", "KFoldResult", "NotFittedError", "ThresholdCalibrator", "calibrate", "folder_pairs",
    "view1_pairs", "VerificationReport", "accuracy", "auc", "best_threshold", "eer", "kfold_evaluate",
    "plot_roc", "report_from_distances", "roc_curve", "threshold_at_far", "val_far",
]


def __getattr__(name: str) -> Any:
    if name == "plot_roc":
        from facenet.eval.plots import plot_roc

        return plot_roc
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
