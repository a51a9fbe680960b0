"""Labeled Faces in the Wild: locating the data and parsing the pair protocol files strictly.

Layout (deep-funneled LFW, as ``facenet data lfw --download DIR`` leaves it)::

    <data_dir>/lfw/<Name>/<Name>_<NNNN>.jpg
    <data_dir>/lfw/pairs.txt            View 2: header "10 300", 10 folds x (300 same + 300 diff)
    <data_dir>/lfw/pairsDevTrain.txt    View 1: header "1100", 1100 same then 1100 diff
    <data_dir>/lfw/pairsDevTest.txt     View 1: header "500", 500 same then 500 diff

Pair lines are ``name i j`` (same person) or ``name1 i name2 j`` (different people), fields
separated by whitespace; image ``i`` of ``name`` is ``<root>/<name>/<name>_<i:04d>.jpg``.

:func:`read_pairs` validates every line and refuses the file on the first problem (a wrong field
count, a non-integer index, a wrong number of lines, a missing image), naming the file and the
line: skipping a bad line silently would misalign every fold after it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from facenet.errors import DataError

PathLike = Union[str, os.PathLike]

_INDEX_RE = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class PairList:
    """A list of verification pairs.

    Attributes:
        paths_a: (P,) first image of each pair.
        paths_b: (P,) second image of each pair.
        same: (P,) bool, True where both images show the same person.
        folds: (P,) int, fold index in ``0 .. n_folds - 1`` (View 1 files: all 0).
    """

    paths_a: list[Path]
    paths_b: list[Path]
    same: np.ndarray
    folds: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.paths_a)
        if len(self.paths_b) != n or self.same.shape != (n,) or self.folds.shape != (n,):
            raise ValueError(
                f"PairList fields disagree in length: paths_a {n}, paths_b {len(self.paths_b)}, "
                f"same {self.same.shape}, folds {self.folds.shape}."
            )

    def __len__(self) -> int:
        return len(self.paths_a)

    @property
    def n_folds(self) -> int:
        """Number of distinct fold indices (1 for a View 1 file, 0 for an empty list)."""
        return int(np.unique(self.folds).size)

    def subset(self, mask: np.ndarray) -> "PairList":
        """The pairs where the (P,) bool ``mask`` is True (fold indices are kept as they are)."""
        m = np.asarray(mask, dtype=bool)
        if m.shape != (len(self),):
            raise ValueError(f"mask must be ({len(self)},) bool; got {m.shape}.")
        keep = np.flatnonzero(m)
        return PairList(
            paths_a=[self.paths_a[i] for i in keep], paths_b=[self.paths_b[i] for i in keep],
            same=self.same[keep], folds=self.folds[keep],
        )

    def unique_paths(self) -> list[Path]:
        """Every image used by some pair, sorted and without repeats: embed these once."""
        return sorted(set(self.paths_a) | set(self.paths_b))

    def index_pairs(self, paths: Sequence[PathLike]) -> tuple[np.ndarray, np.ndarray]:
        """Where each pair's images sit in ``paths`` (e.g. the rows of an embedding matrix).

        Returns ``(ia, ib)``, two (P,) int64 arrays with ``paths[ia[k]] == paths_a[k]`` and
        ``paths[ib[k]] == paths_b[k]``. Raises :class:`DataError` if an image is not in ``paths``.
        """
        where = {Path(p): i for i, p in enumerate(paths)}
        try:
            ia = np.fromiter((where[p] for p in self.paths_a), np.int64, len(self))
            ib = np.fromiter((where[p] for p in self.paths_b), np.int64, len(self))
        except KeyError as exc:
            raise DataError(f"Image {exc.args[0]} of a pair is not in the given path list.") from None
        return ia, ib


def _image_path(root: Path, name: str, idx: int) -> Path:
    return root / name / f"{name}_{idx:04d}.jpg"


def _parse_header(fields: list[str], where: str) -> tuple[int, int, str]:
    """Return (n_folds, n_per_fold, description) from the header fields."""
    if len(fields) not in (1, 2) or not all(_INDEX_RE.fullmatch(f) for f in fields):
        raise DataError(
            f"{where}: bad header {' '.join(fields)!r}: expected 'n_folds n_per_fold' "
            "(View 2, e.g. '10 300') or a single pair count 'N' (View 1, e.g. '1100')."
        )
    values = [int(f) for f in fields]
    if min(values) <= 0:
        raise DataError(f"{where}: bad header {' '.join(fields)!r}: counts must be positive.")
    if len(values) == 2:
        n_folds, n_per = values
        desc = f"{n_folds} folds x ({n_per} same + {n_per} different)"
        return n_folds, n_per, desc
    return 1, values[0], f"{values[0]} same + {values[0]} different"


def read_pairs(pairs_file: PathLike, root: PathLike, check_exists: bool = True) -> PairList:
    """Parse an LFW pairs file (View 2 ``pairs.txt`` or View 1 ``pairsDev*.txt``) strictly.

    The format is detected from the header: two integers ``n_folds n_per_fold`` (View 2: each fold
    is ``n_per_fold`` same lines followed by ``n_per_fold`` different lines) or one integer ``N``
    (View 1: ``N`` same lines then ``N`` different lines, all in fold 0). Trailing blank lines are
    ignored; any other deviation raises :class:`DataError` naming the file and line number.

    Args:
        pairs_file: the pairs text file.
        root: the LFW image folder (holding ``<Name>/<Name>_<NNNN>.jpg``).
        check_exists: also require every referenced image to exist (default).

    Returns:
        A :class:`PairList` of ``P = n_folds * 2 * n_per_fold`` pairs in file order.
    """
    pairs_file = Path(pairs_file)
    root = Path(root)
    try:
        text = pairs_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"Pairs file not found: {pairs_file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"Cannot read pairs file {pairs_file}: {exc}") from None
    if check_exists and not root.is_dir():
        raise DataError(f"LFW image folder not found: {root} (needed by {pairs_file}).")

    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{pairs_file}: empty pairs file.")
    n_folds, n_per, desc = _parse_header(lines[0].split(), f"{pairs_file}, line 1")
    expected = n_folds * 2 * n_per
    body = lines[1:]
    if len(body) != expected:
        if len(body) > expected:
            where = f"line {expected + 2} is one too many"
        else:
            where = f"the file ends at line {len(lines)}"
        raise DataError(
            f"{pairs_file}: the header (line 1) announces {desc} = {expected} pair lines, "
            f"but the file has {len(body)}: {where}."
        )

    paths_a: list[Path] = []
    paths_b: list[Path] = []
    same = np.empty(expected, dtype=bool)
    folds = np.empty(expected, dtype=np.int64)
    exists: dict[Path, bool] = {}
    for k, line in enumerate(body):
        lineno = k + 2
        fold, pos = divmod(k, 2 * n_per)
        is_same = pos < n_per
        fields = line.split()
        where = f"{pairs_file}, line {lineno}"
        kind = "same" if is_same else "different"
        want = 3 if is_same else 4
        if len(fields) != want:
            layout = "'name i j'" if is_same else "'name1 i name2 j'"
            raise DataError(
                f"{where}: expected {want} fields {layout} for a {kind}-person pair "
                f"(fold {fold + 1}, {kind} pair {pos % n_per + 1} of {n_per}), "
                f"got {len(fields)}: {line.strip()!r}."
            )
        names = [fields[0], fields[0]] if is_same else [fields[0], fields[2]]
        idx_fields = [fields[1], fields[2]] if is_same else [fields[1], fields[3]]
        for name in names:
            if name in (".", "..") or "/" in name or "\\" in name:
                raise DataError(f"{where}: invalid person name {name!r}.")
        for f in idx_fields:
            if not _INDEX_RE.fullmatch(f) or int(f) == 0:
                raise DataError(f"{where}: image index {f!r} is not a positive integer: {line.strip()!r}.")
        pa = _image_path(root, names[0], int(idx_fields[0]))
        pb = _image_path(root, names[1], int(idx_fields[1]))
        if check_exists:
            for p in (pa, pb):
                if p not in exists:
                    exists[p] = p.is_file()
                if not exists[p]:
                    raise DataError(f"{where}: image not found: {p}")
        paths_a.append(pa)
        paths_b.append(pb)
        same[k] = is_same
        folds[k] = fold
    return PairList(paths_a=paths_a, paths_b=paths_b, same=same, folds=folds)


def lfw_root(data_dir: PathLike) -> Path:
    """The LFW image folder: ``<data_dir>/lfw``, or ``data_dir`` itself when it is the LFW folder
    (one holding ``pairs.txt``). The caller names the folder (the CLI's default comes from
    :class:`facenet.settings.Settings`). Raises :class:`DataError` with instructions when it
    cannot be found.
    """
    base = Path(data_dir).expanduser().resolve()
    candidate = base / "lfw"
    if candidate.is_dir():
        return candidate
    if base.is_dir() and (base / "pairs.txt").is_file():
        return base
    raise DataError(
        f"LFW not found: no folder {candidate}. Point to it with --root DIR or the FACENET_DATA "
        "environment variable (the folder that contains lfw/), or fetch it with "
        "`facenet data lfw --download DIR` and then set FACENET_DATA=DIR."
    )
