"""The graph method's attach step (issue 10) on CelebA-wild, on top of the shipped default: an opt-in.

    .venv/bin/python bench/cluster_attach.py            # every model of cluster_thresholds.json
    .venv/bin/python bench/cluster_attach.py --models sface,sface+flip
    # the 1M check of a limit (bench/cluster_scale.py, as make bench-cluster-scale runs it):
    .venv/bin/python bench/cluster_scale.py --n 1000000 --options '{"attach_limit": 1.14}' --tag attach

Rule, fixed before any LFW run of it (session 4's pre-registration): after the shipped graph
default (average linkage at the fixed threshold, then detach where calibrated), every face left
alone joins the nearest cluster of two or more faces, among its k-NN neighbours' clusters, whose
normalised mean face is within ``attach_limit`` (squared L2), the photo rule kept
(:func:`facenet.cluster.graph.attach`). Per model, ``attach_limit`` runs over ``GRID`` on the same
CelebA-wild split, draws and objective as bench/cluster_lfw.py's calibrate (the mean of the two
regimes' (pairwise F1 + BCubed F) / 2), on the default's own clusters and k-NN table. It would
join the default if it raised the objective by at least ``ADOPT`` (ties: the smaller limit) and if,
at 1M synthetic faces, it stayed under 5 minutes and 8 GB without lowering pairwise F1 by more than
0.01. CelebA-wild passed (SFace 0.8923 -> 0.9085 at 1.14); 1M did not (pairwise F1 0.972 -> 0.876:
a fixed limit over-merges when N grows), so no shipped entry carries it and ``attach_limit`` stays
an option of ``cluster_embeddings`` (``bench/cluster_RESULTS.md``, Session 4). The table goes to
``OUT/cluster_attach.json``. LFW is never read here.

Also searched (``per_n``, session 5): a limit that falls with the number of faces N, as detach's
does: min(cap, s(N)) with s(N) = :func:`facenet.cluster.methods.single_threshold` at ``pair_fpir``
f (the gallery's impostor model), over PAIR_FPIRS x GRID, under the same rule and the same 1M check
(where the limit is the fixed value min(cap, s(1M)); on LFW min(cap, s(13,233))).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from cluster_lfw import MODELS, PAIR_FPIRS, draws, lfw_counts, memo_knn, objective
from facenet.cluster import graph
from facenet.cluster.methods import cluster_embeddings, single_threshold
from facenet.cluster.threshold import SHIPPED, default_options
from identify_common import celeba_dev

GRID = [round(float(t), 2) for t in np.arange(0.90, 1.301, 0.02)]
ADOPT = 0.002  # the objective gain the step must bring on CelebA-wild (then the 1M check) to join the default


def calibrate_model(x: np.ndarray, labels: np.ndarray, sets: list[np.ndarray], model: str) -> dict[str, Any]:
    entry = default_options(model, "graph")
    base = [cluster_embeddings(x[sel], model=model, attach_limit=0.0).labels for sel in sets]  # the default without the step
    nbrs = [graph.knn(x[sel], int(entry.get("neighbors", 32)), seed=0)[0] for sel in sets]  # the graph method's call: memoised
    before = objective(labels, sets, base)
    rows = [{"attach_limit": t, **objective(labels, sets, [graph.attach(b, x[sel], nb, t, np.arange(len(sel)))
                                                           for sel, b, nb in zip(sets, base, nbrs)])} for t in GRID]
    per_n = [{"pair_fpir": f, "cap": t, **objective(labels, sets, [
        graph.attach(b, x[sel], nb, single_threshold(model, len(sel), f, t), np.arange(len(sel))) for sel, b, nb in zip(sets, base, nbrs)])}
        for f in PAIR_FPIRS for t in GRID]
    top_n = max(per_n, key=lambda r: r["objective"])  # first on ties: the smallest pair_fpir, then the smallest cap
    top = max(rows, key=lambda r: r["objective"])  # first (smallest limit) on ties
    adopted = top["objective"] - before["objective"] >= ADOPT
    return {"passes_celeba": bool(adopted), "attach_limit": top["attach_limit"] if adopted else None, "default_without": before, "best": top,
            "gain": round(top["objective"] - before["objective"], 5), "grid": rows,
            "per_n": {"best": top_n, "gain": round(top_n["objective"] - before["objective"], 5), "grid": per_n}}


def calibrate(args: argparse.Namespace) -> dict[str, Any]:
    memo_knn()  # the default's run and the attach grid share each set's k-NN table
    shipped = json.loads(Path(__file__).resolve().parents[1].joinpath("src/facenet/cluster", SHIPPED).read_text())
    models = args.models.split(",") if args.models else list(shipped["models"])
    devs = {e: celeba_dev(args.data, args.out_identify, e) for e in dict.fromkeys(MODELS[m][0] for m in models)}
    dev = next(iter(devs.values()))
    for e, d in devs.items():
        if not np.array_equal(d["paths"], dev["paths"]):
            raise SystemExit(f"CelebA-wild with {e} keeps other photos than with {next(iter(devs))}")
    sets = draws(dev["labels"], lfw_counts(args.data), shipped["split"]["draws"]) + [np.arange(len(dev["labels"]))]
    if [int(len(s)) for s in sets[:-1]] != shipped["split"]["photos_per_draw"]:
        raise SystemExit("the draws are not the shipped calibration's")
    out: dict[str, Any] = {"version": 1, "source": shipped["source"] + ", on top of the shipped graph default",
                           "rule": f"attach_limit over {GRID[0]}..{GRID[-1]} step 0.02, passes CelebA-wild when the objective gains >= {ADOPT} "
                                   "(then the 1M check decides)",
                           "models": {}}
    for m in models:
        embedder, emb = MODELS[m]
        t0 = time.perf_counter()
        out["models"][m] = calibrate_model(devs[embedder][emb], dev["labels"], sets, m)
        r = out["models"][m]
        print(f"{m}: attach_limit {r['attach_limit']} (best {r['best']['attach_limit']}, objective {r['default_without']['objective']}"
              f" -> {r['best']['objective']}, gain {r['gain']}); per-N limit best {r['per_n']['best']} gain {r['per_n']['gain']}"
              f" {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/cluster"))
    ap.add_argument("--out-identify", type=Path, default=Path("out/identify"), help="the embedding caches")
    ap.add_argument("--models", default="", help="comma-separated (default: every model of cluster_thresholds.json)")
    args = ap.parse_args(argv)
    table = calibrate(args)
    text = json.dumps(table, indent=1) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cluster_attach.json").write_text(text)
    print(json.dumps({m: {k: v for k, v in r.items() if k != "grid"} for m, r in table["models"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
