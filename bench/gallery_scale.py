"""The gallery at scale (issue 9): 1,000,000 embeddings with the structure of real ones in the SQLite
gallery and its FAISS index, float32 and 8-bit storage, the SHIPPED index settings side by side with
the PREVIOUS ones (HNSW M=32, efConstruction 40, efSearch 512, float vectors for 8-bit galleries too).

    .venv/bin/python bench/gallery_scale.py --data ../shared/data --out out/bench [--n 1000000]   # make bench-gallery-scale

Data (bench/realistic.py): identity centres and per-face spread fitted on LFW's SFace embeddings
(--embeddings: an NPZ with labels/plain/face_found such as bench/identify_lfw.py's cache), LFW's
photos per person (a long tail of people with one photo). Queries: new faces of enrolled people
(mated) and faces of people never enrolled (strangers), half each, in two separate draws: TUNING
(the efSearch sweep; where the shipped defaults were chosen) and REPORT (the figures; never used to
choose anything).

Each step runs in a child process of its own (so its peak RSS is its own), through the real gallery
code: ``SQLiteStore.bulk_add`` (one transaction, the whole import; into a scratch copy when the
gallery exists already, so its saved indexes stay valid), ``FaceIndex.open`` per configuration
(builds and saves its index file, or finds the one an earlier run saved: the build figures are then
that run's, and say so), and a search child per configuration that opens the gallery and its index
as an identifying process would and times ``FaceIndex.search_subjects(q, k)`` one query at a time on
ONE thread. recall@1 compares with exact search (IndexFlatIP) over the same vectors (for 8-bit
storage the decoded ones; also against the float32 originals: the cost of quantisation). "Decision"
= a name, or unknown at the gallery's automatic threshold, compared with exact search's.
Results: OUT/gallery_scale[_N].json (with shipped/previous ratios) and a markdown table, with the
load average at every step (other work on the machine slows every timing).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from gallery_scale_report import ratios, table
from realistic import RealisticEmbeddings, distance_quantiles, lfw_embeddings

EPS = 1e-3  # squared L2; ann-benchmarks counts a neighbour within 1e-3 of the true one as found
IDENTITY = {"model": "sface", "weights_sha256": "synthetic", "embedding_size": 128, "flip": False}


def configs() -> dict[str, Any]:
    """name -> IndexOptions: the gallery's defaults, and the ones they replaced."""
    from facenet.gallery.index import IndexOptions

    return {"previous": IndexOptions(m=32, ef_construction=40, ef_search=512, hnsw_codes="float32"), "shipped": IndexOptions()}


def index_file(gallery: Path, config: str) -> Path:
    """The shipped index sits where Gallery.open looks for it; the previous one beside it."""
    from facenet.gallery.index import index_path_for

    return index_path_for(gallery) if config == "shipped" else Path(f"{gallery}.{config}.faiss")


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux VmHWM: its own, not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


# ---------------------------------------------------------------------------- parent: data
def make_data(args: argparse.Namespace, path: Path) -> None:
    """Generate the gallery and both query sets once (cached in ``path``)."""
    rng = np.random.default_rng(args.seed)
    labels, x = lfw_embeddings(args)
    model = RealisticEmbeddings(labels, x)
    centres, owner, faces = model.gallery(rng, args.n)
    sets = {}
    for name, n in (("report", args.queries), ("tune", args.tune_queries)):
        mated_of = rng.integers(0, len(centres), n // 2)
        sets[name] = np.concatenate([model.faces(rng, centres[mated_of]), model.faces(rng, model.identities(rng, n - n // 2))])
        sets[name + "_mated"] = np.arange(n) < n // 2
    quant = {"lfw": distance_quantiles(labels, x.astype(np.float32), rng), "synthetic": distance_quantiles(owner, faces, rng)}
    np.savez(path, faces=faces, owner=owner, **sets, quantiles=json.dumps(quant))


def exact_top1(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Position of the exact nearest vector (inner product) of each query."""
    import faiss

    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(np.ascontiguousarray(vectors))
    return flat.search(np.ascontiguousarray(queries), 1)[1][:, 0]


def ground_truth(data: Path, z: Any, storage: str) -> None:
    from facenet.gallery.quantize import decode, encode

    truth = Path(f"{data}.{storage}.truth.npz")
    if truth.exists():
        return
    vecs = z["faces"] if storage == "none" else decode(encode(z["faces"], storage), 128, storage)
    res = {s: exact_top1(vecs, z[s]) for s in ("report", "tune")}
    if storage != "none":
        res.update({s + "_float": exact_top1(z["faces"], z[s]) for s in ("report", "tune")})
    np.savez(truth, **res)


# ---------------------------------------------------------------------------- children
def _remove(gallery: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{gallery}{suffix}").unlink(missing_ok=True)


def child_import(args: argparse.Namespace) -> dict[str, Any]:
    """bulk_add of every face, as an import hands them over (one (name, faces) per person, each
    face with its photo's SHA-256), into the gallery (or a scratch copy when it exists)."""
    import hashlib

    from facenet.gallery.sqlite_store import SQLiteStore
    from facenet.gallery.store import ModelIdentity, NewFace

    z = np.load(args.data_file)
    faces, owner = z["faces"], z["owner"]
    target = args.gallery if not args.gallery.exists() else Path(f"{args.gallery}.scratch")
    _remove(target)
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    ends = np.r_[starts[1:], len(owner)]
    items = [(f"person{owner[a]:07d}", [NewFace(faces[j], hashlib.sha256(b"photo%d" % j).hexdigest(), source="synthetic")
                                        for j in range(a, b)]) for a, b in zip(starts, ends)]
    out: dict[str, Any] = {"load": load(), "rss_before_import_mb": peak_rss_mb(), "into": target.name}
    store = SQLiteStore.open_or_create(target, ModelIdentity.from_dict(IDENTITY), quantize=args.storage)
    t = time.perf_counter()
    added = store.bulk_add(items)
    dt = time.perf_counter() - t
    store.close()
    out.update(faces=added, seconds=round(dt, 2), faces_per_s=round(added / dt), rss_mb=peak_rss_mb(),
               gallery_file_mb=round(target.stat().st_size / 2**20, 1), load_after=load())
    if target != args.gallery:
        _remove(target)
    print(f"  [{args.storage}] bulk_add: {added:,} faces in {dt:.1f} s = {added / dt:,.0f}/s", flush=True)
    return out


def child_build(args: argparse.Namespace) -> dict[str, Any]:
    """FaceIndex.open with the configuration's options: build + save, or the earlier run's file."""
    from facenet.gallery.index import FaceIndex
    from facenet.gallery.sqlite_store import SQLiteStore

    options, path = configs()[args.config], index_file(args.gallery, args.config)
    record = Path(f"{path}.build.json")
    store = SQLiteStore.open(args.gallery)
    rss0, t, load0 = peak_rss_mb(), time.perf_counter(), load()
    index = FaceIndex.open(store, path, options)  # reads the store, builds, saves (or loads a current file)
    dt = time.perf_counter() - t
    out: dict[str, Any] = {"config": args.config, "options": dataclasses.asdict(options), "kind": index.kind,
                           "faiss_type": type(index._state.index).__name__, "faiss_file_mb": round(path.stat().st_size / 2**20, 1)}
    if index.source == "file" and record.exists():
        out.update(json.loads(record.read_text()), reused=f"the index file of an earlier run (opened in {dt:.1f} s)")
    else:
        out.update(seconds_read_store_build_save=round(dt, 2), rebuild_reason=index.rebuild_reason, load_before=load0,
                   load_after=load(), rss_before_mb=rss0, rss_peak_mb=peak_rss_mb(), omp_threads=os.environ.get("OMP_NUM_THREADS"))
        record.write_text(json.dumps({k: out[k] for k in ("seconds_read_store_build_save", "load_before", "load_after",
                                                          "rss_before_mb", "rss_peak_mb", "omp_threads")}))
    store.close()
    print(f"  [{args.storage} {args.config}] {out['kind']} ({out['faiss_type']}): "
          f"{out.get('reused') or str(out['seconds_read_store_build_save']) + ' s'}, {out['faiss_file_mb']} MB", flush=True)
    return out


def child_memory(args: argparse.Namespace) -> dict[str, Any]:
    """Peak RSS of a process that opens the gallery with one configuration's saved index and searches."""
    import faiss

    from facenet.gallery.index import FaceIndex
    from facenet.gallery.sqlite_store import SQLiteStore

    faiss.omp_set_num_threads(1)
    q = np.load(args.data_file)["report"][:100]
    rss0, t = peak_rss_mb(), time.perf_counter()
    store = SQLiteStore.open(args.gallery)
    index = FaceIndex.open(store, index_file(args.gallery, args.config), configs()[args.config], save=False)
    opened = time.perf_counter() - t
    index.search_subjects(q, args.k)
    store.close()
    return {"config": args.config, "source": index.source, "open_seconds": round(opened, 2), "rss_start_mb": rss0,
            "rss_search_process_mb": peak_rss_mb()}


def child_search(args: argparse.Namespace) -> dict[str, Any]:
    """Every configuration's index open in ONE process; each query is timed on every (configuration,
    efSearch) setting in turn, the order rotating from query to query, so that the machine's load
    (shared here) weighs on every setting alike and the ratios between them hold."""
    import faiss

    from facenet.gallery.impostor import ImpostorModel
    from facenet.gallery.index import FaceIndex
    from facenet.gallery.sqlite_store import SQLiteStore

    faiss.omp_set_num_threads(1)
    z = np.load(args.data_file)
    sets = {k: z[k] for k in ("report", "tune", "report_mated", "tune_mated")}
    truth = np.load(f"{args.data_file}.{args.storage}.truth.npz")
    owner = z["owner"]
    n_people = int(owner.max() + 1)
    t_id = ImpostorModel.shipped("sface").threshold(n_people, 1e-2, len(owner) / n_people)
    d_exact = {k: 2.0 - 2.0 * np.sum(sets[k] * z["faces"][truth[k]], 1) for k in ("report", "tune")}
    del z
    store = SQLiteStore.open(args.gallery)
    names_c = args.config.split(",")
    opts = {c: configs()[c] for c in names_c}
    indexes = {c: FaceIndex.open(store, index_file(args.gallery, c), opts[c], save=False) for c in names_c}
    first_id = {c: int(ix.face_ids()[0]) for c, ix in indexes.items()}  # ids follow the import order
    names = np.array([f"person{o:07d}" for o in range(n_people)])
    own = {c: opts[c].ef_for(len(ix)) for c, ix in indexes.items()}  # each configuration's default efSearch here

    def measure(name: str, settings: list[tuple[str, int]]) -> list[dict[str, Any]]:
        q, mated, exact = sets[name], sets[name + "_mated"], truth[name]
        runs = [(indexes[c], dataclasses.replace(opts[c], ef_search=ef)) for c, ef in settings]
        for ix, o in runs:  # warm
            ix.options = o
            ix.search_subjects(q[:20], args.k)
        lat, face, dist = (np.zeros((len(settings), len(q))) for _ in range(3))
        person = np.empty((len(settings), len(q)), dtype=object)
        load0 = load()
        for i in range(len(q)):
            for j in np.roll(np.arange(len(runs)), i):
                ix, o = runs[j]
                ix.options = o
                t = time.perf_counter()
                hit = ix.search_subjects(q[i:i + 1], args.k)[0][0]
                lat[j, i] = time.perf_counter() - t
                face[j, i], dist[j, i], person[j, i] = hit.face_id - first_id[settings[j][0]], hit.distance, hit.subject
        want = np.where(d_exact[name] < t_id, names[owner[exact]], "unknown")
        rows = []
        for j, (c, ef) in enumerate(settings):
            ok, agree = face[j] == exact, np.where(dist[j] < t_id, person[j], "unknown") == want
            row = {"config": c, "set": name, "ef_search": ef, "queries": len(q), "median_ms": round(1e3 * float(np.median(lat[j])), 3),
                   "p99_ms": round(1e3 * float(np.percentile(lat[j], 99)), 3), "recall_at_1_face": round(float(ok.mean()), 4),
                   "recall_at_1_face_mated": round(float(ok[mated].mean()), 4),
                   "recall_at_1_face_strangers": round(float(ok[~mated].mean()), 4),
                   "recall_at_1_person": round(float(np.mean(person[j] == names[owner[exact]])), 4),

                   "decision_threshold": round(float(t_id), 4), "exact_accepts": round(float(np.mean(d_exact[name] < t_id)), 4),
                   "decision_agreement": round(float(agree.mean()), 4), "load": [load0, load()]}
            if args.storage == "none":  # ann-benchmarks' k-NN recall: a hit when within EPS of the exact nearest distance
                tie = ok | (dist[j] <= d_exact[name] + EPS)
                row.update(recall_at_1_eps=round(float(tie.mean()), 4), recall_at_1_eps_strangers=round(float(tie[~mated].mean()), 4),
                           miss_excess_median=round(float(np.median((dist[j] - d_exact[name])[~ok])), 5) if (~ok).any() else 0.0)
            if name + "_float" in truth.files:  # 8-bit storage: against exact search over the float32 originals
                row["vs_float32_exact_face"] = round(float(np.mean(face[j] == truth[name + "_float"])), 4)
            rows.append(row)
        return rows

    out: dict[str, Any] = {"tuning": measure("tune", [(c, ef) for c in names_c
                                                      for ef in sorted(set(args.ef_search) | {own[c]})]),
                      "ef_search_default": own}
    out["ef_search_tuned"] = {c: min([r["ef_search"] for r in out["tuning"] if r["config"] == c
                                      and r["recall_at_1_face"] >= args.target], default=None) for c in names_c}
    # REPORT: each configuration at its own default efSearch (and at the one tuned above, when another)
    settings = [(c, own[c]) for c in names_c]
    settings += [(c, ef) for c, ef in out["ef_search_tuned"].items() if ef not in (None, own[c])]
    out["report"] = measure("report", settings)
    store.close()
    if "shipped" in names_c:
        out["identify_call"] = identify_call(args.gallery, sets["report"][:args.identify_queries], args.k)
    for r in out["report"]:
        print(f"  [{args.storage} {r['config']}] efSearch {r['ef_search']}: median {r['median_ms']} ms, p99 {r['p99_ms']} ms, "
              f"recall@1 {r['recall_at_1_face']} (mated {r['recall_at_1_face_mated']}, strangers "
              f"{r['recall_at_1_face_strangers']}), decisions {r['decision_agreement']}, load {r['load']}", flush=True)
    return out


def identify_call(gallery: Path, q: np.ndarray, k: int) -> dict[str, Any]:
    """The whole ``Gallery.identify_embeddings`` call on one query through ``Gallery.open`` (its
    saved index, the automatic size-dependent threshold): the first call (the threshold is
    computed once per change of the gallery) and the median of the others."""
    from facenet.gallery.gallery import Gallery

    t = time.perf_counter()
    g = Gallery.open(gallery, None, create=False)
    out: dict[str, Any] = {"open_s": round(time.perf_counter() - t, 2)}
    lat = []
    for v in q:
        t = time.perf_counter()
        g.identify_embeddings(v[None], k)
        lat.append(time.perf_counter() - t)
    g.close()
    out.update(first_call_ms=round(1e3 * lat[0], 2), median_ms_after=round(1e3 * float(np.median(lat[1:])), 3), queries=len(q))
    return out


# ---------------------------------------------------------------------------- parent: driver
def run_child(args: argparse.Namespace, phase: str, storage: str, data: Path, gallery: Path, config: str = "") -> dict[str, Any]:
    result = Path(f"{gallery}.{phase}{'.' + config.replace(',', '_') if config else ''}.json")
    cmd = [sys.executable, __file__, "--child", phase, "--storage", storage, "--n", str(args.n), "--config", config,
           "--ef-search", ",".join(map(str, args.ef_search)), "--target", str(args.target), "--k", str(args.k),
           "--identify-queries", str(args.identify_queries), "--nice-build", str(args.nice_build), "--data-file", str(data), "--gallery", str(gallery),
           "--result", str(result)]
    subprocess.run(cmd, check=True)
    return json.loads(result.read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"), help="folder holding lfw/")
    ap.add_argument("--out", type=Path, default=Path("out/bench"))
    ap.add_argument("--embeddings", type=Path, help="an .npz with labels and plain (LFW SFace embeddings)")
    ap.add_argument("--n", type=int, default=1_000_000, help="faces in the gallery")
    ap.add_argument("--storage", default="none,int8", help="comma-separated: none (float32), int8")
    ap.add_argument("--configs", default="previous,shipped", help="comma-separated, of: " + ", ".join(configs()))
    ap.add_argument("--queries", type=int, default=2000, help="reported queries (half mated, half strangers)")
    ap.add_argument("--tune-queries", type=int, default=1000, help="tuning queries (a separate draw)")
    ap.add_argument("--ef-search", type=lambda s: [int(v) for v in s.split(",")], default=[128, 256, 512, 1024],
                    help="efSearch values swept on the tuning queries")
    ap.add_argument("--target", type=float, default=0.99, help="recall@1 the tuning set must reach")
    ap.add_argument("--k", type=int, default=5, help="people per query (the identify default)")
    ap.add_argument("--identify-queries", type=int, default=20, help="queries timed through Gallery.identify_embeddings")
    ap.add_argument("--nice-build", type=int, default=0, help="niceness of the import and build children (shared machines)")
    ap.add_argument("--skip-import", action="store_true", help="no import measurement when the gallery exists")
    ap.add_argument("--import-only", action="store_true", help="measure bulk_add per storage (into a scratch gallery), then stop")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", choices=["import", "build", "memory", "search"], help=argparse.SUPPRESS)
    ap.add_argument("--config", default="", help=argparse.SUPPRESS)
    ap.add_argument("--data-file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--gallery", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        if args.child != "search" and args.nice_build:
            os.nice(args.nice_build)
        fn = {"import": child_import, "build": child_build, "memory": child_memory, "search": child_search}[args.child]
        args.result.write_text(json.dumps(fn(args), indent=1))
        return 0
    return drive(args)


def drive(args: argparse.Namespace) -> int:
    work = args.out / "gallery_scale"
    work.mkdir(parents=True, exist_ok=True)
    names = args.configs.split(",")
    out: dict[str, Any] = {"n": args.n, "load_at_start": load(), "cpus": os.cpu_count(), "target_recall": args.target,
                           "omp_threads_build": os.environ.get("OMP_NUM_THREADS"),
                           "configs": {c: dataclasses.asdict(configs()[c]) for c in names}}
    data = work / f"data_{args.n}_{args.seed}_{args.queries}_{args.tune_queries}.npz"  # the same every time: made once
    if not data.exists():
        make_data(args, data)
    z = np.load(data)
    out["quantiles"] = json.loads(str(z["quantiles"]))
    out["people"] = int(z["owner"].max() + 1)
    for k, v in out["quantiles"].items():
        print(f"  {k:9s} squared L2 5/50/95 %: genuine {v['genuine']}  impostor {v['impostor']}")
    storages = args.storage.split(",")
    if args.import_only:  # the import child alone: no ground truth, no index
        out["import"] = {st: run_child(args, "import", st, data, work / f"scale_{args.n}_{st}.gallery") for st in storages}
        (args.out / f"gallery_scale_import_{args.n}.json").write_text(json.dumps(out, indent=2) + "\n")
        return 0
    for storage in storages:
        gallery = work / f"scale_{args.n}_{storage}.gallery"
        ground_truth(data, z, storage)
        entry: dict[str, Any] = {}
        if not (args.skip_import and gallery.exists()):
            entry["import"] = run_child(args, "import", storage, data, gallery)
        entry["gallery_file_mb"] = round(gallery.stat().st_size / 2**20, 1)
        for c in names:
            entry[c] = {"build": run_child(args, "build", storage, data, gallery, c)}
        for c in names:
            entry[c]["memory"] = run_child(args, "memory", storage, data, gallery, c)
        entry["search"] = run_child(args, "search", storage, data, gallery, ",".join(names))
        if {"previous", "shipped"} <= set(names):
            entry["ratios_shipped_over_previous"] = ratios(entry)
        out[storage] = entry
    out["load_at_end"] = load()
    path = args.out / f"gallery_scale{'' if args.n == 1_000_000 else f'_{args.n}'}.json"
    path.write_text(json.dumps(out, indent=1))
    print(table(out, storages, names))
    print(f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
