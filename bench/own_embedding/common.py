"""Shared pieces of bench/own_embedding: the cached features, the cleaned CelebA-wild training set,
LFW pairs as row indices, and pair scoring."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ for identify_common

from facenet.data.lfw import read_pairs  # noqa: E402
from facenet.models import fused_casia  # noqa: E402
from facenet.models.base import l2_normalise  # noqa: E402
from facenet.models.fused import BRANCHES, project  # noqa: E402
from identify_common import (  # noqa: E402
    CELEBA_MIXED,
    CELEBA_SAME,
    LFW_IN_CELEBA,
    evaluate,
    knn_top,
    score_name,
    split_protocol,
)

LFW_FILES = {"view1train": "pairsDevTrain.txt", "view1test": "pairsDevTest.txt", "view2": "pairs.txt"}
#: The networks each head model concatenates, in order, with their widths.
MODEL_BRANCHES = {"fused": BRANCHES, "fused-casia": fused_casia.BRANCHES}
#: extract_casia.py's stage files, merged into each set's features by load_set.
STAGES = ("casia", "casia_mirror", "mirror")


def concat(z: dict[str, np.ndarray], mirror: bool = False, branches: tuple = BRANCHES) -> np.ndarray:
    """(N, sum of widths) concatenated unit-norm branch features (``mirror``: of the mirrored crops)."""
    return np.concatenate([z[k + ("_mirror" if mirror else "")] for k, _ in branches], axis=1).astype(np.float32)


def load_set(out: Path, name: str) -> dict[str, np.ndarray]:
    """extract.py's ``features_<name>.npz`` plus every extract_casia.py stage file of the set
    (checked to hold the same images in the same order)."""
    z = dict(np.load(out / f"features_{name}.npz"))
    for stage in STAGES:
        f = out / f"features_{name}_{stage}.npz"
        if f.exists():
            extra = dict(np.load(f))
            if not np.array_equal(extra["paths"], z["paths"]):
                raise SystemExit(f"{f} does not hold the images of features_{name}.npz in order")
            z.update({k: v for k, v in extra.items() if k not in ("paths", "seconds", "threads")})
            z[f"seconds_{stage}"] = extra["seconds"]
    return z


def celeba_train(data: Path, out: Path, extra: bool = False) -> dict[str, Any]:
    """CelebA-wild features with the LFW identities, the mixed identity and photos copied across
    identities left out (as bench/identify_common.celeba_dev), faces found only. ``x``: the fused
    model's 256-D concatenation; ``z``: every cached array of the kept photos. ``extra``: also the
    next photos of each identity (extract_casia.py --set celeba_extra)."""
    z = load_set(out, "celeba")
    if extra:
        e = dict(np.load(out / "features_celeba_extra_casia.npz"))
        keys = [k for k in ("sface", "dlib", "casia", "paths", "labels", "face_found") if k in z]
        z = {k: np.concatenate([z[k], e[k]]) for k in keys} | {"seconds": z["seconds"]}
    lab, paths = z["labels"].astype(str), z["paths"].astype(str)
    sha = [hashlib.sha256((data / "celeba-wild" / p).read_bytes()).hexdigest() for p in paths]
    owners: dict[str, set[str]] = {}
    for s, l in zip(sha, lab):
        owners.setdefault(s, set()).add(l)
    copied = np.array([len(owners[s]) > 1 for s in sha])
    keep = z["face_found"] & ~np.isin(lab, LFW_IN_CELEBA + CELEBA_MIXED) & ~copied
    lab = np.array([CELEBA_SAME.get(x, x) for x in lab])
    info = {"images": len(lab), "no_face": int((~z["face_found"]).sum()), "copied": int(copied.sum()),
            "kept": int(keep.sum()), "identities": len(set(lab[keep])), "extract_seconds": float(z["seconds"])}
    kept = {k: v[keep] for k, v in z.items() if isinstance(v, np.ndarray) and v.ndim >= 1 and len(v) == len(keep)}
    return {"x": concat(z)[keep], "z": kept, "labels": lab[keep], "info": info}


def lfw_rows(out: Path, only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Every cached LFW image (of the ``only`` sets): path -> row, and the stacked arrays (those
    every set has)."""
    from extract import LFW_SETS  # noqa: PLC0415

    sets = {s: load_set(out, s) for s in LFW_SETS if (out / f"features_{s}.npz").exists() and (only is None or s in only)}
    keys = list(sets)
    common = [k for k in sets[keys[0]] if all(k in sets[s] for s in keys)]
    z = {k: np.concatenate([sets[s][k] for s in keys]) for k in common if not k.startswith(("seconds", "threads"))}
    for k in common:
        if k.startswith("seconds"):
            z[k] = float(sum(float(sets[s][k]) for s in keys))
    z["row"] = {p: i for i, p in enumerate(z["paths"].astype(str))}
    return z


def pairs(data: Path, z: dict[str, Any], which: str) -> dict[str, Any] | None:
    """The pairs of ``which`` as row indices into z (None when an image is not cached yet)."""
    root = data / "lfw"
    pl = read_pairs(root / LFW_FILES[which], root)
    rel = lambda p: str(Path(p).relative_to(root))  # noqa: E731
    try:
        ia = np.array([z["row"][rel(p)] for p in pl.paths_a])
        ib = np.array([z["row"][rel(p)] for p in pl.paths_b])
    except KeyError:
        return None
    uniq = np.unique(np.concatenate([ia, ib]))
    return {"a": ia, "b": ib, "same": np.asarray(pl.same, bool), "folds": np.asarray(pl.folds), "images": uniq}


def sqd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise squared L2 of unit vectors."""
    return np.clip(((a - b) ** 2).sum(1), 0.0, 4.0)


def best_accuracy(d: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """(accuracy, threshold) of the best threshold on these pairs (midpoints of sorted distances)."""
    o = np.argsort(d)
    ds, ss = d[o], same[o]
    # predict same for the first k pairs: correct = same among first k + different among the rest
    tp = np.concatenate([[0], np.cumsum(ss)])
    tn = (~ss).sum() - np.concatenate([[0], np.cumsum(~ss)])
    acc = (tp + tn) / len(d)
    k = int(np.argmax(acc))
    thr = float(ds[0] - 1e-6) if k == 0 else float(ds[k - 1] if k == len(d) else (ds[k - 1] + ds[k]) / 2)
    return float(acc[k]), thr


def embed(z: dict[str, Any], head: dict[str, np.ndarray] | None, mirror: bool = False,
          branches: tuple | None = None) -> np.ndarray:
    """The head model's embeddings of every cached row (head None: the SFace branch); the
    branches follow from the head's width unless given."""
    if head is None:
        return z["sface_mirror" if mirror else "sface"]
    if branches is None:
        width = head["W"].shape[0]
        branches = next(b for b in MODEL_BRANCHES.values() if sum(d for _, d in b) == width)
    return project(concat(z, mirror, branches), head)


def flip_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return l2_normalise(a + b)


def open_set(x: np.ndarray, lab: np.ndarray, paths: np.ndarray) -> dict[str, Any]:
    """Issue 9's LFW protocol on (N, 128) embeddings: the 1,680 people with two or more photos
    enrolled from their first, their other photos mated, the one-photo people strangers. ``rows``:
    rank-1 and TPIR at FPIR 1e-2 / 1e-3 for the plain distance and SFace's CelebA margin; ``g``
    the enrolled rows; ``mated_d`` / ``non_d`` the nearest person's distance per mated / stranger
    probe; ``hit`` whether a mated probe's nearest person is its own."""
    names, counts = np.unique(lab, return_counts=True)
    g, mated, non = split_protocol(lab, paths, names[counts >= 2], 1, names[counts == 1])
    cm, dm = knn_top(x, lab, g, mated)
    _, dn = knn_top(x, lab, g, non)
    rows = []
    for score in (None, (0.75, 10)):
        r = evaluate(cm, dm, lab[mated], dn, score)
        rows.append({"method": f"k-NN {score_name(score)}", "rank1": r["rank"]["1"],
                     "points": [{"fpir": p["fpir_target"], "tpir": p["tpir"]} for p in r["points"]]})
    return {"rows": rows, "g": g, "mated_d": dm[:, 0], "non_d": dn[:, 0], "hit": cm[:, 0] == lab[mated]}


def automatic_for(model: str, x: np.ndarray, lab: np.ndarray, ev: dict[str, Any],
                  base: tuple[Any, str] | None = None, flip: bool = False) -> dict[str, dict[str, float]]:
    """The automatic threshold of a ``model`` gallery (``base``: (impostor model, description); None:
    the one its gallery picks, shipped or borrowed from a harmonic partner), adapted to the
    enrolled faces of :func:`open_set`'s ``ev``: FPIR and TPIR at the 1e-2 and 1e-3 targets."""
    from facenet.gallery.auto_threshold import borrowed
    from facenet.gallery.impostor import adapt_impostor_model, identification_threshold
    from facenet.gallery.store import ModelIdentity
    from facenet.models.registry import model_config

    base_model, desc = base or borrowed(ModelIdentity(model, model_config(model).weights.sha256, 128, flip))
    g = ev["g"]
    m = adapt_impostor_model(base_model, x[g], lab[g])
    res: dict[str, dict[str, float]] = {}
    for f in (1e-2, 1e-3):
        t = identification_threshold(len(g), f, m, scoring="distance")
        res[f"{desc} @ {f:g}"] = {"threshold": round(t, 4), "fpir": float(np.mean(ev["non_d"] < t)),
                                  "tpir": float(np.mean(ev["hit"] & (ev["mated_d"] < t)))}
    return res
