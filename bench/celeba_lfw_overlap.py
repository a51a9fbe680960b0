"""Which CelebA-wild identities are also LFW identities? (Both are celebrity sets.)

    .venv/bin/python bench/celeba_lfw_overlap.py --celeba data/celeba112 --lfw ../shared/data/lfw --out out/overlap

--celeba: the output of `facenet align ../shared/data/celeba-wild data/celeba112` (112x112
ArcFace-aligned crops). Every LFW image goes through the default pipeline (YuNet + SFace); each
identity becomes the normalised mean of its embeddings. A CelebA identity whose centroid lies
within --threshold (squared L2) of an LFW centroid is reported as a probable duplicate, with a
contact sheet (CelebA faces left, LFW faces right) to check by eye. Writes OUT/overlap.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from facenet.data.files import iter_images
from facenet.data.images import load_image
from facenet.distance import pairwise_squared_l2
from facenet.eval.benchmark import embed_paths
from facenet.pipeline import FacePipeline


def centroids(emb: np.ndarray, labels: list[str]) -> tuple[list[str], np.ndarray]:
    names = sorted(set(labels))
    idx = {n: i for i, n in enumerate(names)}
    lab = np.array([idx[n] for n in labels])
    c = np.zeros((len(names), emb.shape[1]), np.float32)
    np.add.at(c, lab, emb)
    return names, c / np.linalg.norm(c, axis=1, keepdims=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--celeba", required=True)
    ap.add_argument("--lfw", default="../shared/data/lfw")
    ap.add_argument("--threshold", type=float, default=0.9, help="centroid squared-L2 distance for 'same person'")
    ap.add_argument("--out", default="out/overlap")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pipe = FacePipeline()
    c_paths = list(iter_images(Path(args.celeba)))
    crops = np.stack([load_image(p) for p in c_paths])
    c_emb = pipe.embed_faces(crops)
    l_paths = list(iter_images(Path(args.lfw)))
    l_emb, _, _ = embed_paths(pipe, l_paths, desc="LFW")
    c_names, c_cent = centroids(c_emb, [p.parent.name for p in c_paths])
    l_names, l_cent = centroids(l_emb, [p.parent.name for p in l_paths])
    d = pairwise_squared_l2(c_cent, l_cent)
    nearest = d.argmin(1)
    hits = [{"celeba": c_names[i], "lfw": l_names[j], "distance": round(float(d[i, j]), 4)}
            for i, j in enumerate(nearest) if d[i, j] < args.threshold]
    hits.sort(key=lambda h: h["distance"])
    dist_all = np.sort(d[np.arange(len(c_names)), nearest])
    report = {"celeba_identities": len(c_names), "lfw_identities": len(l_names), "threshold": args.threshold,
              "probable_duplicates": hits, "nearest_distance_quantiles": {q: round(float(np.quantile(dist_all, q)), 4) for q in (0.01, 0.05, 0.5)}}
    (out / "overlap.json").write_text(json.dumps(report, indent=2))
    _sheet(hits[:40], Path(args.celeba), Path(args.lfw), pipe, out / "overlap.png")
    print(json.dumps({k: v for k, v in report.items() if k != "probable_duplicates"}, indent=2))
    print(f"{len(hits)} probable duplicates (centroid distance < {args.threshold}):")
    for h in hits:
        print(f"  celeba {h['celeba']:>6s}  ~  lfw {h['lfw']:<30s} d={h['distance']:.3f}")
    return 0


def _sheet(hits: list[dict], celeba: Path, lfw: Path, pipe: FacePipeline, path: Path) -> None:
    from PIL import Image

    rows = []
    for h in hits:
        c = [load_image(p) for p in sorted((celeba / h["celeba"]).glob("*.png"))[:3]]
        lp = sorted((lfw / h["lfw"]).glob("*.jpg"))[:3]
        lc = pipe.cropper.crop_primary(lp).crops
        tiles = c + [np.zeros((112, 8, 3), np.uint8) + 255] + list(lc)
        rows.append(np.concatenate(tiles, 1))
    if rows:
        w = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 4), (0, w - r.shape[1]), (0, 0))) for r in rows]
        Image.fromarray(np.concatenate(rows, 0)).save(path)


if __name__ == "__main__":
    sys.exit(main())
