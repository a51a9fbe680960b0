"""pgvector at scale (issue 9): a PostgreSQL gallery of N embeddings with the structure of real ones.

    .venv/bin/python bench/gallery_pg.py --data ../shared/data --out out/bench [--n 100000]

Embeddings: LFW's SFace embeddings (computed once with FacePipeline("yunet", "sface") and cached
in OUT, or --embeddings NPZ with ``labels`` and ``plain`` arrays, e.g. bench/identify_lfw.py's
cache) give the model: identity centres drawn from a Gaussian fitted to LFW's identity means (its
covariance less the part the per-face spread explains), per-face offsets from the pooled
within-identity covariance, each scaled by a factor drawn from LFW's per-photo spread (some photos
stray further than others), photos per person from LFW's counts; every face is normalised. The
run prints how the synthetic distances compare with LFW's (genuine and impostor quantiles).

Measured on one embedded PostgreSQL 18 + pgvector 0.8 server (facenet.gallery.pg_server, or
--url for another server): the bulk import (PostgresStore.bulk_add: one COPY, then the HNSW index
built once) and the incremental enrolment rate (add_faces, one person per transaction, with the
index live); single-query latency on one client thread (median, p99; search(q, 1) as the gallery
calls it, a Unix-socket round trip included) and recall@1 against exact search for several
hnsw.ef_search (and how often the face found is of the exact nearest face's person); the table's
and the index's size on disk and the server's memory (PSS summed over its processes). Results go
to OUT/gallery_pg.json, with the machine's load average (other work slows every figure).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from facenet.gallery.pg_server import embedded_server
from facenet.gallery.postgres_store import PostgresStore
from facenet.gallery.store import ModelIdentity, NewFace
from realistic import RealisticEmbeddings, distance_quantiles, lfw_embeddings

EF_SEARCH = (40, 100, 200, 400)


def server_pss_mb(store: PostgresStore) -> float | None:
    import psutil

    try:
        with store._tx() as conn:
            data_dir = conn.execute("SHOW data_directory").fetchone()[0]
        total = 0
        for p in psutil.process_iter(["name"]):
            try:
                if (p.info["name"] or "").startswith("postgres") and p.cwd() == data_dir:
                    total += p.memory_full_info().pss
            except psutil.Error:
                continue
        return round(total / 2**20, 1)
    except Exception:  # another machine's server, or no permission: not measured
        return None


def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed)
    labels, x = lfw_embeddings(args)
    model = RealisticEmbeddings(labels, x)
    centres, owner, faces = model.gallery(rng, args.n)
    print(f"{args.n:,} synthetic faces of {len(centres):,} people; distance quantiles (5/50/95 %):")
    print(f"  LFW       {distance_quantiles(labels, x.astype(np.float32), rng)}")
    print(f"  synthetic {distance_quantiles(owner, faces, rng)}")
    identity = ModelIdentity("sface", "synthetic", 128, False)
    name = f"bench{int(time.time())}"
    store = PostgresStore.create(url, identity, name=name)
    out: dict[str, Any] = {"n": args.n, "people": len(centres), "server": "embedded PostgreSQL 18 + pgvector 0.8"
                           if args.url is None else "given --url"}
    try:
        items = [(f"p{i}", []) for i in range(len(centres))]
        for i, f in zip(owner, faces):
            items[i][1].append(NewFace(f))
        t = time.perf_counter()
        added = store.bulk_add(items, rebuild_index=True)
        out["bulk_import"] = {"faces": added, "seconds": round(time.perf_counter() - t, 2),
                              "faces_per_s": round(added / (time.perf_counter() - t))}
        print(f"bulk import: {added:,} faces in {out['bulk_import']['seconds']} s ({out['bulk_import']['faces_per_s']:,}/s)")
        extra = model.faces(rng, model.identities(rng, args.incremental))
        t = time.perf_counter()
        for i, f in enumerate(extra):
            store.add_faces(f"new{i}", [NewFace(f)])
        dt = time.perf_counter() - t
        out["incremental"] = {"faces": len(extra), "faces_per_s": round(len(extra) / dt), "ms_per_enrolment": round(1e3 * dt / len(extra), 2)}
        print(f"incremental enrolment (one person per transaction, index live): {out['incremental']}")

        ids, vecs, names = store.all_embeddings()
        person = dict(zip(ids.tolist(), names))
        probes = model.faces(rng, centres[rng.integers(0, len(centres), args.queries)])  # mated: new photos of enrolled people
        exact = ids[np.argmax(probes @ vecs.T, axis=1)]
        out["search"] = []
        for ef in EF_SEARCH:
            store.ef_search = ef
            store.search(probes[:20], 1)  # warm
            lat, got = [], []
            for q in probes:
                t = time.perf_counter()
                _, f = store.search(q[None], 1)
                lat.append(time.perf_counter() - t)
                got.append(f[0, 0])
            row = {"ef_search": ef, "median_ms": round(1e3 * float(np.median(lat)), 3), "p99_ms": round(1e3 * float(np.percentile(lat, 99)), 3),
                   "recall_at_1": round(float(np.mean(np.array(got) == exact)), 4),
                   "same_person_at_1": round(float(np.mean([person.get(int(g)) == person[int(e)] for g, e in zip(got, exact)])), 4)}
            out["search"].append(row)
            print(f"search ef_search={ef}: median {row['median_ms']} ms, p99 {row['p99_ms']} ms, recall@1 {row['recall_at_1']} "
                  f"(the exact nearest face's person: {row['same_person_at_1']})")
        with store._tx() as conn:
            size = conn.execute("SELECT pg_table_size('faces'), pg_relation_size('faces_embedding_hnsw'), "
                                "pg_database_size(current_database())").fetchone()
        out["size_mb"] = {"faces_table": round(size[0] / 2**20, 1), "hnsw_index": round(size[1] / 2**20, 1), "database": round(size[2] / 2**20, 1)}
        out["server_pss_mb"] = server_pss_mb(store)
        print(f"size on disk (MB): {out['size_mb']}; server memory (PSS, MB): {out['server_pss_mb']}")
    finally:
        if not args.keep:
            from psycopg import sql

            with store._tx() as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(f"facenet_{name}")))
        store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"), help="folder holding lfw/")
    ap.add_argument("--out", type=Path, default=Path("out/bench"))
    ap.add_argument("--embeddings", type=Path, help="an .npz with labels and plain (LFW SFace embeddings)")
    ap.add_argument("--n", type=int, default=100_000, help="faces in the gallery")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--incremental", type=int, default=1000, help="faces enrolled one by one after the import")
    ap.add_argument("--url", help="a postgresql:// URL to use instead of the embedded server")
    ap.add_argument("--pgdata", type=Path, help="the embedded server's data folder (default OUT/pg)")
    ap.add_argument("--keep", action="store_true", help="keep the benchmark's gallery")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    out_load = os.getloadavg()[0]
    if args.url:
        out = run(args, args.url)
    else:
        with embedded_server((args.pgdata or args.out / "pg").absolute()) as url:
            start = round(time.perf_counter() - t, 2)
            print(f"embedded server ready in {start} s")
            out = run(args, url)
            out["server_start_s"] = start
    out["load_average_1min_at_start"] = round(out_load, 2)  # other work on the machine slows every figure
    (args.out / "gallery_pg.json").write_text(json.dumps(out, indent=2))
    print(f"-> {args.out / 'gallery_pg.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
