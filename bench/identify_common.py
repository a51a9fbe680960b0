"""Shared pieces of the open-set identification benchmark (bench/identify_lfw.py): embeddings
(cached), the CelebA-wild development set, the enrolment protocols and the k-NN scores."""


from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from facenet.data.files import iter_images
from facenet.gallery.identifiers import KNNIdentifier
from facenet.gallery.openset import fpir_at, margin_scores, open_set_report, tpir_at

LFW_IN_CELEBA = ("07398", "07448", "07218", "07355", "07261")
CELEBA_MIXED = ("07312",)
CELEBA_SAME = {"07393": "07392"}
LFW_GALLERY = 1680
VERIFICATION_THRESHOLD = 1.34  # SFace's, calibrated on LFW View 1
DLIB_TOLERANCE = 0.6  # face_recognition's default (Euclidean)
MARGIN_GRID = [(lam, c) for lam in (0.25, 0.5, 0.75, 1.0) for c in (1, 3, 5, 10)]
TAILS = {"empirical": 0.0, "1e-5": 1e-5, "1e-4": 1e-4, "1e-3": 1e-3}
SVM_GRID = [(c, None) for c in (0.1, 0.3, 1.0, 3.0, 10.0)]  # class_weight: every class has 2 photos, so "balanced" is the same
MAX_PROBES = 1024  # (loc, scale) pairs kept in a shipped model (its shape G uses every distance)




def embed_folder(pipe: Any, root: Path, cache_dir: Path, name: str, chunk: int = 64,
                 mirror: bool = True) -> dict[str, np.ndarray]:
    """Every image under root/<identity>/: plain and (unless ``mirror`` is False) mirrored
    embeddings, face_found, labels."""
    from tqdm import tqdm

    paths = list(iter_images(root))
    rel = [str(p.relative_to(root)) for p in paths]
    cfg = pipe.embedder.config
    det = getattr(pipe.detector, "name", type(pipe.detector).__name__)
    key = f"{det}_{cfg.name}_{(cfg.weights.sha256 if cfg.weights else '')[:12]}_{hashlib.sha256(chr(10).join(rel).encode()).hexdigest()[:16]}"
    cache = cache_dir / f"{name}_{key}{'' if mirror else '_plain'}.npz"
    if cache.exists():
        z = np.load(cache)
        return {k: z[k] for k in z.files}
    n, d = len(paths), cfg.embedding_size
    emb, mir, found = np.zeros((n, d), np.float32), np.zeros((n, d), np.float32), np.zeros(n, bool)
    t0 = time.perf_counter()
    for i in tqdm(range(0, n, chunk), desc=name, unit="chunk", leave=False):
        pc = pipe.cropper.crop_primary(paths[i : i + chunk])
        emb[i : i + len(pc)] = pipe.embedder.embed_faces(pc.crops)
        if mirror:
            mir[i : i + len(pc)] = pipe.embedder.embed_faces(np.ascontiguousarray(pc.crops[:, :, ::-1]))
        found[i : i + len(pc)] = pc.face_found
    out = {"paths": np.array(rel), "labels": np.array([p.parent.name for p in paths]), "plain": emb,
           **({"mirror": mir} if mirror else {}), "face_found": found, "seconds": np.float64(time.perf_counter() - t0)}
    save_npz(cache, out)
    return out


def save_npz(path: Path, arrays: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def flip_tta(plain: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    v = plain / np.linalg.norm(plain, axis=1, keepdims=True) + mirror / np.linalg.norm(mirror, axis=1, keepdims=True)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def celeba_dev(data: Path, out: Path, embedder: str = "sface") -> dict[str, Any]:
    """CelebA-wild embeddings of ``embedder`` (plain and flip) with the LFW identities and the
    set's own defects removed."""
    from facenet.pipeline import FacePipeline

    z = embed_folder(FacePipeline("yunet", embedder), data / "celeba-wild", out, "celeba_wild")
    lab, paths = z["labels"].astype(str), z["paths"].astype(str)
    owners: dict[str, set[str]] = defaultdict(set)
    sha = [hashlib.sha256((data / "celeba-wild" / p).read_bytes()).hexdigest() for p in paths]
    for s, l in zip(sha, lab):
        owners[s].add(l)
    copied = np.array([len(owners[s]) > 1 for s in sha])
    keep = z["face_found"] & ~np.isin(lab, LFW_IN_CELEBA + CELEBA_MIXED) & ~copied
    lab = np.array([CELEBA_SAME.get(l, l) for l in lab])
    info = {"images": len(lab), "no_face": int((~z["face_found"]).sum()), "copied_across_identities": int(copied.sum()),
            "left_out_identities": list(LFW_IN_CELEBA + CELEBA_MIXED), "merged": CELEBA_SAME}
    lab, paths = lab[keep], paths[keep]
    info.update(kept_images=int(keep.sum()), identities=len(set(lab)))
    return {"labels": lab, "paths": paths, "plain": z["plain"][keep], "flip": flip_tta(z["plain"][keep], z["mirror"][keep]),
            "info": info}


def impostor_distances(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, N) squared L2 between every pair of photos, NaN for the same identity."""
    x = x.astype(np.float64)
    d = np.clip(2.0 - 2.0 * x @ x.T, 0.0, 4.0)
    d[labels[:, None] == labels[None, :]] = np.nan
    return d


def first_photos(labels: np.ndarray, paths: np.ndarray, idents: np.ndarray, k: int = 1) -> np.ndarray:
    """Indices of the first k photos (by file name) of each identity in idents."""
    order = np.lexsort((paths, labels))
    wanted = set(idents.tolist())
    seen: dict[str, int] = defaultdict(int)
    out = []
    for i in order:
        if labels[i] in wanted and seen[labels[i]] < k:
            seen[labels[i]] += 1
            out.append(i)
    return np.array(sorted(out), dtype=np.int64)


def split_protocol(labels: np.ndarray, paths: np.ndarray, enrolled: np.ndarray, n_enrol: int = 1,
                   nonmated: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gallery, mated, non-mated) indices: ``enrolled`` identities from their first n_enrol photos,
    their other photos mated; non-mated: every photo of ``nonmated`` identities (default: the rest)."""
    g = first_photos(labels, paths, enrolled, n_enrol)
    is_enr = np.isin(labels, enrolled)
    mated = np.setdiff1d(np.nonzero(is_enr)[0], g)
    non = np.nonzero(~is_enr if nonmated is None else np.isin(labels, nonmated))[0]
    return g, mated, non


def knn_top(x: np.ndarray, labels: np.ndarray, g: np.ndarray, probes: np.ndarray, n: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """Candidates (P, n) and their ascending subject distances (P, n) from a closed-set KNNIdentifier."""
    knn = KNNIdentifier().fit(x[g], labels[g])
    r = knn.identify(x[probes], n_candidates=min(n, knn.n_subjects_))
    return r.candidates, r.distances


def evaluate(cand_m: np.ndarray, dist_m: np.ndarray, truth: np.ndarray, dist_n: np.ndarray, score: tuple | None,
             thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    """Open-set report of one score: None = plain distance, (lambda, c) = the margin; plus the
    FPIR/TPIR at each given fixed threshold."""
    def s(d: np.ndarray) -> np.ndarray:
        return d[:, 0] if score is None else margin_scores(d, score[0], score[1])

    sm, sn = s(dist_m), s(dist_n)
    rep = open_set_report(cand_m, truth, sm, sn).to_dict()
    hit = cand_m[:, 0] == truth
    rep["fixed"] = {k: {"threshold": t, "fpir": fpir_at(sn, t), "tpir": tpir_at(sm, hit, t)} for k, t in (thresholds or {}).items()}
    return rep


def score_name(score: tuple | None) -> str:
    return "distance" if score is None else f"margin lambda={score[0]:g} c={score[1]}"


def parse_score(key: str) -> dict[str, Any]:
    emb, rest = key.split(" ", 1)
    if rest == "distance":
        return {"embedding": emb, "margin": None}
    lam, c = rest.split()[1:]
    return {"embedding": emb, "margin": [float(lam.split("=")[1]), int(c.split("=")[1])]}


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


