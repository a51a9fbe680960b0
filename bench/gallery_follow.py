"""Changes to a large gallery that the FAISS index follows without a rebuild, timed against the
rebuild they used to cost, on a copy of bench/gallery_scale.py's gallery (deleted afterwards):

- enrol one face (``Gallery.add_faces``: followed in memory), remove a person (masked at search),
  rename one, merge two (labels only), each timed alone and then the identification after it
  (which also recomputes the automatic threshold, once per change); save on close, reopen;
- another process enrols, removes and renames, then this one identifies (caught up from the
  database: appended, masked, relabelled);
- open with the index file of the previous settings (``<gallery>.previous.faiss``, format 1,
  HNSWFlat M=32 / efConstruction 40), used as it is, against ``reindex`` (a full rebuild);
- after all the changes, the nearest person of 200 queries against brute force over the database.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/gallery_follow.py \\
        --gallery out/bench/gallery_scale/scale_100000_none.gallery
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from facenet.gallery.backends import FaissSearch
from facenet.gallery.gallery import Gallery
from facenet.gallery.index import index_path_for
from facenet.gallery.sqlite_store import SQLiteStore
from facenet.gallery.store import NewFace


def open_copy(path: Path) -> Gallery:
    store = SQLiteStore.open(path)
    return Gallery(store, search=FaissSearch(store, index_path_for(path)))


def timed(out: dict[str, Any], key: str, fn: Callable[[], Any]) -> Any:
    t = time.perf_counter()
    value = fn()
    out[key] = time.perf_counter() - t
    return value


def brute_force_names(store: SQLiteStore, q: np.ndarray) -> list[str]:
    ids, emb, names = store.all_embeddings()
    best = np.argmax(q @ emb.T, axis=1)
    return [names[i] for i in best]


def copy_gallery(src: Path, dst: Path, index_file: Path) -> None:
    shutil.copy(src, dst)
    shutil.copy(index_file, str(dst) + ".faiss")
    shutil.copy(str(index_file) + ".json", str(dst) + ".faiss.json")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gallery", type=Path, required=True, help="a gallery with a current .faiss file")
    ap.add_argument("--previous", type=Path, default=None,
                    help="an index file of the previous settings (default <gallery>.previous.faiss when it exists)")
    ap.add_argument("--no-reindex", action="store_true", help="skip the previous settings' file and the reindex")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    previous = args.previous or Path(str(args.gallery) + ".previous.faiss")
    rng = np.random.default_rng(args.seed)
    q = rng.normal(size=(1, 128)).astype(np.float32)
    q /= np.linalg.norm(q)
    out: dict[str, Any] = {"load_before": str(os.getloadavg()), "omp_threads": os.environ.get("OMP_NUM_THREADS")}
    with tempfile.TemporaryDirectory(dir=args.gallery.parent) as tmp:
        copy = Path(tmp) / args.gallery.name
        copy_gallery(args.gallery, copy, index_path_for(args.gallery))
        g = timed(out, "open_s", lambda: open_copy(copy))
        index = g._search.index
        out["source"], out["faces"], out["kind"] = index.source, len(index), index.kind
        subjects = [s.name for s in g.subjects()]
        timed(out, "enrol_s", lambda: g.add_faces("follow-test", [NewFace(embedding=q[0])]))
        name = timed(out, "identify_after_enrol_s", lambda: g.identify_embeddings(q, k=1)[0].name)
        victim = subjects[0]
        probe = g.faces(victim)[0].embedding[None]
        changes = {"remove": lambda: g.remove(victim), "rename": lambda: g.rename(subjects[1], "renamed-1"),
                   "merge": lambda: g.merge(subjects[2], subjects[3])}
        for what, change in changes.items():  # each identify also recomputes the automatic threshold (per change)
            timed(out, f"{what}_s", change)
            timed(out, f"identify_after_{what}_s", lambda: g.identify_embeddings(probe, k=1))
        timed(out, "identify_again_s", lambda: g.identify_embeddings(probe, k=1))
        out["builds_in_process"] = index.builds
        timed(out, "close_save_s", g.close)
        g = timed(out, "reopen_s", lambda: open_copy(copy))
        out["reopen_source"] = g._search.index.source
        other = SQLiteStore.open(copy)  # another process: enrols, removes, renames
        other.add_faces("behind-its-back", [NewFace(embedding=-q[0])])
        other.remove_subject(subjects[4])
        other.rename(subjects[5], "renamed-5")
        other.close()
        timed(out, "other_process_changes_then_identify_s", lambda: g.identify_embeddings(-q, k=1))
        timed(out, "identify_again_after_catch_up_s", lambda: g.identify_embeddings(-q, k=1))
        out["caught_up"] = g._search.index.followed
        out["builds_after_reopen"] = g._search.index.builds
        probes = np.stack([f.embedding for s in subjects[10:210] for f in g.faces(s)[:1]])
        probes = probes + 0.05 * rng.normal(size=probes.shape).astype(np.float32)
        probes /= np.linalg.norm(probes, axis=1, keepdims=True)
        got = [r.candidates[0].name for r in g.identify_embeddings(probes, k=1)]
        out["nearest_equals_brute_force"] = float(np.mean([a == b for a, b in zip(got, brute_force_names(g.store, probes))]))
        out["describe_after"] = {k: v for k, v in g._search.index.describe().items() if k != "options"}
        g.close()
        if previous.exists() and not args.no_reindex:  # the previous settings' file: used as it is, then reindexed
            copy_gallery(args.gallery, copy, previous)
            g = timed(out, "open_previous_settings_s", lambda: open_copy(copy))
            d = g._search.index.describe()
            out["previous"] = {k: d[k] for k in ("source", "kind", "m", "ef_construction", "current", "file_format")}
            timed(out, "identify_on_previous_s", lambda: g.identify_embeddings(q, k=1))
            timed(out, "reindex_s", g.reindex)
            out["after_reindex"] = {k: g._search.index.describe()[k] for k in ("kind", "m", "ef_construction", "current")}
            g.close()
    out["found"] = name
    out["load_after"] = str(os.getloadavg())
    text = json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}, indent=1)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
