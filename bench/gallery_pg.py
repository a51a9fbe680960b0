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

EF_SEARCH = (40, 100, 200, 400)


def lfw_embeddings(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """(labels (N,), unit embeddings (N, 128)) of the LFW photos where a face was found."""
    path = args.embeddings or args.out / "lfw_sface_plain.npz"
    if not Path(path).exists():
        from facenet import FacePipeline
        from facenet.data.files import iter_images

        root = args.data / "lfw"
        paths = list(iter_images(root))
        pipe = FacePipeline("yunet", "sface")
        emb, found = np.zeros((len(paths), 128), np.float32), np.zeros(len(paths), bool)
        for i in range(0, len(paths), 64):
            pc = pipe.cropper.crop_primary(paths[i:i + 64])
            emb[i:i + len(pc)], found[i:i + len(pc)] = pipe.embed_faces(pc.crops), pc.face_found
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, labels=np.array([p.parent.name for p in paths]), plain=emb, face_found=found)
    z = np.load(path, allow_pickle=False)
    keep = z["face_found"] if "face_found" in z.files else np.ones(len(z["labels"]), bool)
    x = z["plain"][keep].astype(np.float64)
    return z["labels"][keep], x / np.linalg.norm(x, axis=1, keepdims=True)


class RealisticEmbeddings:
    """Identity centres + per-face spread fitted on real embeddings (see the module docstring)."""

    def __init__(self, labels: np.ndarray, x: np.ndarray) -> None:
        names, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
        means = np.zeros((len(names), x.shape[1]))
        np.add.at(means, inv, x)
        means /= counts[:, None]
        multi = counts >= 2
        resid = x[multi[inv]] - means[inv[multi[inv]]]
        self.within = resid.T @ resid / (len(resid) - multi.sum())  # unbiased pooled covariance
        # photos differ in how far they stray (pose, light): each face's offset scale, from LFW's
        n = counts[inv[multi[inv]]]
        scale = np.linalg.norm(resid, axis=1) * np.sqrt(n / (n - 1))
        self.scales = scale / np.sqrt(np.mean(scale ** 2))
        m = means[multi]
        between = np.cov(m, rowvar=False) - np.mean(1.0 / counts[multi]) * self.within
        w, v = np.linalg.eigh(between)
        self.between = (v * np.clip(w, 0, None)) @ v.T
        self.centre_mean = m.mean(axis=0)
        self.counts = counts

    def identities(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.multivariate_normal(self.centre_mean, self.between, size=n, method="eigh")

    def faces(self, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
        offsets = rng.multivariate_normal(np.zeros(len(self.within)), self.within, size=len(centres), method="eigh")
        f = centres + rng.choice(self.scales, len(centres))[:, None] * offsets
        return (f / np.linalg.norm(f, axis=1, keepdims=True)).astype(np.float32)

    def gallery(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(centres (K, D), person index per face (n,), faces (n, D)) with LFW's photos-per-person."""
        per = []
        while sum(per) < n:
            per.append(int(rng.choice(self.counts)))
        per[-1] -= sum(per) - n
        owner = np.repeat(np.arange(len(per)), per)
        centres = self.identities(rng, len(per))
        return centres, owner, self.faces(rng, centres[owner])


def distance_quantiles(labels: np.ndarray, x: np.ndarray, rng: np.random.Generator, pairs: int = 20000) -> dict[str, list[float]]:
    """Squared-L2 quantiles (5/50/95 %) of same-person pairs and of different-person pairs."""
    order = np.argsort(labels, kind="stable")
    _, start, count = np.unique(labels[order], return_index=True, return_counts=True)
    group = np.repeat(np.arange(len(count)), count)  # group of each position in `order`
    eligible = np.flatnonzero(count[group] >= 2)
    a = rng.choice(eligible, pairs)
    g = group[a]
    b = start[g] + (a - start[g] + rng.integers(1, count[g])) % count[g]  # another face of the same person
    same = np.sum((x[order[a]] - x[order[b]]) ** 2, axis=1)
    i, j = rng.integers(0, len(x), size=(2, 2 * pairs))
    keep = labels[i] != labels[j]
    diff = np.sum((x[i[keep]] - x[j[keep]]) ** 2, axis=1)[:pairs]
    q = [5, 50, 95]
    return {"genuine": np.percentile(same, q).round(3).tolist(), "impostor": np.percentile(diff, q).round(3).tolist()}


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
