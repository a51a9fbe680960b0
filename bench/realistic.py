"""Embeddings with the structure of real ones, for the scale benchmarks (gallery, clustering).

    from realistic import RealisticEmbeddings, lfw_embeddings   # bench/ scripts run with bench/ on sys.path

``lfw_embeddings`` gives LFW's SFace embeddings (computed once with FacePipeline("yunet", "sface")
and cached, or read from an NPZ with ``labels`` and ``plain`` arrays such as bench/identify_lfw.py's
cache). ``RealisticEmbeddings`` fits on them: identity centres drawn from a Gaussian fitted to LFW's
identity means (its covariance less the part the per-face spread explains), per-face offsets from
the pooled within-identity covariance, each scaled by a factor drawn from LFW's per-photo spread
(some photos stray further than others), photos per person from LFW's counts (so a long tail of
people with one photo); every face is normalised. ``distance_quantiles`` compares the synthetic
distances with LFW's (genuine and impostor quantiles).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def lfw_embeddings(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """(labels (N,), unit embeddings (N, 128)) of the LFW photos where a face was found."""
    path = args.embeddings or args.out / "lfw_sface_plain.npz"
    cached = sorted(Path("out/identify").glob("lfw_yunet_sface_*.npz"))  # bench/identify_lfw.py's cache, same pipeline
    if args.embeddings is None and not Path(path).exists() and cached:
        path = cached[0]
        print(f"LFW embeddings: {path} (bench/identify_lfw.py's cache)")
    if not Path(path).exists():
        from facenet import FacePipeline
        from facenet.data.files import iter_images

        root = args.data / "lfw"
        paths = list(iter_images(root))
        pipe = FacePipeline("yunet", "sface")
        emb, found = np.zeros((len(paths), 128), np.float32), np.zeros(len(paths), bool)
        for i in range(0, len(paths), 64):
            pc = pipe.cropper.crop_primary(paths[i:i + 64])
            emb[i:i + len(pc)], found[i:i + len(pc)] = pipe.embed_faces(pc.crops), pc.face_found
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, labels=np.array([p.parent.name for p in paths]), plain=emb, face_found=found)
    z = np.load(path, allow_pickle=False)
    keep = z["face_found"] if "face_found" in z.files else np.ones(len(z["labels"]), bool)
    x = z["plain"][keep].astype(np.float64)
    return z["labels"][keep], x / np.linalg.norm(x, axis=1, keepdims=True)


class RealisticEmbeddings:
    """Identity centres + per-face spread fitted on real embeddings (see the module docstring)."""

    def __init__(self, labels: np.ndarray, x: np.ndarray) -> None:
        names, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
        means = np.zeros((len(names), x.shape[1]))
        np.add.at(means, inv, x)
        means /= counts[:, None]
        multi = counts >= 2
        resid = x[multi[inv]] - means[inv[multi[inv]]]
        self.within = resid.T @ resid / (len(resid) - multi.sum())  # unbiased pooled covariance
        # photos differ in how far they stray (pose, light): each face's offset scale, from LFW's
        n = counts[inv[multi[inv]]]
        scale = np.linalg.norm(resid, axis=1) * np.sqrt(n / (n - 1))
        self.scales = scale / np.sqrt(np.mean(scale ** 2))
        m = means[multi]
        between = np.cov(m, rowvar=False) - np.mean(1.0 / counts[multi]) * self.within
        w, v = np.linalg.eigh(between)
        self.between = (v * np.clip(w, 0, None)) @ v.T
        self.centre_mean = m.mean(axis=0)
        self.counts = counts

    def identities(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.multivariate_normal(self.centre_mean, self.between, size=n, method="eigh")

    def faces(self, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
        offsets = rng.multivariate_normal(np.zeros(len(self.within)), self.within, size=len(centres), method="eigh")
        f = centres + rng.choice(self.scales, len(centres))[:, None] * offsets
        return (f / np.linalg.norm(f, axis=1, keepdims=True)).astype(np.float32)

    def gallery(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(centres (K, D), person index per face (n,), faces (n, D)) with LFW's photos-per-person."""
        per = np.zeros(0, np.int64)
        while per.sum() < n:  # people drawn in batches (a running sum per person is quadratic at 1M)
            per = np.concatenate([per, rng.choice(self.counts, int(n / self.counts.mean()) + 16)])
        per = per[:int(np.searchsorted(np.cumsum(per), n)) + 1]
        per[-1] -= per.sum() - n
        owner = np.repeat(np.arange(len(per)), per)
        centres = self.identities(rng, len(per))
        return centres, owner, self.faces(rng, centres[owner])


def distance_quantiles(labels: np.ndarray, x: np.ndarray, rng: np.random.Generator, pairs: int = 20000) -> dict[str, list[float]]:
    """Squared-L2 quantiles (5/50/95 %) of same-person pairs and of different-person pairs."""
    order = np.argsort(labels, kind="stable")
    _, start, count = np.unique(labels[order], return_index=True, return_counts=True)
    group = np.repeat(np.arange(len(count)), count)  # group of each position in `order`
    eligible = np.flatnonzero(count[group] >= 2)
    a = rng.choice(eligible, pairs)
    g = group[a]
    b = start[g] + (a - start[g] + rng.integers(1, count[g])) % count[g]  # another face of the same person
    same = np.sum((x[order[a]] - x[order[b]]) ** 2, axis=1)
    i, j = rng.integers(0, len(x), size=(2, 2 * pairs))
    keep = labels[i] != labels[j]
    diff = np.sum((x[i[keep]] - x[j[keep]]) ** 2, axis=1)[:pairs]
    q = [5, 50, 95]
    return {"genuine": np.percentile(same, q).round(3).tolist(), "impostor": np.percentile(diff, q).round(3).tolist()}
