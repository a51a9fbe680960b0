"""pgvector at scale (issue 9): a PostgreSQL gallery of N embeddings with the structure of real ones.

    .venv/bin/python bench/gallery_pg.py --data ../shared/data --out out/bench [--n 100000]   # make bench-gallery-pg

Embeddings, queries and their split as in bench/gallery_scale.py (bench/realistic.py: identity
centres and per-face spread fitted on LFW's SFace embeddings, LFW's photos per person; queries
half new faces of enrolled people, half strangers; a TUNING set chooses hnsw.ef_search, the
figures are measured on the separate REPORT set). The run prints how the synthetic distances
compare with LFW's.

Measured on one embedded PostgreSQL 18 + pgvector 0.8 server (facenet.gallery.pg_server, or
--url for another server): the bulk import (PostgresStore.bulk_add: one COPY, then the HNSW index
built once with the gallery's default settings, pg_schema.HNSW_M / HNSW_EF_CONSTRUCTION) and the
incremental enrolment rate (add_faces, one person per transaction, with the index live); then for
each HNSW build setting in --configs (m:ef_construction; the index dropped and built again): the
build time and index size, recall@1 against exact search of ``search_subjects(q, k)`` (the call
the gallery makes: nearest faces, then per person) for each --ef-search on the tuning queries, and
at the smallest ef_search that reaches --target there, single-query latency on one client thread
(median, p99; a Unix-socket round trip included, measured alone with ``SELECT 1``) and recall@1
on the report queries. Results: OUT/gallery_pg.json and a markdown table, with the load average.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from facenet.gallery.pg_schema import HNSW_EF_CONSTRUCTION, HNSW_M
from facenet.gallery.pg_server import embedded_server
from facenet.gallery.postgres_store import PostgresStore
from facenet.gallery.store import ModelIdentity, NewFace
from gallery_scale import load, make_data
from realistic import RealisticEmbeddings, lfw_embeddings


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


def exact_nearest(vecs: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row of the exact nearest vector (inner product) of each query."""
    return np.concatenate([np.argmax(q[i:i + 256] @ vecs.T, axis=1) for i in range(0, len(q), 256)])


def measure(store: PostgresStore, q: np.ndarray, mated: np.ndarray, exact_id: np.ndarray, exact_name: list[str],
            ef: int, k: int) -> dict[str, Any]:
    store.ef_search = ef
    store.search_subjects(q[:20], k)  # warm: the session setting, the index pages
    lat, face, name = np.zeros(len(q)), np.zeros(len(q), np.int64), []
    for i in range(len(q)):
        t = time.perf_counter()
        hits = store.search_subjects(q[i:i + 1], k)[0]
        lat[i] = time.perf_counter() - t
        face[i] = hits[0].face_id
        name.append(hits[0].subject)
    ok = face == exact_id
    return {"ef_search": ef, "queries": len(q), "median_ms": round(1e3 * float(np.median(lat)), 3),
            "p99_ms": round(1e3 * float(np.percentile(lat, 99)), 3), "recall_at_1_face": round(float(ok.mean()), 4),
            "recall_at_1_face_mated": round(float(ok[mated].mean()), 4),
            "recall_at_1_face_strangers": round(float(ok[~mated].mean()), 4),
            "recall_at_1_person": round(float(np.mean([a == b for a, b in zip(name, exact_name)])), 4)}


def build_index(store: PostgresStore, m: int, efc: int) -> float:
    """Drop the gallery's HNSW index and build it with (m, ef_construction); seconds."""
    with store._tx() as conn:
        conn.execute("DROP INDEX IF EXISTS faces_embedding_hnsw")
    t = time.perf_counter()
    with store._tx() as conn:
        conn.execute("SELECT set_config('maintenance_work_mem', '1GB', true)")
        conn.execute(f"CREATE INDEX faces_embedding_hnsw ON faces USING hnsw (embedding vector_ip_ops) "
                     f"WITH (m = {int(m)}, ef_construction = {int(efc)})")
    return time.perf_counter() - t


def round_trip(store: PostgresStore, n: int = 2000) -> dict[str, float]:
    """A trivial statement on the store's connection: what every search pays before any work."""
    lat = np.zeros(n)
    with store._tx(atomic=False) as conn:
        for i in range(n):
            t = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            lat[i] = time.perf_counter() - t
    return {"median_ms": round(1e3 * float(np.median(lat)), 3), "p99_ms": round(1e3 * float(np.percentile(lat, 99)), 3)}


def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    work = args.out / "gallery_pg"
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"data_{args.n}_{args.seed}.npz"
    if not data.exists():
        make_data(args, data)
    z = np.load(data)
    faces, owner = z["faces"], z["owner"]
    out: dict[str, Any] = {"n": args.n, "people": int(owner.max() + 1), "quantiles": json.loads(str(z["quantiles"])),
                           "server": "embedded PostgreSQL 18 + pgvector 0.8" if args.url is None else "given --url"}
    print(f"{args.n:,} synthetic faces of {out['people']:,} people; distance quantiles (squared L2, 5/50/95 %):")
    for key, v in out["quantiles"].items():
        print(f"  {key:9s} genuine {v['genuine']}  impostor {v['impostor']}")
    name = f"bench{int(time.time())}"
    store = PostgresStore.create(url, ModelIdentity("sface", "synthetic", 128, False), name=name)
    try:
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        items = [(f"p{owner[a]}", [NewFace(f) for f in faces[a:b]]) for a, b in zip(starts, np.r_[starts[1:], len(owner)])]
        t = time.perf_counter()
        added = store.bulk_add(items, rebuild_index=True)
        dt = time.perf_counter() - t
        out["bulk_import"] = {"faces": added, "seconds": round(dt, 2), "faces_per_s": round(added / dt),
                              "index": f"m={HNSW_M}, ef_construction={HNSW_EF_CONSTRUCTION} (built in the same transaction)"}
        print(f"bulk import: {added:,} faces in {dt:.1f} s ({added / dt:,.0f}/s), HNSW index included", flush=True)
        rng = np.random.default_rng(args.seed + 1)
        model = RealisticEmbeddings(*lfw_embeddings(args))
        extra = model.faces(rng, model.identities(rng, args.incremental))
        t = time.perf_counter()
        for i, f in enumerate(extra):
            store.add_faces(f"new{i}", [NewFace(f)])
        dt = time.perf_counter() - t
        out["incremental"] = {"faces": len(extra), "faces_per_s": round(len(extra) / dt), "ms_per_enrolment": round(1e3 * dt / len(extra), 2)}
        print(f"incremental enrolment (one person per transaction, index live): {out['incremental']}", flush=True)
        out["select_1_round_trip"] = round_trip(store)
        print(f"round trip of SELECT 1 on the store's connection: {out['select_1_round_trip']}", flush=True)

        ids, vecs, names = store.all_embeddings()
        sets = {}
        for s in ("tune", "report"):
            e = exact_nearest(vecs, z[s])
            sets[s] = (z[s], z[s + "_mated"], ids[e], [names[j] for j in e])
        out["configs"] = []
        for cfg in args.configs:
            m, efc = (int(v) for v in cfg.split(":"))
            secs = build_index(store, m, efc)
            with store._tx() as conn:
                size = conn.execute("SELECT pg_relation_size('faces_embedding_hnsw')").fetchone()[0]
            row: dict[str, Any] = {"m": m, "ef_construction": efc, "build_s": round(secs, 1), "index_mb": round(size / 2**20, 1)}
            row["tuning"] = [measure(store, *sets["tune"], ef, args.k) for ef in args.ef_search]
            good = [r["ef_search"] for r in row["tuning"] if r["recall_at_1_face"] >= args.target]
            row["ef_search_chosen"] = min(good) if good else max(args.ef_search)
            row["report"] = measure(store, *sets["report"], row["ef_search_chosen"], args.k)
            row["load"] = load()
            out["configs"].append(row)
            r = row["report"]
            print(f"m={m} ef_construction={efc}: build {secs:.1f} s, {row['index_mb']} MB; tuning recall@1 "
                  f"{[(t['ef_search'], t['recall_at_1_face']) for t in row['tuning']]}; report at ef_search {r['ef_search']}: "
                  f"median {r['median_ms']} ms, p99 {r['p99_ms']} ms, recall@1 face {r['recall_at_1_face']} "
                  f"(mated {r['recall_at_1_face_mated']}, strangers {r['recall_at_1_face_strangers']}), person {r['recall_at_1_person']}",
                  flush=True)
        with store._tx() as conn:
            size = conn.execute("SELECT pg_table_size('faces'), pg_database_size(current_database())").fetchone()
        out["size_mb"] = {"faces_table": round(size[0] / 2**20, 1), "database": round(size[1] / 2**20, 1)}
        out["server_pss_mb"] = server_pss_mb(store)
        print(f"size on disk (MB): {out['size_mb']}; server memory (PSS, MB): {out['server_pss_mb']}")
    finally:
        if not args.keep:
            from psycopg import sql

            with store._tx() as conn:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(f"facenet_{name}")))
        store.close()
    return out


def table(out: dict[str, Any]) -> str:
    lines = [f"\n{out['n']:,} faces in pgvector; bulk import {out['bulk_import']['faces_per_s']:,}/s "
             f"({out['bulk_import']['index']}); SELECT 1 round trip median {out['select_1_round_trip']['median_ms']} ms; "
             f"load average {out['load_average_at_start']} -> {out['load_average_at_end']}\n",
             "| m | ef_construction | build s | index MB | ef_search (tuned) | median ms | p99 ms "
             "| recall@1 face (mated / strangers) | recall@1 person |", "|---|---|---|---|---|---|---|---|---|"]
    for c in out["configs"]:
        r = c["report"]
        lines.append(f"| {c['m']} | {c['ef_construction']} | {c['build_s']} | {c['index_mb']} | {r['ef_search']} | {r['median_ms']} | "
                     f"{r['p99_ms']} | {r['recall_at_1_face']} ({r['recall_at_1_face_mated']} / {r['recall_at_1_face_strangers']}) | "
                     f"{r['recall_at_1_person']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"), help="folder holding lfw/")
    ap.add_argument("--out", type=Path, default=Path("out/bench"))
    ap.add_argument("--embeddings", type=Path, help="an .npz with labels and plain (LFW SFace embeddings)")
    ap.add_argument("--n", type=int, default=100_000, help="faces in the gallery")
    ap.add_argument("--queries", type=int, default=2000, help="reported queries (half mated, half strangers)")
    ap.add_argument("--tune-queries", type=int, default=1000, help="tuning queries (a separate draw)")
    ap.add_argument("--incremental", type=int, default=1000, help="faces enrolled one by one after the import")
    ap.add_argument("--configs", type=lambda s: s.split(","), default=[f"{HNSW_M}:{HNSW_EF_CONSTRUCTION}"],
                    help="HNSW build settings to measure, m:ef_construction,...")
    ap.add_argument("--ef-search", type=lambda s: [int(v) for v in s.split(",")], default=[100, 200, 400, 800])
    ap.add_argument("--target", type=float, default=0.99, help="recall@1 the tuning set must reach")
    ap.add_argument("--k", type=int, default=5, help="people per query (the identify default)")
    ap.add_argument("--url", help="a postgresql:// URL to use instead of the embedded server")
    ap.add_argument("--pgdata", type=Path, help="the embedded server's data folder (default OUT/pg)")
    ap.add_argument("--keep", action="store_true", help="keep the benchmark's gallery")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    start_load = load()
    if args.url:
        out = run(args, args.url)
    else:
        with embedded_server((args.pgdata or args.out / "pg").absolute()) as url:
            started = round(time.perf_counter() - t, 2)
            print(f"embedded server ready in {started} s")
            out = run(args, url)
            out["server_start_s"] = started
    out["load_average_at_start"], out["load_average_at_end"] = start_load, load()  # other work slows every figure
    (args.out / "gallery_pg.json").write_text(json.dumps(out, indent=2))
    print(table(out))
    print(f"-> {args.out / 'gallery_pg.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
