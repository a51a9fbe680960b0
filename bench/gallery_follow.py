"""Enrol one face into a large gallery, then identify: the index following the enrolment in
memory (``Gallery.add_faces``) against the rebuild a write behind the gallery's back costs, side
by side on a copy of bench/gallery_scale.py's gallery (the copy is deleted afterwards).

    .venv/bin/python bench/gallery_follow.py --gallery out/bench/gallery_scale/scale_100000_none.gallery
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from facenet.gallery.backends import FaissSearch
from facenet.gallery.gallery import Gallery
from facenet.gallery.index import index_path_for
from facenet.gallery.sqlite_store import SQLiteStore
from facenet.gallery.store import NewFace


def open_copy(path: Path) -> Gallery:
    store = SQLiteStore.open(path)
    return Gallery(store, search=FaissSearch(store, index_path_for(path)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gallery", type=Path, required=True, help="a gallery with a current .faiss file")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    q = rng.normal(size=(1, 128)).astype(np.float32)
    q /= np.linalg.norm(q)
    out: dict[str, float | str] = {"load_before": str(os.getloadavg())}
    with tempfile.TemporaryDirectory(dir=args.gallery.parent) as tmp:
        copy = Path(tmp) / args.gallery.name
        for suffix in ("", ".faiss", ".faiss.json"):
            shutil.copy(str(args.gallery) + suffix, str(copy) + suffix)
        t = time.perf_counter()
        g = open_copy(copy)
        out["open_s"], out["source"], out["faces"] = time.perf_counter() - t, g._search.index.source, len(g._search.index)
        t = time.perf_counter()
        g.add_faces("follow-test", [NewFace(embedding=q[0])])
        name = g.identify_embeddings(q, k=1)[0].name
        out["followed_enrol_and_identify_s"] = time.perf_counter() - t
        t = time.perf_counter()
        g.close()
        out["close_save_s"] = time.perf_counter() - t
        t = time.perf_counter()
        g = open_copy(copy)
        out["reopen_s"], out["reopen_source"] = time.perf_counter() - t, g._search.index.source
        t = time.perf_counter()
        g.store.add_faces("behind-its-back", [NewFace(embedding=-q[0])])  # the index cannot follow this
        g.identify_embeddings(-q, k=1)
        out["unfollowed_enrol_and_identify_s"] = time.perf_counter() - t
        g.store.close()
    out["found"] = name
    out["load_after"] = str(os.getloadavg())
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
