"""Choosing a verification threshold on development pairs, scikit-learn style.

A pair is called "same person" when its squared L2 distance is below the threshold. The
threshold is learned, never guessed: :class:`ThresholdCalibrator` fits it on labelled pair
distances (the best-accuracy threshold, or the loosest one whose false-accept rate stays within a
bound), and :func:`calibrate` runs a pipeline over a :class:`~facenet.data.lfw.PairList` (LFW
View 1 from :func:`view1_pairs`, or a user's own labelled folder from :func:`folder_pairs`) and
fits it on the distances, with a held-out check when the pairs come in two halves.

Thresholds are chosen on development data only: View 1 (pairsDevTrain + pairsDevTest), never on
View 2 (``pairs.txt``), which is for reporting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from facenet.data.lfw import PairList, read_pairs
from facenet.errors import DataError
from facenet.eval.protocol import accuracy, best_threshold, roc_curve, val_far
from facenet.validation import check_option, check_scalar

PathLike = Union[str, os.PathLike]

#: Image suffixes :func:`folder_pairs` reads (lower case).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
#: The two LFW View 1 files, in fold order (fold 0: pairsDevTrain, fold 1: pairsDevTest).
VIEW1_FILES = ("pairsDevTrain.txt", "pairsDevTest.txt")
VIEW1_NAMES = ("pairsDevTrain", "pairsDevTest")
_TARGETS = ("accuracy", "far")
#: folder_pairs lists every possible pair up to this many, and samples without listing beyond.
_ENUMERATE_UP_TO = 200_000


class NotFittedError(ValueError, AttributeError):
    """A calibrator was used before :meth:`ThresholdCalibrator.fit` (as scikit-learn's)."""


class ThresholdCalibrator:
    """Learns the squared-L2 threshold below which a pair is called "same person".

    Args:
        target: "accuracy" (default): the threshold with the best accuracy on the fitted pairs
            (ties: the smallest, as :func:`~facenet.eval.protocol.best_threshold`). "far": the
            largest threshold whose false-accept rate on the fitted pairs is at most ``far``
            (so the one with the best true-accept rate under that bound).
        far: the false-accept bound in [0, 1). Giving it selects ``target="far"``
            (``ThresholdCalibrator(far=1e-3)``).

    ``__init__`` only stores the arguments; they are checked by :meth:`fit`. Learned attributes
    (set by :meth:`fit`, ending in ``_``): ``target_`` (the resolved target), ``threshold_``,
    ``accuracy_``, ``far_`` and ``tar_`` (accuracy, false-accept and true-accept rates at
    ``threshold_`` on the fitted pairs), ``n_pairs_``, ``n_same_``, ``n_diff_``.

    Unlike :func:`~facenet.eval.protocol.threshold_at_far` (which interpolates, as the FaceNet
    VAL@FAR protocol does, and may land one step above the target), the FAR target here is a
    guarantee on the fitted pairs: ``far_ <= far``.
    """

    def __init__(self, target: str = "accuracy", far: Optional[float] = None) -> None:
        self.target = target
        self.far = far

    # -- parameters ---------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as given."""
        return {"target": self.target, "far": self.far}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"ThresholdCalibrator({args})"

    def check_params(self) -> tuple[str, Optional[float]]:
        """The checked parameters as (target, far), the target resolved (a ``far`` selects "far");
        raises ValueError with the project's message. :meth:`fit` calls it first."""
        target = check_option(self.target, "target", _TARGETS, owner="ThresholdCalibrator")
        far = check_scalar(self.far, "far", float, min_val=0.0, max_val=1.0, include="left",
                           owner="ThresholdCalibrator", allow_none=True)
        if far is not None:
            target = "far"
        elif target == "far":
            raise ValueError("The 'far' parameter of ThresholdCalibrator must be a float in [0, 1) "
                             "when target='far'. Got None instead.")
        return target, far

    # -- learning -----------------------------------------------------------------------------
    def fit(self, distances: np.ndarray, same: np.ndarray) -> "ThresholdCalibrator":
        """Learn the threshold from labelled pairs.

        Args:
            distances: (P,) squared L2 distances (smaller = more alike).
            same: (P,) bool, True where both images show the same person; both classes needed.

        Returns:
            self, fitted. Raises :class:`~facenet.errors.DataError` when the pairs are all of one
            class (or have NaN distances), ValueError for bad parameters or shapes.
        """
        target, far = self.check_params()
        fpr, tpr, thresholds = roc_curve(distances, same)  # validates shapes, labels, finiteness
        d = np.asarray(distances, dtype=np.float64)
        s = np.asarray(same).astype(bool)
        n_same, n_diff = int(s.sum()), int((~s).sum())
        if n_same == 0 or n_diff == 0:
            raise DataError(f"Calibrating a threshold needs both same-person and different-person pairs; "
                            f"got {n_same} same and {n_diff} different.")
        if target == "accuracy":
            thr = best_threshold(d, s)
        else:
            # FAR rises with the threshold: the last candidate within the bound has the best TAR.
            ok = np.flatnonzero(fpr <= far + 1e-12)  # fpr[0] == 0, so never empty
            thr = float(thresholds[ok[-1]])
        self.target_ = target
        self.threshold_ = float(thr)
        self.tar_, self.far_ = val_far(d, s, thr)
        self.accuracy_ = accuracy(d, s, thr)
        self.n_pairs_, self.n_same_, self.n_diff_ = int(d.size), n_same, n_diff
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise NotFittedError("This ThresholdCalibrator instance is not fitted yet. Call 'fit' with "
                                 "labelled development pairs before using it.")

    def predict(self, distances: np.ndarray) -> np.ndarray:
        """(P,) bool: ``distances < threshold_`` (True: same person). distances: (P,)."""
        self._check_fitted()
        d = np.asarray(distances, dtype=np.float64)
        if d.ndim != 1:
            raise ValueError(f"distances must be a (P,) array. Got shape {d.shape} instead.")
        return d < self.threshold_

    def score(self, distances: np.ndarray, same: np.ndarray) -> float:
        """Accuracy of :meth:`predict` on (P,) distances against (P,) bool labels."""
        self._check_fitted()
        return accuracy(distances, same, self.threshold_)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``target`` and ``far_target`` (the bound, None for accuracy), ``fitted``
        and, once fitted, the learned attributes without the ``_`` (``far`` is the actual rate)."""
        if not hasattr(self, "threshold_"):
            return {"target": self.target, "far_target": self.far, "fitted": False}
        return {"target": self.target_, "far_target": self.far, "fitted": True, "threshold": self.threshold_,
                "accuracy": self.accuracy_, "far": self.far_, "tar": self.tar_, "n_pairs": self.n_pairs_,
                "n_same": self.n_same_, "n_diff": self.n_diff_}


# -- development pairs ------------------------------------------------------------------------
def view1_pairs(lfw_root: PathLike) -> PairList:
    """LFW View 1: pairsDevTrain.txt (fold 0, 2,200 pairs) then pairsDevTest.txt (fold 1, 1,000
    pairs) under the LFW image folder ``lfw_root``. Raises DataError when a file is missing."""
    root = Path(lfw_root)
    halves = [read_pairs(root / name, root) for name in VIEW1_FILES]
    return PairList(paths_a=halves[0].paths_a + halves[1].paths_a, paths_b=halves[0].paths_b + halves[1].paths_b,
                    same=np.concatenate([h.same for h in halves]),
                    folds=np.concatenate([np.full(len(h), k, np.int64) for k, h in enumerate(halves)]))


def _identities(root: Path) -> tuple[list[Path], np.ndarray]:
    """Images (sorted by identity then name) and their (N,) identity index; identities with no
    image are left out."""
    paths: list[Path] = []
    labels: list[int] = []
    for person in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        imgs = sorted(f for f in person.iterdir()
                      if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES)
        if imgs:
            labels.extend([labels[-1] + 1 if labels else 0] * len(imgs))
            paths.extend(imgs)
    return paths, np.asarray(labels, np.int64)


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(K, 2) pairs (a, b) for every a and every b in [lo[a], hi[a]), a in increasing order."""
    counts = np.maximum(hi - lo, 0)
    a = np.repeat(np.arange(lo.size), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    return np.stack([a, np.arange(a.size) - first + np.repeat(lo, counts)], 1).astype(np.int64)


def _choose(n_possible: int, n: int, rng: np.random.Generator, enumerate_all: Any, draw: Any) -> np.ndarray:
    """n distinct (a, b) index pairs (a < b) out of n_possible: a seeded sample of the enumerated
    pairs when that list is small, else seeded draws (``draw(rng, k) -> (k, 2)``) without repeats."""
    if n_possible <= _ENUMERATE_UP_TO or 2 * n >= n_possible:
        pairs = enumerate_all()
        return pairs if n >= len(pairs) else pairs[np.sort(rng.choice(len(pairs), n, replace=False))]
    seen: dict[tuple[int, int], None] = {}
    while len(seen) < n:
        for a, b in np.sort(draw(rng, 2 * n), axis=1).tolist():
            seen.setdefault((a, b), None)
    return np.asarray(sorted(list(seen)[:n]), np.int64)


def folder_pairs(root: PathLike, max_pairs: int = 6000, seed: int = 0) -> PairList:
    """Verification pairs from a labelled folder ``root/<identity>/<image>``.

    Same-identity pairs: every pair of images of one identity, or a seeded uniform sample of them
    when there are more than ``max_pairs // 2``; then as many different-identity pairs, a seeded
    uniform sample (fewer same pairs are used if there are fewer possible different pairs, so the
    two classes stay balanced). Same pairs come first, all in fold 0; images are ``.jpg``,
    ``.jpeg``, ``.png``, ``.bmp``, ``.webp``, ``.tif(f)``, ``.ppm``, ``.pgm`` files.

    Args:
        root: the folder of identity sub-folders.
        max_pairs: at most this many pairs in all (an int >= 2).
        seed: seeds both samples (same folder + seed = same pairs).

    Raises:
        DataError: the folder is missing, or has no identity with two images, or fewer than two
            identities with images.
    """
    max_pairs = check_scalar(max_pairs, "max_pairs", int, min_val=2, owner="folder_pairs")
    seed = check_scalar(seed, "seed", int, min_val=0, owner="folder_pairs")
    base = Path(root)
    if not base.is_dir():
        raise DataError(f"Calibration folder not found: {base} (expected {base}/<identity>/<image> files).")
    paths, label = _identities(base)
    sizes = np.bincount(label) if label.size else np.zeros(0, np.int64)
    n_same_possible = int((sizes * (sizes - 1) // 2).sum())
    n_diff_possible = len(paths) * (len(paths) - 1) // 2 - n_same_possible
    if sizes.size < 2 or n_same_possible == 0:
        raise DataError(f"{base}: calibration needs at least two identity sub-folders with images and one "
                        f"identity with two or more images; found {sizes.size} identities with "
                        f"{len(paths)} images.")
    n = min(n_same_possible, n_diff_possible, max_pairs // 2)
    start = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    rng = np.random.default_rng(seed)

    end = start + sizes  # images are grouped by identity: a's block is [start, end) of label[a]
    idx_all = np.arange(len(paths))

    def all_same() -> np.ndarray:
        return _ranges(idx_all + 1, end[label])  # a < b inside a's block

    def draw_same(g: np.random.Generator, k: int) -> np.ndarray:
        w = (sizes * (sizes - 1)).astype(np.float64)  # identity with probability ∝ its pair count
        ident = g.choice(sizes.size, k, p=w / w.sum())
        a = g.integers(0, sizes[ident])
        b = (a + g.integers(1, sizes[ident])) % sizes[ident]  # a different image of the same identity
        return np.stack([start[ident] + a, start[ident] + b], 1)

    def all_diff() -> np.ndarray:
        return _ranges(end[label], np.full(len(paths), len(paths)))  # b past a's block

    def draw_diff(g: np.random.Generator, k: int) -> np.ndarray:
        # a with probability ∝ its number of other-identity partners, then b uniform among them:
        # every unordered different pair is equally likely.
        others = (len(paths) - sizes[label]).astype(np.float64)
        a = g.choice(len(paths), k, p=others / others.sum())
        r = g.integers(0, len(paths) - sizes[label[a]])
        b = np.where(r < start[label[a]], r, r + sizes[label[a]])
        return np.stack([a, b], 1)

    same_idx = _choose(n_same_possible, n, rng, all_same, draw_same)
    diff_idx = _choose(n_diff_possible, n, rng, all_diff, draw_diff)
    idx = np.concatenate([same_idx, diff_idx])
    return PairList(paths_a=[paths[i] for i in idx[:, 0]], paths_b=[paths[i] for i in idx[:, 1]],
                    same=np.arange(len(idx)) < len(same_idx), folds=np.zeros(len(idx), np.int64))


# -- calibrating a pipeline -------------------------------------------------------------------
@dataclass
class CalibrationResult:
    """What :func:`calibrate` learned and measured.

    calibrator: the fitted :class:`ThresholdCalibrator` (on all pairs).
    heldout: when the pairs come in two halves (fold ids), one entry per half (``half``,
        ``n_pairs``): the threshold fitted on the other half (``fitted_on``) and the ``accuracy``,
        ``far`` and ``tar`` it gives on this one; else empty.
    distances: (P,) float32 squared L2 per pair; same: (P,) bool; folds: (P,) int.
    paths: the distinct images (N); embeddings: (N, D) float32 unit norm; face_found: (N,) bool.
    """

    calibrator: ThresholdCalibrator
    source: str
    detector: str
    embedder: str
    flip: bool
    current_threshold: float | None
    n_images: int
    no_face: int
    seconds: float
    heldout: list[dict[str, Any]]
    distances: np.ndarray
    same: np.ndarray
    folds: np.ndarray
    paths: list[Path]
    embeddings: np.ndarray
    face_found: np.ndarray

    @property
    def threshold(self) -> float:
        return self.calibrator.threshold_

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-pair arrays)."""
        return {
            **self.calibrator.to_dict(), "source": self.source, "detector": self.detector,
            "embedder": self.embedder, "flip": self.flip, "current_threshold": self.current_threshold,
            "n_images": self.n_images, "no_face": self.no_face,
            "images_per_second": round(self.n_images / self.seconds, 2) if self.seconds > 0 else None,
            "heldout": [dict(h) for h in self.heldout],
        }


def _heldout(calibrator: ThresholdCalibrator, d: np.ndarray, s: np.ndarray, folds: np.ndarray,
             names: Optional[Sequence[str]]) -> list[dict[str, Any]]:
    ids = np.unique(folds)
    if ids.size != 2:
        return []
    label = list(names) if names is not None and len(names) == 2 else [f"fold {int(f)}" for f in ids]
    out = []
    for k, fid in enumerate(ids):
        test = folds == fid
        other = ThresholdCalibrator(**calibrator.get_params()).fit(d[~test], s[~test])
        tar, far = val_far(d[test], s[test], other.threshold_)
        out.append({"half": label[k], "n_pairs": int(test.sum()), "fitted_on": label[1 - k],
                    "threshold": other.threshold_, "accuracy": other.score(d[test], s[test]), "far": far, "tar": tar})
    return out


def calibrate(pipeline: Any, pairs: PairList, calibrator: ThresholdCalibrator, progress: bool = True,
              source: str = "pairs", fold_names: Optional[Sequence[str]] = None) -> CalibrationResult:
    """Embed each distinct image of ``pairs`` once with ``pipeline`` and fit ``calibrator`` on the
    pair distances (it is fitted in place and kept in the result).

    Args:
        pipeline: a :class:`~facenet.pipeline.FacePipeline` (detector, embedder, flip).
        pairs: the development pairs (both classes); with exactly two fold ids (LFW View 1 from
            :func:`view1_pairs`) each half is also scored at the threshold fitted on the other.
        calibrator: an unfitted or fitted :class:`ThresholdCalibrator` (parameters are checked
            before any image is embedded).
        progress: show a progress bar on stderr.
        source: what the pairs are, for the report (e.g. "LFW View 1").
        fold_names: names of the two halves for the report (View 1: ``VIEW1_NAMES``); default
            "fold 0", "fold 1".
    """
    from facenet.eval.benchmark import pair_distances

    calibrator.check_params()  # bad parameters fail now, not after minutes of embedding
    pd = pair_distances(pipeline, pairs, progress=progress, desc="calibrate")
    d, s, paths, found, seconds = pd.distances, pd.same, pd.paths, pd.face_found, pd.seconds
    calibrator.fit(d, s)
    return CalibrationResult(
        calibrator=calibrator, source=source,
        detector=str(getattr(pipeline.detector, "name", type(pipeline.detector).__name__)),
        embedder=pipeline.embedder.config.name, flip=bool(pipeline.flip),
        current_threshold=None if pipeline.threshold is None else float(pipeline.threshold), n_images=len(paths), no_face=int((~found).sum()),
        seconds=float(seconds), heldout=_heldout(calibrator, d, s, np.asarray(pairs.folds), fold_names),
        distances=d, same=s, folds=np.asarray(pairs.folds), paths=list(paths), embeddings=pd.embeddings,
        face_found=np.asarray(found, bool),
    )
