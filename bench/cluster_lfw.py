"""Clustering (issue 10): choose every setting on CelebA-wild, then score every method once on all of LFW.

    .venv/bin/python bench/cluster_lfw.py calibrate --write src/facenet/cluster   # the shipped settings
    .venv/bin/python bench/cluster_lfw.py calibrate --check   # exit 1 unless the shipped file is reproduced
    .venv/bin/python bench/cluster_lfw.py lfw                 # every method side by side on LFW (make bench-cluster)
    .venv/bin/python bench/cluster_lfw.py lfw --graph-setting fixed --skip agglomerative kmeans dbscan hdbscan
    .venv/bin/python bench/cluster_lfw.py time                # the graph method's clustering seconds on LFW, no scores
    .venv/bin/python bench/cluster_lfw.py calibrate --models fused,fused+flip --write src/facenet/cluster
    .venv/bin/python bench/cluster_lfw.py lfw --models sface,sface+flip,fused,fused+flip --tag _accurate

``--models`` (default sface,sface+flip): any of ``MODELS``. ``calibrate --write`` puts the
calibrated models' entries into the shipped file and keeps the others as they are (the split must
be the shipped one); ``--check`` compares each calibrated model's entry with the shipped one.

Embeddings: bench/identify_lfw.py's caches (its helpers in bench/identify_common.py) (``FacePipeline("yunet", "sface")``, the plain crop and
its mirror; flip TTA = normalise(plain + mirror)), computed there once; the ``fused`` and
``fused-casia`` caches by bench/cluster_embed.py (cached network features through the shipped
heads, the pipeline for the rest). The size-aware rules need an impostor model for s(N):
:func:`facenet.cluster.methods.impostor_model`, the one a gallery of that model uses (SFace's
shipped ones; for ``fused`` and ``fused-casia`` plain SFace's rescaled by the ratio of the
verification thresholds; their T grids are SIZE_GRID's bounds times that ratio,
:func:`model_size_grid`, so the same rules are searched on the model's distances: fused's fixed
threshold, 1.16, is under SIZE_GRID's 1.2, which left the capped grid empty). The flip models
(``fused+flip``, ``fused-casia+flip``) borrow SFace + flip's model rescaled by the flip thresholds,
as their galleries do; a model without any impostor model gets the fixed rule only (``size_rules``
in its entry says so). Their
heads were fitted without labels on CelebA-wild photos (``HEAD_NOTE``): CelebA-wild is then not
fully held out for them, and each entry says so (``held_out``).

Development split (``calibrate``, never LFW): CelebA-wild as bench/identify_lfw.py cleans it (the
5 identities also in LFW, the mixed identity 07312 and the photos copied across identities left
out, 07393 merged into 07392, photos without a face left out: 6,130 photos of 292 people). To give
it LFW's shape (most people with one photo), each of ``--draws`` seeded draws keeps, for every
identity, a number of its photos drawn from LFW's photos-per-person counts (the folder sizes only,
no LFW embedding or label decision; capped at what the identity has): about 590 photos of 292
people per draw, ~70 % of them alone. The draws have no large identity (at most the ~21 photos
an identity has), LFW has several (530 photos of one man): so the full 6,130-photo set (21 photos a
person, dense) is the second regime. Every setting maximises the mean of the two regimes'
(pairwise F1 + BCubed F) / 2 (draws averaged first); ties go to the smaller threshold.
graph's fixed threshold is chosen first (average or components, then the k of the k-NN graph).
The size-aware average linkage (``threshold`` x ``pair_fpir`` x ``size_power``, ``PAIR_FPIRS`` /
``SIZE_POWERS`` / ``SIZE_GRID``, then its k) is calibrated too and stored as the opt-in
``size_aware`` entry: its limit for two single faces follows the number of faces through the
gallery's CelebA impostor model, so one ``pair_fpir`` serves CelebA's ~600-photo draws and its
6,130-photo set alike, where a fixed threshold's best value drifts with the collection size. Its
many-pairs limit T (1.36) is looser than the fixed threshold, which cost precision at 1M synthetic
faces (bench/cluster_RESULTS.md). Two rules that never loosen the fixed threshold follow:
``size_capped`` caps every merge limit at it, min(t_fixed, T + (s(N) - T)(n_a n_b)^-p)
(``size_limit`` = T over ``SIZE_GRID`` up to the fixed threshold x ``PAIR_FPIRS`` x
``SIZE_POWERS``, on the fixed rule's k-NN graph); ``size_detach`` keeps the fixed rule's merges
and then lets every face whose average distance to the rest of its cluster (n - 1 faces) is at or
over that capped limit t(1, n - 1) leave it (T over all of ``SIZE_GRID``). ``DEFAULT_GRAPH_RULE``
(``size_detach``: set after the 1M synthetic check, never from LFW) makes one the graph default
when its objective beats the fixed threshold's; the other rules are stored beside it by name
(``fixed``, ``size_aware``, ``size_capped``, ``size_detach``). Both capped rules won on CelebA;
``size_capped`` lost pairwise F1 at 1M synthetic faces, ``size_detach`` did not (Session 3 of
bench/cluster_RESULTS.md).

LFW (``lfw``): all 13,233 images, the primary face of each (images where no face is found keep
the pipeline's centre-crop embedding and are clustered like any other; their number is printed).
Each method runs at its shipped CelebA setting; kmeans gets k = the number of clusters the graph
method found (no LFW labels). Times are the clustering alone (embeddings cached).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from facenet.cluster.methods import cluster_embeddings
from facenet.cluster.metrics import clustering_scores
from identify_common import celeba_dev

GRID = [round(float(t), 2) for t in np.arange(0.80, 1.61, 0.02)]
GRAPH_PARTITIONS = ("average", "components")
PAIR_FPIRS = (0.003, 0.01, 0.03, 0.1, 0.3)  # size-aware average linkage: the single-face limit's FPIR at N faces
SIZE_POWERS = (0.5, 1.0, 2.0)  # ... and how fast the limit moves to the threshold with the pairs between two clusters
SIZE_GRID = [t for t in GRID if 1.2 <= t <= 1.5]  # its threshold (the many-pairs limit)
NEIGHBORS = (16, 32, 64)
#: The rule the graph default uses when it wins on CelebA: "size_capped" (the size-aware limit capped
#: at the fixed threshold) or "fixed". Set after the 1M-synthetic budget check (bench/cluster_RESULTS.md,
#: Session 3), never from LFW.
DEFAULT_GRAPH_RULE = "size_detach"
DENSITY_MIN_SAMPLES = (1, 2, 3)
#: Every model name this bench knows: (the embedder, its plain or flip embeddings).
MODELS = {"sface": ("sface", "plain"), "sface+flip": ("sface", "flip"), "fused": ("fused", "plain"),
          "fused+flip": ("fused", "flip"), "fused-casia": ("fused-casia", "plain"), "fused-casia+flip": ("fused-casia", "flip")}
#: --models' default: the models of the first calibration (their entries reproduce the shipped file).
DEFAULT_MODELS = "sface,sface+flip"
#: Stored with the entries of models whose embedder is a head fitted on CelebA-wild photos.
HEAD_NOTE = ("the embedder's head was fitted on CelebA-wild photos without their labels (PCA + an orthogonal Procrustes "
             "rotation onto the photos' SFace vectors, bench/own_embedding/train.py init pca, epoch 0 kept; its options "
             "and the kept epoch chosen on LFW View 1), so CelebA-wild is not fully held out for it")
HEAD_PHOTOS = {"fused": "2,177 of the 6,130 calibration photos (its 2,180: the first 8 per identity)",
               "fused-casia": "all 6,130 calibration photos"}
GRAPH_KEYS = ("threshold", "neighbors", "partition", "pair_fpir", "size_power", "size_limit", "size_rule")
SOURCE = "calibrated on CelebA-wild (no LFW identities; LFW-shaped draws and the full set)"


def lfw_counts(data: Path) -> np.ndarray:
    return np.array([sum(1 for _ in p.iterdir()) for p in sorted((data / "lfw").iterdir()) if p.is_dir()])


def draws(labels: np.ndarray, counts: np.ndarray, n: int, seed: int = 0) -> list[np.ndarray]:
    """n index sets: per identity, a photo count drawn from LFW's photos-per-person (capped)."""
    rng = np.random.default_rng(seed)
    ids = np.unique(labels)
    out = []
    for _ in range(n):
        take: list[int] = []
        for u in ids:
            m = np.flatnonzero(labels == u)
            take += rng.choice(m, min(int(rng.choice(counts)), len(m)), replace=False).tolist()
        out.append(np.array(sorted(take)))
    return out


def score(x: np.ndarray, labels: np.ndarray, sets: list[np.ndarray], run: Any) -> dict[str, float]:
    """Mean pairwise F1 and BCubed F of ``run(x_subset) -> labels`` over the LFW-shaped draws
    (``sets[:-1]``) and on the full set (``sets[-1]``); objective: the mean of the two regimes'
    (pairwise F1 + BCubed F) / 2."""
    return objective(labels, sets, [run(x[sel]) for sel in sets])


def objective(labels: np.ndarray, sets: list[np.ndarray], preds: list[np.ndarray]) -> dict[str, float]:
    """:func:`score` of already predicted labels, one (len(sel),) array per set."""
    rows = []
    for sel, pred in zip(sets, preds):
        s = clustering_scores(labels[sel], pred)
        rows.append((s["pairwise_f1"], s["bcubed_f"]))
    rows_a = np.array(rows)
    pf, bf = rows_a[:-1].mean(axis=0)
    fpf, fbf = rows_a[-1]
    obj = ((pf + bf) / 2 + (fpf + fbf) / 2) / 2
    return {"draws_pairwise_f1": round(float(pf), 5), "draws_bcubed_f": round(float(bf), 5),
            "full_pairwise_f1": round(float(fpf), 5), "full_bcubed_f": round(float(fbf), 5), "objective": round(float(obj), 5)}


def best(rows: list[tuple[dict[str, Any], dict[str, float]]]) -> tuple[dict[str, Any], dict[str, float]]:
    """The setting with the highest objective (the first, i.e. smallest threshold, on ties)."""
    return max(rows, key=lambda r: r[1]["objective"])


def _api(**kw: Any) -> Any:
    return lambda x: cluster_embeddings(x, **kw).labels


def memo_knn() -> None:
    """Remember each (faces, k)'s k-NN table in this process: the grid runs the same exact search
    (deterministic, IndexFlatIP) on the same draws hundreds of times; the results are the same."""
    from facenet.cluster import graph

    if getattr(graph.knn, "memo", None) is not None:
        return
    plain, memo = graph.knn, {}

    def knn(x: np.ndarray, k: int, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
        key = (hash(np.ascontiguousarray(x).tobytes()), x.shape, k, tuple(sorted(kw.items())))
        if key not in memo:
            memo[key] = plain(x, k, **kw)
        return memo[key][0].copy(), memo[key][1].copy()

    knn.memo = memo  # type: ignore[attr-defined]
    graph.knn = knn


def _density(method: str, **opts: Any) -> Any:
    """DBSCAN / HDBSCAN with explicit options (the library call and the split, as cluster_embeddings runs them)."""
    from facenet.cluster import methods

    t = opts.pop("threshold", None)
    return lambda x: methods.finish_labels(methods._library(method, methods._check_embeddings(x), np.arange(len(x)), t, None, opts, 0)[0])


def model_size_grid(model: str) -> list[float]:
    """The size-aware rules' T grid for ``model``: SIZE_GRID on SFace's scale; for a model whose
    impostor model is SFace's rescaled by c (t(own) / t(sface)), the GRID points within SIZE_GRID's
    bounds times c (the same rules on the model's distances). UncalibratedError without one."""
    from facenet.cluster.methods import impostor_model

    c = float(impostor_model(model).meta.get("rescaled", 1.0))
    if c == 1.0:
        return list(SIZE_GRID)
    return [t for t in GRID if SIZE_GRID[0] * c - 1e-9 <= t <= SIZE_GRID[-1] * c + 1e-9]


def calibrate_graph(x: np.ndarray, labels: np.ndarray, sets: list[np.ndarray], model: str) -> dict[str, Any]:
    """graph: a fixed threshold (average or components partition, then the k of the k-NN graph at
    the best); the size-aware average linkage (threshold x pair_fpir x size_power, then its k),
    stored under ``size_aware``, opt-in only (bench/cluster_RESULTS.md: at 1M synthetic faces it
    is slower and less precise); the size-aware merge limit capped at the fixed threshold
    (``size_capped``); and the fixed rule's clusters with the detach step (``size_detach``), both
    on the fixed rule's k. The default is ``DEFAULT_GRAPH_RULE`` when it beats the fixed
    threshold's objective, else the fixed threshold; the others are stored by name."""
    def with_k(rows: list[tuple[dict[str, Any], dict[str, float]]]) -> tuple[dict[str, Any], dict[str, float]]:
        opt, _ = best(rows)
        for k in NEIGHBORS:  # the k of the k-NN graph, at the chosen partition and threshold
            if k != 32:
                rows.append(({**opt, "neighbors": k}, score(x, labels, sets, _api(method="graph", model=model, **{**opt, "neighbors": k}))))
        return best(rows)

    rows = [({"threshold": t, "neighbors": 32, "partition": p}, score(x, labels, sets, _api(method="graph", threshold=t, neighbors=32, partition=p)))
            for p in GRAPH_PARTITIONS for t in GRID]
    opt, sc = with_k(rows)
    print(f"  graph, fixed threshold: {opt} {sc}", file=sys.stderr)
    from facenet.errors import UncalibratedError

    try:
        size_grid = model_size_grid(model)
    except UncalibratedError as e:  # the size-aware rules need the gallery's impostor model for s(N)
        print(f"  graph: fixed rule only ({e})", file=sys.stderr)
        return {**opt, "celeba": sc, "rule": "fixed",
                "size_rules": f"not calibrated: no impostor model for {model} (facenet.cluster.methods.impostor_model)"}
    sized: list[tuple[dict[str, Any], dict[str, float]]] = []
    for pw in SIZE_POWERS:
        for f in PAIR_FPIRS:
            for t in size_grid:
                o = {"threshold": t, "neighbors": 32, "partition": "average", "pair_fpir": f, "size_power": pw}
                sized.append((o, score(x, labels, sets, _api(method="graph", model=model, **o))))
    sopt, ssc = with_k(sized)
    print(f"  graph, size-aware (opt-in): {sopt} {ssc}", file=sys.stderr)
    # the size-aware limit capped at the fixed rule's threshold: min(t_fixed, T + (s(N) - T)(n_a n_b)^-p),
    # so it only tightens merges of small clusters; on the fixed rule's graph. T (size_limit) no looser
    # than the fixed threshold: the best T above it (1.44) lost pairwise F1 at 1M synthetic faces
    # (0.936 against the fixed rule's 0.957; bench/cluster_RESULTS.md, Session 3)
    capped: list[tuple[dict[str, Any], dict[str, float]]] = []
    for pw in SIZE_POWERS:
        for f in PAIR_FPIRS:
            for t in (t for t in size_grid if t <= opt["threshold"]):
                o = {"threshold": opt["threshold"], "neighbors": opt["neighbors"], "partition": "average", "pair_fpir": f,
                     "size_power": pw, "size_limit": t}
                capped.append((o, score(x, labels, sets, _api(method="graph", model=model, **o))))
    copt, csc = best(capped)  # the fixed rule's k: its graph, and its time at 1M faces
    print(f"  graph, size-aware capped at {opt['threshold']}: {copt} {csc}", file=sys.stderr)
    # the fixed rule's clusters, then every face over the capped limit for one face joining the rest
    # of its cluster leaves it (size_rule "detach"): the merges are the fixed rule's, T over all of SIZE_GRID
    detached: list[tuple[dict[str, Any], dict[str, float]]] = []
    for pw in SIZE_POWERS:
        for f in PAIR_FPIRS:
            for t in size_grid:
                o = {"threshold": opt["threshold"], "neighbors": opt["neighbors"], "partition": "average", "pair_fpir": f,
                     "size_power": pw, "size_limit": t, "size_rule": "detach"}
                detached.append((o, score(x, labels, sets, _api(method="graph", model=model, **o))))
    dopt, dsc = best(detached)
    print(f"  graph, fixed then detach: {dopt} {dsc}", file=sys.stderr)
    rules = {"fixed": {**opt, "celeba": sc}, "size_aware": {**sopt, "celeba": ssc}, "size_capped": {**copt, "celeba": csc},
             "size_detach": {**dopt, "celeba": dsc}}
    rule = DEFAULT_GRAPH_RULE if rules[DEFAULT_GRAPH_RULE]["celeba"]["objective"] > sc["objective"] else "fixed"
    return {**rules[rule], "rule": rule, **{name: r for name, r in rules.items() if name != rule}}


def calibrate_model(x: np.ndarray, labels: np.ndarray, sets: list[np.ndarray], model: str) -> dict[str, Any]:
    out: dict[str, Any] = {"graph": calibrate_graph(x, labels, sets, model)}
    print(f"  graph {out['graph']}", file=sys.stderr)
    rows = [({"threshold": t}, score(x, labels, sets, _api(method="agglomerative", threshold=t))) for t in GRID]
    opt, sc = best(rows)
    out["agglomerative"] = {**opt, "celeba": sc}
    print(f"  agglomerative {out['agglomerative']}", file=sys.stderr)
    rows = [({"threshold": t, "min_samples": m}, score(x, labels, sets, _density("dbscan", threshold=t, min_samples=m)))
            for m in DENSITY_MIN_SAMPLES for t in GRID]
    opt, sc = best(rows)
    out["dbscan"] = {**opt, "celeba": sc}
    print(f"  dbscan {out['dbscan']}", file=sys.stderr)
    rows = [({"min_samples": m, "cluster_selection_method": c}, score(x, labels, sets, _density("hdbscan", min_samples=m, cluster_selection_method=c)))
            for m in DENSITY_MIN_SAMPLES for c in ("eom", "leaf")]
    opt, sc = best(rows)
    out["hdbscan"] = {**opt, "celeba": sc}
    return out


def model_notes(model: str) -> dict[str, str]:
    """What a model's entry says besides its settings: where its impostor model comes from, and
    for a head fitted on CelebA-wild photos that CelebA-wild is not fully held out."""
    from facenet.cluster.methods import impostor_model
    from facenet.errors import UncalibratedError

    embedder = MODELS[model][0]
    if embedder == "sface":
        return {}
    notes = {}
    try:
        m = impostor_model(model)
        whose = "SFace + flip's" if MODELS[model][1] == "flip" else "SFace's"
        notes["impostor_model"] = (f"{whose} shipped CelebA-wild impostor model rescaled x{m.meta['rescaled']} "
                                   "(facenet.gallery.auto_threshold.borrowed)")
        g = model_size_grid(model)
        notes["size_grid"] = (f"the size-aware rules' T over {g[0]}..{g[-1]} step 0.02: SIZE_GRID's bounds "
                              f"({SIZE_GRID[0]}..{SIZE_GRID[-1]}) x {m.meta['rescaled']}, the impostor model's rescale")
    except UncalibratedError:
        notes["impostor_model"] = "none (the gallery has no impostor model for it): fixed rule only"
    return {**notes, "held_out": f"{HEAD_NOTE}: {HEAD_PHOTOS[embedder]}"}


def calibrate(args: argparse.Namespace) -> dict[str, Any]:
    memo_knn()
    devs = {e: celeba_dev(args.data, args.out_identify, e) for e in dict.fromkeys(MODELS[m][0] for m in args.models)}
    dev = next(iter(devs.values()))
    for e, d in devs.items():  # one split for every model: the same photos, in the same order
        if not (np.array_equal(d["paths"], dev["paths"]) and d["info"] == dev["info"]):
            raise SystemExit(f"CelebA-wild with {e} keeps other photos than with {next(iter(devs))}: {d['info']}")
    sets = draws(dev["labels"], lfw_counts(args.data), args.draws) + [np.arange(len(dev["labels"]))]
    table: dict[str, Any] = {
        "version": 1, "source": SOURCE,
        "split": {**dev["info"], "draws": args.draws, "photos_per_draw": [int(len(s)) for s in sets[:-1]],
                  "objective": "mean of two regimes' (pairwise F1 + BCubed F) / 2: averaged over the LFW-shaped draws, and the full set",
                  "grid": [GRID[0], GRID[-1], 0.02],
                  "size_aware_grid": {"threshold": [SIZE_GRID[0], SIZE_GRID[-1], 0.02], "pair_fpir": list(PAIR_FPIRS),
                                      "size_power": list(SIZE_POWERS)},
                  "size_capped_grid": {"size_limit": [SIZE_GRID[0], "the fixed threshold", 0.02], "pair_fpir": list(PAIR_FPIRS),
                                       "size_power": list(SIZE_POWERS), "threshold": "the fixed rule's"},
                  "size_detach_grid": {"size_limit": [SIZE_GRID[0], SIZE_GRID[-1], 0.02], "pair_fpir": list(PAIR_FPIRS),
                                       "size_power": list(SIZE_POWERS), "threshold": "the fixed rule's"},
                  "graph_default": f"{DEFAULT_GRAPH_RULE} if its objective beats the fixed threshold's, else fixed"},
        "models": {}}
    for model in args.models:
        embedder, emb = MODELS[model]
        t0 = time.perf_counter()
        table["models"][model] = {**calibrate_model(devs[embedder][emb], dev["labels"], sets, model), **model_notes(model)}
        print(f"{model}: {json.dumps(table['models'][model])} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return table


def merged(table: dict[str, Any], shipped: dict[str, Any] | None) -> dict[str, Any]:
    """The shipped file with ``table``'s models put in (the other models' entries kept as they
    are, in their order; new models after them). The split must be the shipped one."""
    if not shipped:
        return table
    if {k: v for k, v in table.items() if k != "models"} != {k: v for k, v in shipped.items() if k != "models"}:
        raise SystemExit("this calibration's split or grid is not the shipped file's: calibrate every model with "
                         f"--models {','.join(shipped['models'])} and the defaults")
    return {**shipped, "models": {**shipped["models"], **table["models"]}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("calibrate", "lfw", "time"))
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/cluster"))
    ap.add_argument("--out-identify", type=Path, default=Path("out/identify"), help="bench/identify_lfw.py's embedding caches")
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--write", type=Path, help="calibrate: folder to write cluster_thresholds.json into")
    ap.add_argument("--check", action="store_true", help="calibrate: exit 1 unless every calibrated model already in the "
                    "shipped file is reproduced (with --write: written only then)")
    ap.add_argument("--graph-setting", help="lfw: score graph at this stored entry of the shipped graph setting "
                    "(fixed, size_aware, size_capped) instead of the default")
    ap.add_argument("--graph-options", type=json.loads, default={},
                    help='lfw: JSON {model: graph options} to score instead of the stored setting, e.g. '
                         '\'{"sface": {"threshold": 1.28, "pair_fpir": 0.03, "size_power": 2, "size_limit": 1.28}}\'')
    ap.add_argument("--skip", nargs="*", default=[], help="lfw: methods to leave out")
    ap.add_argument("--repeat", type=int, default=5, help="time: runs per model")
    ap.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated, of {', '.join(MODELS)} (default {DEFAULT_MODELS})")
    ap.add_argument("--tag", default="", help="lfw / time: suffix of the result file (cluster_lfw<TAG>.json)")
    args = ap.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.command == "calibrate":
        from facenet.cluster import threshold

        table = calibrate(args)
        path = Path(threshold.__file__).with_name(threshold.SHIPPED)
        shipped = json.loads(path.read_text()) if path.exists() else None
        old = (shipped or {}).get("models", {})
        bad = [m for m in args.models if m in old and old[m] != table["models"][m]]
        if args.check:  # each calibrated model's entry against the shipped one (before any --write)
            for m in args.models:
                print(f"check {m}:", "not in the shipped file" if m not in old else
                      "MISMATCH with the shipped file" if m in bad else "same as shipped")
            print("check:", "same as shipped" if not bad else "MISMATCH with the shipped file")
        text = json.dumps(merged(table, shipped), indent=1) + "\n"
        (args.out / "cluster_thresholds.json").write_text(text)
        if args.write and not (args.check and bad):
            (args.write / "cluster_thresholds.json").write_text(text)
            print(f"wrote {args.write / 'cluster_thresholds.json'}")
        if not args.check:
            print(text)
        return 1 if args.check and bad else 0
    from cluster_lfw_score import lfw, markdown, timing

    if args.command == "time":
        res = timing(args)
        (args.out / f"cluster_lfw_time{args.tag}.json").write_text(json.dumps(res, indent=2) + "\n")
        print(json.dumps(res, indent=2))
        return 0
    res = lfw(args)
    (args.out / f"cluster_lfw{args.tag}.json").write_text(json.dumps(res, indent=2) + "\n")
    print(markdown(res))
    print(f"wrote {args.out / f'cluster_lfw{args.tag}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
