"""Open-set identification on all of LFW with ``fused-casia`` (research use only), issue 9's
protocol as bench/own_embedding/identify_lfw.py runs it for ``fused``.

    nice -n 10 env OMP_NUM_THREADS=2 .venv/bin/python bench/own_embedding/identify_lfw_casia.py \
        --data ../shared/data --features out/own_embedding --out out/identify

Embeddings come from two sources:
- the 9,056 photos whose network features extract.py / extract_casia.py cached (LFW View 1 and
  View 2) get the shipped head applied to those features. The crops are the pipeline's, as
  speed.py checks;
- the other 4,177 photos go through ``FacePipeline("yunet", "fused-casia")`` end to end.

A sample of 32 cached photos also goes through the pipeline, and their largest difference is
reported. Plain embeddings only, no flip. The cache is
``OUT/lfw_fused_casia_<head sha256[:12]>.npz``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import automatic_for, embed, lfw_rows, open_set  # noqa: E402

import identify_common as C  # noqa: E402


def embeddings(data: Path, features: Path, out: Path) -> dict[str, np.ndarray]:
    from tqdm import tqdm

    from facenet.data.files import iter_images
    from facenet.models import fused_casia
    from facenet.models.fused import load_head
    from facenet.pipeline import FacePipeline

    root = data / "lfw"
    sha = fused_casia.HEAD.sha256
    cache = out / f"lfw_fused_casia_{sha[:12]}.npz"
    if cache.exists():
        return dict(np.load(cache))
    paths = list(iter_images(root))
    rel = [str(p.relative_to(root)) for p in paths]
    z = lfw_rows(features)
    head = load_head(Path(fused_casia.__file__).parent / "weights" / "fused_casia_head.npz")
    cached = embed(z, head)
    emb, found = np.zeros((len(rel), 128), np.float32), np.zeros(len(rel), bool)
    have = np.array([r in z["row"] for r in rel])
    for i in np.flatnonzero(have):
        emb[i], found[i] = cached[z["row"][rel[i]]], z["face_found"][z["row"][rel[i]]]
    pipe = FacePipeline("yunet", "fused-casia")
    todo = np.flatnonzero(~have)
    t0 = time.perf_counter()
    for s in tqdm(range(0, len(todo), 32), desc="fused-casia", unit="chunk"):
        idx = todo[s : s + 32]
        pc = pipe.cropper.crop_primary([paths[i] for i in idx])
        emb[idx], found[idx] = pipe.embedder.embed_faces(pc.crops), pc.face_found
    seconds = time.perf_counter() - t0
    sample = np.flatnonzero(have)[:32]
    pc = pipe.cropper.crop_primary([paths[i] for i in sample])
    check = float(np.abs(pipe.embedder.embed_faces(pc.crops) - emb[sample]).max())
    res = {"paths": np.array(rel), "labels": np.array([p.parent.name for p in paths]), "plain": emb,
           "face_found": found, "from_features": have, "seconds": np.float64(seconds), "check_max_abs": np.float64(check)}
    C.save_npz(cache, res)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--features", type=Path, default=Path("out/own_embedding"))
    ap.add_argument("--out", type=Path, default=Path("out/identify"))
    args = ap.parse_args(argv)
    z = embeddings(args.data, args.features, args.out)
    lab, paths, x = z["labels"].astype(str), z["paths"].astype(str), z["plain"]
    ev = open_set(x, lab, paths)
    res = {"images": len(x), "no_face": int((~z["face_found"]).sum()), "from_features": int(z["from_features"].sum()),
           "embed_seconds_rest": float(z["seconds"]), "pipeline_vs_features_max_abs": float(z["check_max_abs"]),
           "rows": ev["rows"], "automatic_threshold": automatic_for("fused-casia", x, lab, ev)}
    (args.out / "identify_lfw_fused_casia.json").write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
