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
seconds (wall time of the loop), and ``<branch>`` / ``<branch>_mirror`` arrays.
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
    t0 = time.perf_counter()
    for i in tqdm(range(0, n, chunk), desc=out.name, unit="chunk", file=sys.stderr, mininterval=30):
        pc = cropper.crop_primary(paths[i : i + chunk])
        found[i : i + len(pc.crops)] = pc.face_found
        f = emb.features(pc.crops)
        fm = emb.features(np.ascontiguousarray(pc.crops[:, :, ::-1])) if mirror else {}
        for k, _ in BRANCHES:
            res[k][i : i + len(pc.crops)] = f[k]
            if mirror:
                res[k + "_mirror"][i : i + len(pc.crops)] = fm[k]
    rel = np.array([str(p.relative_to(root)) for p in paths])
    res.update(paths=rel, labels=np.array([p.parent.name for p in paths]), face_found=found,
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
