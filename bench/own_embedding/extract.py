"""Per-network features of the ``fused`` model, cached: CelebA-wild (training) and the LFW images
of View 1 + View 2 (validation, calibration, the final measurement).

    nice -n 19 env OMP_NUM_THREADS=2 .venv/bin/python bench/own_embedding/extract.py --data ../shared/data \
        --out out/own_embedding          # make train-own runs it first (cached afterwards)

Sets: ``celeba`` (the first --per-identity photos of each CelebA-wild identity; the LFW
identities are dropped later, in training), then the LFW images of pairsDevTest, pairs.txt,
pairsDevTrain, each cache holding only the images the earlier ones lack. Each image goes through
the pipeline's own face finding (YuNet, retry pass, "central" policy, fallback centre crop, all
counted) into one 112x112 ArcFace crop; both networks' unit-norm
vectors of the crop and (``--mirror``) of its mirror image are stored, so the trained head, every
ablation row and flip TTA are computed from the same numbers the shipped embedder computes.
Output: ``OUT/features_<set>.npz`` with paths (relative to the set's root), labels, face_found,
seconds (wall time of the loop), landmarks, a yaw proxy and a side-lighting measure (for the
pose/light breakdown), and ``<branch>`` / ``<branch>_mirror`` arrays.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from facenet.align.cropper import FaceCropper
from facenet.data.files import iter_images
from facenet.data.lfw import read_pairs
from facenet.models.fused import BRANCHES, FusedEmbedder, _config

#: LFW sets in extraction order; each cache holds only the images no earlier set had.
LFW_SETS = {"view1test": "pairsDevTest.txt", "view2": "pairs.txt", "view1train": "pairsDevTrain.txt"}
SETS = ("celeba", *LFW_SETS)


def lfw_paths(root: Path, name: str, done: set[str]) -> list[Path]:
    paths = [Path(p) for p in read_pairs(root / LFW_SETS[name], root).unique_paths()]
    return sorted(p for p in paths if str(p.relative_to(root)) not in done)


def celeba_paths(root: Path, per_identity: int) -> list[Path]:
    """The first ``per_identity`` photos (by file name) of every CelebA-wild identity."""
    by_id: dict[str, list[Path]] = {}
    for p in sorted(iter_images(root)):
        by_id.setdefault(p.parent.name, []).append(p)
    return [p for ident in sorted(by_id) for p in by_id[ident][:per_identity]]


def load_lfw(out: Path) -> dict[str, dict[str, np.ndarray]]:
    """Every cached LFW set, keyed by set name."""
    return {name: dict(np.load(out / f"features_{name}.npz")) for name in LFW_SETS
            if (out / f"features_{name}.npz").exists()}


def side_lighting(crops: np.ndarray) -> np.ndarray:
    """(N,) |mean grey of the crop's left half - right half| / mean grey, inner face only
    (rows 20..100, columns 16..96 of the 112x112 crop): 0 for even light, large for side light."""
    g = crops[:, 20:100, 16:96].astype(np.float32).mean(-1)
    left, right = g[:, :, :40].mean((1, 2)), g[:, :, 40:].mean((1, 2))
    return np.abs(left - right) / np.maximum((left + right) / 2, 1.0)


def yaw_proxy(landmarks: np.ndarray) -> np.ndarray:
    """(N,) how far the nose tip sits from the eyes' midpoint, in inter-eye distances, along the
    eye line: about 0 frontal, 0.3+ for a strongly turned face (NaN without a detection)."""
    eye_l, eye_r, nose = landmarks[:, 0], landmarks[:, 1], landmarks[:, 2]
    axis = eye_r - eye_l
    dist = np.linalg.norm(axis, axis=1)
    return np.abs(((nose - (eye_l + eye_r) / 2) * axis).sum(1)) / np.maximum(dist, 1e-6) ** 2


def extract(paths: list[Path], root: Path, out: Path, mirror: bool, threads: int, chunk: int = 32,
            limit: int | None = None) -> dict[str, np.ndarray]:
    from tqdm import tqdm

    cfg = _config()
    emb = FusedEmbedder(cfg, None, threads=threads)
    cropper = FaceCropper.for_model(cfg, "yunet")
    paths = paths[:limit] if limit else paths
    n = len(paths)
    res: dict[str, np.ndarray] = {}
    for k, d in BRANCHES:
        res[k] = np.zeros((n, d), np.float32)
        if mirror:
            res[k + "_mirror"] = np.zeros((n, d), np.float32)
    found = np.zeros(n, bool)
    landmarks = np.full((n, 5, 2), np.nan, np.float32)
    light = np.zeros(n, np.float32)
    t0 = time.perf_counter()
    for i in tqdm(range(0, n, chunk), desc=out.name, unit="chunk", file=sys.stderr, mininterval=30):
        pc = cropper.crop_primary(paths[i : i + chunk])
        found[i : i + len(pc.crops)] = pc.face_found
        landmarks[i : i + len(pc.crops)] = pc.detections.landmarks
        light[i : i + len(pc.crops)] = side_lighting(pc.crops)
        f = emb.features(pc.crops)
        fm = emb.features(np.ascontiguousarray(pc.crops[:, :, ::-1])) if mirror else {}
        for k, _ in BRANCHES:
            res[k][i : i + len(pc.crops)] = f[k]
            if mirror:
                res[k + "_mirror"][i : i + len(pc.crops)] = fm[k]
    rel = np.array([str(p.relative_to(root)) for p in paths])
    res.update(paths=rel, labels=np.array([p.parent.name for p in paths]), face_found=found, landmarks=landmarks,
               side_lighting=light, yaw=yaw_proxy(landmarks),
               seconds=np.float64(time.perf_counter() - t0), threads=np.int64(threads))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, **res)
    tmp.replace(out)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/own_embedding"))
    ap.add_argument("--set", nargs="+", choices=SETS, default=list(SETS))
    ap.add_argument("--per-identity", type=int, default=8, help="CelebA-wild photos per identity")
    ap.add_argument("--mirror", action="store_true", help="also the mirrored crops (flip TTA; twice the time)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None, help="first N images only (smoke runs)")
    args = ap.parse_args(argv)
    for s in args.set:
        out = args.out / f"features_{s}{'' if args.limit is None else f'_first{args.limit}'}.npz"
        if out.exists():
            print(f"{out}: cached", file=sys.stderr)
            continue
        if s == "celeba":
            root = args.data / "celeba-wild"
            paths = celeba_paths(root, args.per_identity)
        else:
            root = args.data / "lfw"
            done = {str(p) for z in load_lfw(args.out).values() for p in z["paths"]}
            paths = lfw_paths(root, s, done)
        r = extract(paths, root, out, args.mirror, args.threads, limit=args.limit)
        print(f"{out}: {len(r['paths'])} images, {int((~r['face_found']).sum())} without a face, "
              f"{float(r['seconds']):.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
