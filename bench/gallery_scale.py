"""The gallery at scale (issue 9): 1,000,000 embeddings with the structure of real ones in the SQLite
gallery and its FAISS index, with float32 and with 8-bit storage.

    .venv/bin/python bench/gallery_scale.py --data ../shared/data --out out/bench [--n 1000000]   # make bench-gallery-scale

Data (bench/realistic.py): identity centres and per-face spread fitted on LFW's SFace embeddings
(--embeddings: an NPZ with labels/plain/face_found such as bench/identify_lfw.py's cache), LFW's
photos per person (a long tail of people with one photo); the run prints the synthetic genuine /
impostor distance quantiles next to LFW's. Queries: new faces of enrolled people (mated) and
faces of people never enrolled (strangers), half each; a TUNING set (its own draws) chooses
hnsw.efSearch (the smallest in --ef-search whose recall@1 on it reaches --target), and the
figures are measured on the separate REPORT set.

Each storage runs in a child process of its own (so its peak RSS is its own), through the real
gallery code: ``SQLiteStore.open_or_create`` + ``bulk_add`` (one transaction, the whole import),
``FaceIndex.open`` (reads the store, builds HNSW, saves ``<gallery>.faiss``), then a second child
opens the gallery and its saved index as an identifying process would and times
``FaceIndex.search_subjects(q, k)`` (top faces, then per-person aggregation) one query at a time
on ONE thread. recall@1 compares with exact search (IndexFlatIP) over the same vectors: the nearest
face, and the nearest person; for 8-bit storage also against exact search over the float32
originals (the cost of quantisation). Results: OUT/gallery_scale.json and a markdown table, with
the load average at start and end (other work on the machine slows every timing).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from realistic import RealisticEmbeddings, distance_quantiles, lfw_embeddings

IDENTITY = {"model": "sface", "weights_sha256": "synthetic", "embedding_size": 128, "flip": False}


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux VmHWM: its own, not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # elsewhere (KiB on Linux)


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


# ---------------------------------------------------------------------------- parent: data
def make_data(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    """Generate the gallery and both query sets once (cached in ``path``); returns the quantiles."""
    rng = np.random.default_rng(args.seed)
    labels, x = lfw_embeddings(args)
    model = RealisticEmbeddings(labels, x)
    t = time.perf_counter()
    centres, owner, faces = model.gallery(rng, args.n)
    sets = {}
    for name, n in (("report", args.queries), ("tune", args.tune_queries)):
        mated_of = rng.integers(0, len(centres), n // 2)
        sets[name] = np.concatenate([model.faces(rng, centres[mated_of]), model.faces(rng, model.identities(rng, n - n // 2))])
        sets[name + "_mated"] = np.arange(n) < n // 2
    quant = {"lfw": distance_quantiles(labels, x.astype(np.float32), rng), "synthetic": distance_quantiles(owner, faces, rng)}
    np.savez(path, faces=faces, owner=owner, **sets, quantiles=json.dumps(quant))
    print(f"{args.n:,} faces of {len(centres):,} people generated in {time.perf_counter() - t:.0f} s "
          f"({np.mean(np.bincount(owner) == 1):.0%} of the people have one photo)")
    return quant


def exact_top1(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Position of the exact nearest vector (inner product) of each query."""
    import faiss

    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(np.ascontiguousarray(vectors))
    return flat.search(np.ascontiguousarray(queries), 1)[1][:, 0]


# ---------------------------------------------------------------------------- child: import + build
def child_build(args: argparse.Namespace, data: Path, storage: str, gallery: Path) -> dict[str, Any]:
    import hashlib

    from facenet.gallery.index import FaceIndex, IndexOptions, index_path_for
    from facenet.gallery.sqlite_store import SQLiteStore
    from facenet.gallery.store import ModelIdentity, NewFace

    z = np.load(data)
    faces, owner = z["faces"], z["owner"]
    for p in (gallery, Path(str(gallery) + "-wal"), Path(str(gallery) + "-shm"), index_path_for(gallery),
              Path(str(index_path_for(gallery)) + ".json")):
        p.unlink(missing_ok=True)
    # items as an import hands them over: one (name, faces) per person, each face with its photo's SHA-256
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    ends = np.r_[starts[1:], len(owner)]
    items = [(f"person{owner[a]:07d}", [NewFace(faces[j], hashlib.sha256(b"photo%d" % j).hexdigest(), source="synthetic")
                                        for j in range(a, b)]) for a, b in zip(starts, ends)]
    out: dict[str, Any] = {"rss_before_import_mb": peak_rss_mb()}
    store = SQLiteStore.open_or_create(gallery, ModelIdentity.from_dict(IDENTITY), quantize=storage)
    t = time.perf_counter()
    added = store.bulk_add(items)
    dt = time.perf_counter() - t
    del items
    out["import"] = {"faces": added, "seconds": round(dt, 2), "faces_per_s": round(added / dt)}
    out["rss_after_import_mb"] = peak_rss_mb()
    print(f"  [{storage}] bulk_add: {added:,} faces in {dt:.1f} s = {added / dt:,.0f}/s", flush=True)
    options = IndexOptions(m=args.m, ef_construction=args.ef_construction)
    t = time.perf_counter()
    ids, vecs, names = store.all_embeddings()
    t_read = time.perf_counter() - t
    del ids, vecs, names
    t = time.perf_counter()
    index = FaceIndex.open(store, index_path_for(gallery), options)  # reads the store again, builds, saves
    out["index"] = {"kind": index.kind, "faiss_type": type(index._state.index).__name__, "m": args.m,
                    "ef_construction": args.ef_construction, "seconds_total": round(time.perf_counter() - t, 2),
                    "seconds_read_store": round(t_read, 2), "reason": index.rebuild_reason}
    print(f"  [{storage}] FaceIndex.open (read store {t_read:.1f} s + build + save): {out['index']['seconds_total']:.1f} s, "
          f"{out['index']['faiss_type']}", flush=True)
    out["rss_after_index_mb"] = peak_rss_mb()
    store.close()
    return out


# ---------------------------------------------------------------------------- child: search
def child_search(args: argparse.Namespace, data: Path, storage: str, gallery: Path) -> dict[str, Any]:
    import faiss

    from facenet.gallery.index import FaceIndex, IndexOptions, index_path_for
    from facenet.gallery.sqlite_store import SQLiteStore

    faiss.omp_set_num_threads(1)
    z = np.load(data)
    sets = {k: z[k] for k in ("report", "tune", "report_mated", "tune_mated")}
    truth = np.load(str(data) + f".{storage}.truth.npz")
    owner = z["owner"]
    # what a user sees: the decision (a name, or unknown) at the gallery's automatic threshold (the
    # shipped SFace model at this size, FPIR 1e-2), with the exact nearest face against the index's
    from facenet.gallery.impostor import ImpostorModel

    n_people = int(owner.max() + 1)
    t_id = ImpostorModel.shipped("sface").threshold(n_people, 1e-2, len(owner) / n_people)
    d_exact = {k: 2.0 - 2.0 * np.sum(sets[k] * z["faces"][truth[k]], 1) for k in ("report", "tune")}
    del z
    rss0 = peak_rss_mb()
    t = time.perf_counter()
    store = SQLiteStore.open(gallery)
    index = FaceIndex.open(store, index_path_for(gallery), IndexOptions(m=args.m, ef_construction=args.ef_construction), save=False)
    out: dict[str, Any] = {"open_seconds": round(time.perf_counter() - t, 2), "index_source": index.source,
                           "rss_data_mb": rss0}
    first_id = int(index.face_ids()[0])  # face ids follow the import order: position i is id first_id + i

    def measure(name: str, ef: int) -> dict[str, Any]:
        index.options = dataclasses.replace(index.options, ef_search=ef)
        q, mated = sets[name], sets[name + "_mated"]
        index.search_subjects(q[:50], args.k)  # warm
        lat, face, person, dist = np.zeros(len(q)), np.zeros(len(q), np.int64), [], np.zeros(len(q))
        for i in range(len(q)):
            t = time.perf_counter()
            hits = index.search_subjects(q[i:i + 1], args.k)[0]
            lat[i] = time.perf_counter() - t
            face[i], dist[i], _ = hits[0].face_id - first_id, hits[0].distance, person.append(hits[0].subject)
        exact = truth[name]
        want = np.where(d_exact[name] < t_id, np.array([f"person{o:07d}" for o in owner[exact]]), "unknown")
        agree = np.where(dist < t_id, np.array(person), "unknown") == want
        ok_face = face == exact
        ok_person = np.array([p == f"person{owner[e]:07d}" for p, e in zip(person, exact)])
        row = {"ef_search": ef, "queries": len(q), "median_ms": round(1e3 * float(np.median(lat)), 3),
               "p99_ms": round(1e3 * float(np.percentile(lat, 99)), 3),
               "recall_at_1_face": round(float(ok_face.mean()), 4), "recall_at_1_person": round(float(ok_person.mean()), 4),
               "recall_at_1_face_mated": round(float(ok_face[mated].mean()), 4),
               "recall_at_1_face_strangers": round(float(ok_face[~mated].mean()), 4),
               "decision_threshold": round(float(t_id), 4), "exact_accepts": round(float(np.mean(d_exact[name] < t_id)), 4),
               "decision_agreement": round(float(agree.mean()), 4),
               "decision_agreement_mated": round(float(agree[mated].mean()), 4),
               "decision_agreement_strangers": round(float(agree[~mated].mean()), 4)}
        if name + "_float" in truth.files:  # 8-bit storage: against exact search over the float32 originals
            exact_f = truth[name + "_float"]
            row["vs_float32_exact_face"] = round(float(np.mean(face == exact_f)), 4)
            row["vs_float32_exact_person"] = round(float(np.mean([p == f"person{owner[e]:07d}" for p, e in zip(person, exact_f)])), 4)
        return row

    out["load_before_search"] = load()
    out["tuning"] = [measure("tune", ef) for ef in args.ef_search]
    good = [r["ef_search"] for r in out["tuning"] if r["recall_at_1_face"] >= args.target]
    good_mated = [r["ef_search"] for r in out["tuning"] if r["recall_at_1_face_mated"] >= args.target]
    out["ef_search_chosen"] = min(good) if good else max(args.ef_search)
    out["ef_search_chosen_mated"] = min(good_mated) if good_mated else max(args.ef_search)
    out["report"] = [measure("report", ef) for ef in sorted({out["ef_search_chosen_mated"], out["ef_search_chosen"]})]
    out["load_after_search"] = load()
    out["rss_search_process_mb"] = peak_rss_mb()
    store.close()
    out["identify_call"] = identify_call(gallery, sets["report"][:args.identify_queries], args.k,
                                         IndexOptions(m=args.m, ef_construction=args.ef_construction))
    for r in out["report"]:
        print(f"  [{storage}] efSearch {r['ef_search']}: median {r['median_ms']} ms, p99 {r['p99_ms']} ms, recall@1 face "
              f"{r['recall_at_1_face']} (mated {r['recall_at_1_face_mated']}, strangers {r['recall_at_1_face_strangers']}), "
              f"person {r['recall_at_1_person']}", flush=True)
    return out


def identify_call(gallery: Path, q: np.ndarray, k: int, options: Any) -> dict[str, Any]:
    """The whole ``Gallery.identify_embeddings`` call on one query through ``Gallery.open`` (its
    FAISS search with the default IndexOptions, the automatic size-dependent threshold): the
    first call (the threshold is computed once per change of the gallery) and the median of the
    others. Only with the default HNSW settings (otherwise Gallery.open would rebuild the index)."""
    from facenet.gallery.gallery import Gallery
    from facenet.gallery.index import IndexOptions

    if (options.m, options.ef_construction) != (IndexOptions().m, IndexOptions().ef_construction):
        return {"skipped": "the HNSW settings are not the defaults Gallery.open uses"}
    t = time.perf_counter()
    g = Gallery.open(gallery, None, create=False)
    out: dict[str, Any] = {"open_s": round(time.perf_counter() - t, 2), "ef_search": IndexOptions().ef_search}
    lat = []
    for v in q:
        t = time.perf_counter()
        g.identify_embeddings(v[None], k)
        lat.append(time.perf_counter() - t)
    g.close()
    out.update(first_call_ms=round(1e3 * lat[0], 2), median_ms_after=round(1e3 * float(np.median(lat[1:])), 3), queries=len(q))
    return out


# ---------------------------------------------------------------------------- parent: driver
def run_child(args: argparse.Namespace, phase: str, storage: str, data: Path, gallery: Path) -> dict[str, Any]:
    result = gallery.with_suffix(f".{phase}.json")
    cmd = [sys.executable, __file__, "--child", phase, "--storage", storage, "--n", str(args.n), "--m", str(args.m),
           "--ef-construction", str(args.ef_construction), "--ef-search", ",".join(map(str, args.ef_search)),
           "--target", str(args.target), "--k", str(args.k), "--identify-queries", str(args.identify_queries),
           "--data-file", str(data), "--gallery", str(gallery),
           "--result", str(result)]
    subprocess.run(cmd, check=True)
    return json.loads(result.read_text())


def main(argv: list[str] | None = None) -> int:
    from facenet.gallery.index import IndexOptions

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"), help="folder holding lfw/")
    ap.add_argument("--out", type=Path, default=Path("out/bench"))
    ap.add_argument("--embeddings", type=Path, help="an .npz with labels and plain (LFW SFace embeddings)")
    ap.add_argument("--n", type=int, default=1_000_000, help="faces in the gallery")
    ap.add_argument("--storage", default="none,int8", help="comma-separated: none (float32), int8")
    ap.add_argument("--queries", type=int, default=2000, help="reported queries (half mated, half strangers)")
    ap.add_argument("--tune-queries", type=int, default=1000, help="tuning queries (a separate draw)")
    ap.add_argument("--m", type=int, default=IndexOptions().m, help="HNSW M (default: the gallery's)")
    ap.add_argument("--ef-construction", type=int, default=IndexOptions().ef_construction)
    ap.add_argument("--ef-search", type=lambda s: [int(v) for v in s.split(",")], default=[64, 128, 256, 512])
    ap.add_argument("--target", type=float, default=0.99, help="recall@1 the tuning set must reach")
    ap.add_argument("--k", type=int, default=5, help="people per query (the identify default)")
    ap.add_argument("--identify-queries", type=int, default=20, help="queries timed through Gallery.identify_embeddings")
    ap.add_argument("--phase", default="all", choices=["all", "search"], help="search: reuse the galleries of an earlier run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", choices=["build", "search"], help=argparse.SUPPRESS)
    ap.add_argument("--data-file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--gallery", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        fn = child_build if args.child == "build" else child_search
        args.result.write_text(json.dumps(fn(args, args.data_file, args.storage, args.gallery), indent=1))
        return 0
    return drive(args)


def drive(args: argparse.Namespace) -> int:
    from facenet.gallery.index import IndexOptions
    from facenet.gallery.quantize import decode, encode

    work = args.out / "gallery_scale"
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"n": args.n, "load_at_start": load(), "cpus": os.cpu_count(),
                           "hnsw": {"m": args.m, "ef_construction": args.ef_construction}, "target_recall": args.target}
    data = work / f"data_{args.n}_{args.seed}_{args.queries}_{args.tune_queries}.npz"  # the same every time: made once
    if not data.exists():
        make_data(args, data)
    z = np.load(data)
    out["quantiles"] = json.loads(str(z["quantiles"]))
    out["people"] = int(z["owner"].max() + 1)
    print("distance quantiles (squared L2, 5/50/95 %):")
    for k, v in out["quantiles"].items():
        print(f"  {k:9s} genuine {v['genuine']}  impostor {v['impostor']}")
    storages = args.storage.split(",")
    for storage in storages:
        gallery = work / f"scale_{args.n}_{storage}_m{args.m}_efc{args.ef_construction}.gallery"
        truth = Path(str(data) + f".{storage}.truth.npz")
        if not truth.exists():
            t = time.perf_counter()
            vecs = z["faces"] if storage == "none" else decode(encode(z["faces"], storage), 128, storage)
            res = {s: exact_top1(vecs, z[s]) for s in ("report", "tune")}
            if storage != "none":
                res.update({s + "_float": exact_top1(z["faces"], z[s]) for s in ("report", "tune")})
            np.savez(truth, **res)
            del vecs
            print(f"  [{storage}] exact ground truth in {time.perf_counter() - t:.0f} s", flush=True)
        entry: dict[str, Any] = {}
        if args.phase == "all":
            entry["build"] = run_child(args, "build", storage, data, gallery)
        elif gallery.with_suffix(".build.json").exists():  # the import and build of the run that made the gallery
            entry["build"] = json.loads(gallery.with_suffix(".build.json").read_text())
        entry["search"] = run_child(args, "search", storage, data, gallery)
        entry["gallery_file_mb"] = round(gallery.stat().st_size / 2**20, 1)
        entry["faiss_file_mb"] = round(Path(str(gallery) + ".faiss").stat().st_size / 2**20, 1)
        out[storage] = entry
    out["load_at_end"] = load()
    default = (IndexOptions().m, IndexOptions().ef_construction)
    suffix = ("" if args.n == 1_000_000 else f"_{args.n}") + ("" if (args.m, args.ef_construction) == default else
                                                               f"_m{args.m}_efc{args.ef_construction}")
    (args.out / f"gallery_scale{suffix}.json").write_text(json.dumps(out, indent=1))
    for s in storages:
        print(f"  [{s}] Gallery.identify_embeddings, one query, whole call: {out[s]['search']['identify_call']}")
    print(table(out, storages))
    print(f"-> {args.out / f'gallery_scale{suffix}.json'}")
    return 0


def table(out: dict[str, Any], storages: list[str]) -> str:
    lines = [f"\n{out['n']:,} faces, {out['people']:,} people; HNSW M={out['hnsw']['m']}, efConstruction="
             f"{out['hnsw']['ef_construction']}; load average {out['load_at_start']} -> {out['load_at_end']} on {out['cpus']} CPUs\n",
             "| storage | import /s | index build s | efSearch (tuned) | median ms | p99 ms | recall@1 face (mated / strangers) "
             "| recall@1 person | decision agreement (mated / strangers) | .gallery MB | .faiss MB | peak RSS build / search MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in storages:
        e = out[s]
        b = e.get("build", {})
        for r in e["search"]["report"]:
            lines.append(f"| {'float32' if s == 'none' else s} | {b.get('import', {}).get('faces_per_s', '-')} | "
                         f"{b.get('index', {}).get('seconds_total', '-')} | {r['ef_search']} | {r['median_ms']} | {r['p99_ms']} | "
                         f"{r['recall_at_1_face']} ({r['recall_at_1_face_mated']} / {r['recall_at_1_face_strangers']}) | "
                         f"{r['recall_at_1_person']} | {r['decision_agreement']} ({r['decision_agreement_mated']} / "
                         f"{r['decision_agreement_strangers']}) | {e['gallery_file_mb']} | {e['faiss_file_mb']} | "
                         f"{b.get('rss_after_index_mb', '-')} / {e['search']['rss_search_process_mb']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
