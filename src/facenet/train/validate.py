"""LFW View 1 validation during training: faces detected and aligned once, embedded per check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class ViewOneValidator:
    """Validation on LFW View 1 ``pairsDevTest.txt`` (never View 2).

    The images are detected (``detector``, YuNet by default) and aligned to the model's input size once; each call embeds
    them with the current weights and reports AUC, EER and a 10-fold cross-validated accuracy
    (folds assigned round-robin within the View 1 pairs, threshold chosen on 9 of them).
    max_pairs: use only the first max_pairs/2 same and different pairs (0: all 1,000).
    """

    def __init__(self, lfw_root: str | Path, config: Any, max_pairs: int = 0, progress: bool = True,
                 detector: str = "yunet") -> None:
        from facenet.data.lfw import read_pairs

        root = Path(lfw_root)
        pairs = read_pairs(root / "pairsDevTest.txt", root)
        if max_pairs:
            same = np.flatnonzero(pairs.same)[: max_pairs // 2]
            diff = np.flatnonzero(~pairs.same)[: max_pairs - len(same)]
            pairs = pairs.subset(np.isin(np.arange(len(pairs)), np.concatenate([same, diff])))
        self.pairs = pairs
        self.paths = pairs.unique_paths()
        self.ia, self.ib = pairs.index_pairs(self.paths)

        from tqdm import tqdm

        from facenet.align.cropper import FaceCropper

        cropper = FaceCropper.for_model(config, detector)  # the same face finding as inference and `facenet align`
        chunks = []
        for i in tqdm(range(0, len(self.paths), 64), desc="align View 1", disable=not progress, leave=False):
            chunks.append(cropper.crop_primary(self.paths[i : i + 64]).crops)
        self.crops = np.concatenate(chunks) if chunks else np.zeros((0, *config.input_size, 3), np.uint8)
        self.folds = np.arange(len(pairs)) % 10

    def __call__(self, embedder: Any) -> dict[str, float]:
        """Metrics of ``embedder`` (anything with ``embed_faces(crops) -> (N, D)``): 10-fold
        accuracy, AUC, EER and ``val_threshold``, the best-accuracy threshold on all View 1 pairs
        (``facenet export`` ships it as the model's calibrated threshold)."""
        from facenet.distance import squared_l2
        from facenet.eval.protocol import auc, best_threshold, eer, kfold_evaluate, roc_curve

        emb = embedder.embed_faces(self.crops)
        d = squared_l2(emb[self.ia], emb[self.ib])
        same = np.asarray(self.pairs.same, bool)
        fpr, tpr, _ = roc_curve(d, same)
        k = kfold_evaluate(d, same, self.folds)
        return {"val_accuracy": k.accuracy_mean, "val_auc": auc(fpr, tpr), "val_eer": eer(fpr, tpr),
                "val_threshold": best_threshold(d, same)}
