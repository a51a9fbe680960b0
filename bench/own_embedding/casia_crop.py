"""Which crop the CASIA Inception-ResNet-v1 gets inside ``fused-casia``, chosen on LFW View 1 only.

    nice -n 10 env OMP_NUM_THREADS=2 .venv/bin/python bench/own_embedding/casia_crop.py --data ../shared/data \
        --out out/own_embedding

Candidates are square windows of a 160x160 canvas, the 112x112 ArcFace crop padded by 24 pixels
on every side at the same scale (the same landmark warp translated by 24 pixels; its central
112x112 slice is the SFace crop, checked against extract.py's SFace vectors): side ``112 / scale``,
centred ``dy`` pixels below the ArcFace crop's centre, resampled to 160x160. "tight" (scale 1, dy
0) is the ArcFace crop itself, which the pipeline already gives; the looser ones resemble the
MTCNN box + 32 px margin the network was trained on but would need a padded crop from the
pipeline. Each candidate's CASIA vectors of the pairsDevTest images (from the landmarks
extract.py cached) are scored on pairsDevTest: best accuracy, AUC, and the sum with SFace's
z-normalised distances (z over these pairs: a probe). Output: ``OUT/casia_crop.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import best_accuracy, pairs, sqd  # noqa: E402

from facenet.align.crop import ARCFACE_112  # noqa: E402
from facenet.align.similarity import estimate_similarity  # noqa: E402
from facenet.data.images import load_image  # noqa: E402
from facenet.models import fused_casia  # noqa: E402

CANDIDATES = {"tight": (1.0, 0.0), "down12": (1.0, 12.0), "loose85_down10": (0.85, 10.0), "loose75_down8": (0.75, 8.0)}


PAD = 24
CANVAS = 112 + 2 * PAD


def canvas(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The 160x160 canvas of one face: the ArcFace warp, translated by PAD (as align_faces)."""
    import cv2

    m = estimate_similarity(landmarks, ARCFACE_112 + PAD)
    return cv2.warpAffine(image, m, (CANVAS, CANVAS), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)


def sface_crops(canvases: np.ndarray) -> np.ndarray:
    """(N, 160, 160, 3) canvases → their central (N, 112, 112, 3) ArcFace crops."""
    return np.ascontiguousarray(canvases[:, PAD : PAD + 112, PAD : PAD + 112])


def casia_crops(canvases: np.ndarray, scale: float, dy: float) -> np.ndarray:
    """(N, 160, 160, 3) canvases → (N, 160, 160, 3) windows of side 112 / scale centred dy below the centre."""
    import cv2

    k = 160.0 / (112.0 / scale)
    m = np.array([[k, 0.0, 80.0 - k * CANVAS / 2], [0.0, k, 80.0 - k * (CANVAS / 2 + dy)]])
    return np.stack([cv2.warpAffine(np.ascontiguousarray(c), m, (160, 160), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE) for c in canvases])


def auc(d: np.ndarray, same: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(same, -d))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/own_embedding"))
    ap.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    root = args.data / "lfw"
    z = dict(np.load(args.out / "features_view1test.npz"))
    z["row"] = {p: i for i, p in enumerate(z["paths"].astype(str))}
    p = pairs(args.data, z, "view1test")
    casia = fused_casia.casia_network(threads=args.threads)
    t0 = time.perf_counter()
    canvases = np.stack([canvas(load_image(root / rel), lm)
                         for rel, lm in zip(z["paths"].astype(str), z["landmarks"])])
    t_canvas = time.perf_counter() - t0
    results: dict[str, object] = {"images": len(canvases), "pairs": len(p["same"]), "canvas_seconds": t_canvas}
    # the canvas's central slice is the sface crop: SFace of it against the cached SFace vectors
    from facenet.models import sface

    sf = sface.build(sface.SFACE, threads=args.threads).embed_faces(sface_crops(canvases[:64]))
    results["sface_slice_max_abs_diff"] = float(np.abs(sf - z["sface"][:64]).max())
    ds = sqd(z["sface"][p["a"]], z["sface"][p["b"]])
    for name in args.candidates:
        scale, dy = CANDIDATES[name]
        t0 = time.perf_counter()
        crops = casia_crops(canvases, scale, dy)
        v = casia.embed_faces(crops)
        secs = time.perf_counter() - t0
        np.save(args.out / f"casia_probe_{name}.npy", v)
        dc = sqd(v[p["a"]], v[p["b"]])
        zc = (dc - dc.mean()) / dc.std()
        zs = (ds - ds.mean()) / ds.std()
        results[name] = {"scale": scale, "dy": dy, "seconds": secs, "acc": best_accuracy(dc, p["same"])[0],
                         "auc": auc(dc, p["same"]), "acc_with_sface": best_accuracy(zc + zs, p["same"])[0],
                         "auc_with_sface": auc(zc + zs, p["same"])}
        print(name, results[name], file=sys.stderr, flush=True)
    results["sface_alone"] = {"acc": best_accuracy(ds, p["same"])[0], "auc": auc(ds, p["same"])}
    (args.out / "casia_crop.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
