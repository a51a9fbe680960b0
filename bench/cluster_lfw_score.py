"""bench/cluster_lfw.py's LFW side: every method scored once on all of LFW at its shipped setting
(``lfw``), and the graph default's clustering seconds (``time``). Run through cluster_lfw.py."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

from cluster_lfw import GRAPH_KEYS, MODELS
from facenet.cluster.methods import cluster_embeddings
from facenet.cluster.metrics import clustering_scores
from identify_common import embed_folder, flip_tta


def lfw_embeddings(args: argparse.Namespace) -> dict[str, dict[str, np.ndarray]]:
    """Every --models embedder's cached LFW embeddings (bench/identify_lfw.py, bench/cluster_embed.py),
    checked to hold the same photos in the same order."""
    from facenet.pipeline import FacePipeline

    zs = {e: embed_folder(FacePipeline("yunet", e), args.data / "lfw", args.out_identify, "lfw")
          for e in dict.fromkeys(MODELS[m][0] for m in args.models)}
    first = next(iter(zs.values()))
    for e, z in zs.items():
        if not np.array_equal(z["paths"], first["paths"]):
            raise SystemExit(f"the LFW cache of {e} holds other photos")
    return zs


def model_embeddings(zs: dict[str, dict[str, np.ndarray]], model: str) -> np.ndarray:
    embedder, emb = MODELS[model]
    z = zs[embedder]
    return z["plain"] if emb == "plain" else flip_tta(z["plain"], z["mirror"])


def lfw(args: argparse.Namespace) -> dict[str, Any]:
    zs = lfw_embeddings(args)
    labels = next(iter(zs.values()))["labels"].astype(str)
    res: dict[str, Any] = {"images": len(labels), "people": int(len(np.unique(labels))),
                           "no_face": {e: int((~z["face_found"]).sum()) for e, z in zs.items()},
                           "load_average": os.getloadavg(), "rows": []}
    for model in args.models:
        x = model_embeddings(zs, model)
        k_graph = None
        for method in ("graph", "agglomerative", "kmeans", "dbscan", "hdbscan"):
            if method in args.skip:
                continue
            kw: dict[str, Any] = {"method": method, "model": model}
            if method == "graph" and args.graph_setting:  # a stored setting other than the default (e.g. "fixed")
                from facenet.cluster.threshold import default_options

                entry = default_options(model, "graph")[args.graph_setting]
                kw.update({kk: v for kk, v in entry.items() if kk in GRAPH_KEYS})
            if method == "graph" and model in args.graph_options:  # a setting not (yet) in the shipped file
                kw.update(args.graph_options[model])
            if method == "kmeans":
                kw["k"] = k_graph
            r = cluster_embeddings(x, **kw)
            if method == "graph":
                k_graph = r.n_clusters
            s = clustering_scores(labels, r.labels)
            row = {"model": model, "method": method, "threshold": r.threshold, "options": r.options, "seconds": round(r.seconds, 3),
                   **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items()}}
            res["rows"].append(row)
            print(f"{model:10s} {method:13s} t={r.threshold} {r.options} pF={s['pairwise_f1']:.4f} bF={s['bcubed_f']:.4f} "
                  f"nmi={s['nmi']:.4f} clusters={s['n_pred']} (true {s['n_true']}) {r.seconds:.2f} s", file=sys.stderr)
    return res


def timing(args: argparse.Namespace) -> dict[str, Any]:
    """The shipped graph setting's clustering seconds on all of LFW (embeddings cached), each model
    ``--repeat`` times: the median and every run, with the load average before and after. No
    labels are read and nothing is scored (the scores are ``lfw``'s)."""
    zs = lfw_embeddings(args)
    res: dict[str, Any] = {"images": int(len(next(iter(zs.values()))["plain"])), "threads": os.environ.get("OMP_NUM_THREADS"),
                           "load_average_before": os.getloadavg(), "rows": []}
    for model in args.models:
        x = model_embeddings(zs, model)
        runs, cpu = [], []
        for _ in range(args.repeat):  # the process's CPU seconds too: a shared machine's wall clock says little
            c0 = time.process_time()
            runs.append(cluster_embeddings(x, method="graph", model=model))
            cpu.append(round(time.process_time() - c0, 3))
        secs = [round(r.seconds, 3) for r in runs]
        res["rows"].append({"model": model, "median_seconds": float(np.median(secs)), "seconds": secs,
                            "median_cpu_seconds": float(np.median(cpu)), "cpu_seconds": cpu, "options": runs[0].options})
        print(f"{model:10s} graph {runs[0].options}: median {np.median(secs):.3f} s of {secs}; CPU {np.median(cpu):.3f} s",
              file=sys.stderr)
    res["load_average_after"] = os.getloadavg()
    return res


def markdown(res: dict[str, Any]) -> str:
    lines = [f"LFW: {res['images']} images, {res['people']} people, no face found in {res['no_face']} (by embedder); "
             f"load average {tuple(round(v, 2) for v in res['load_average'])}", "",
             "| model | method | threshold | options | pairwise P / R / F1 | BCubed P / R / F | NMI | clusters (true) | seconds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['model']} | {r['method']} | {r['threshold']} | {r['options']} | {r['pairwise_precision']:.4f} / "
                     f"{r['pairwise_recall']:.4f} / **{r['pairwise_f1']:.4f}** | {r['bcubed_precision']:.4f} / {r['bcubed_recall']:.4f} / "
                     f"**{r['bcubed_f']:.4f}** | {r['nmi']:.4f} | {r['n_pred']} ({r['n_true']}) | {r['seconds']} |")
    return "\n".join(lines)
