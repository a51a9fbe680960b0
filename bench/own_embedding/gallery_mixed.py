"""Open-set identification on all of LFW through a real Gallery whose faces and queries come from
SFace, from ``fused``, or from both (issue 12's harmonic embedding; issue 9's protocol): 1,680
people enrolled from their first photo, their 7,484 other photos as mated probes, the 4,069
never-enrolled people's photos as strangers; each at the gallery's automatic threshold (FPIR target
1e-2), with mixed pairs at fused's declared threshold (facenet.gallery.harmonic).

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python bench/own_embedding/gallery_mixed.py --out out/identify

Reads the cached LFW embeddings of bench/identify_lfw.py (SFace) and bench/own_embedding/identify_lfw.py
(fused, plain); nothing is chosen here: the thresholds are the shipped ones and the gallery's own.
Rows: the gallery's faces (all SFace; half the people upgraded to fused; all fused, the gallery's
model then fused) times the query model. Writes OUT/gallery_mixed.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import identify_common as C  # noqa: E402
from facenet.gallery.auto_threshold import AutoThreshold  # noqa: E402
from facenet.gallery.backends import search_for  # noqa: E402
from facenet.gallery.gallery import Gallery  # noqa: E402
from facenet.gallery.sqlite_store import SQLiteStore  # noqa: E402
from facenet.gallery.store import ModelIdentity, NewFace  # noqa: E402
from facenet.models import model_config  # noqa: E402

CACHES = {"sface": "lfw_yunet_sface_fb143eea0783_1896b2abb030124a.npz",
          "fused": "lfw_yunet_fused_1e7e1491b634_1896b2abb030124a_plain.npz"}


def identity(name: str) -> ModelIdentity:
    c = model_config(name)
    return ModelIdentity(name, c.weights.sha256, int(c.embedding_size), False)


def run(folder: Path, x: dict[str, np.ndarray], lab: np.ndarray, g: np.ndarray, mated: np.ndarray, non: np.ndarray,
        faces: str, query: str) -> dict:
    ids = {m: identity(m) for m in x}
    made = {"sface": lambda i: "sface", "fused": lambda i: "fused", "half": lambda i: "fused" if i % 2 else "sface"}[faces]
    path = folder / f"{faces}_{query}.gallery"
    store = SQLiteStore.create(path, ids["sface"])
    store.bulk_add([(str(lab[j]), [NewFace(x[made(i)][j], model=ids[made(i)])]) for i, j in enumerate(g)])
    if faces == "fused":
        store.set_identity(ids["fused"])
    gal = Gallery(store, search=search_for(store, path), auto_threshold=AutoThreshold(store), query_model=ids[query])
    t0 = time.perf_counter()
    rm = gal.identify_embeddings(x[query][mated], k=1)
    rn = gal.identify_embeddings(x[query][non], k=1)
    secs = time.perf_counter() - t0
    threshold, source = gal.threshold()
    out = {"faces": faces, "gallery_model": gal.identity.model, "query": query,
           "faces_by_model": {m.model: n for m, n in store.model_counts().items()},
           "rank1": float(np.mean([r.candidates[0].name == t for r, t in zip(rm, lab[mated])])),
           "tpir": float(np.mean([r.name == t for r, t in zip(rm, lab[mated])])),
           "fpir": float(np.mean([r.known for r in rn])), "threshold": threshold, "threshold_source": source,
           "pair_kinds": gal.pair_kinds(), "queries_per_s": (len(mated) + len(non)) / secs}
    store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("out/identify"))
    args = ap.parse_args(argv)
    z = {m: np.load(args.out / f) for m, f in CACHES.items()}
    if not np.array_equal(z["sface"]["paths"], z["fused"]["paths"]):
        raise SystemExit("the two caches list different photos")
    x = {m: z[m]["plain"].astype(np.float32) for m in z}
    lab, paths = z["sface"]["labels"].astype(str), z["sface"]["paths"].astype(str)
    names, counts = np.unique(lab, return_counts=True)
    g, mated, non = C.split_protocol(lab, paths, names[counts >= 2], 1, names[counts == 1])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for faces in ("sface", "half", "fused"):
            for query in ("sface", "fused"):
                r = run(Path(tmp), x, lab, g, mated, non, faces, query)
                rows.append(r)
                print(f"faces {faces:5s} (gallery {r['gallery_model']:5s}) query {query:5s}: rank-1 {100 * r['rank1']:.2f}%  "
                      f"TPIR {100 * r['tpir']:.2f}% at FPIR {100 * r['fpir']:.2f}% (threshold {r['threshold']:.4f}); "
                      f"{r['queries_per_s']:.0f} queries/s", flush=True)
    res = {"enrolled": int(len(g)), "mated": int(len(mated)), "nonmated": int(len(non)), "rows": rows}
    (args.out / "gallery_mixed.json").write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
