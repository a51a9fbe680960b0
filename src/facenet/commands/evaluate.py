"""`facenet evaluate lfw --root DIR [--pairs FILE] [--folds K ..] [--json] [--plot ROC.png]`

`facenet evaluate clustering --root DIR [--method M] [--threshold T | --k K] [--min-size N] [--cache DIR] [--json]`:
every image under DIR/<identity>/ (all 13,233 of LFW), its primary face, clustered and scored
against the identity labels (facenet.cluster.metrics)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from facenet.commands.common import add_pipeline_args, build_pipeline, emit_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="benchmark verification with the LFW 10-fold protocol, or clustering")
    p.add_argument("dataset", choices=["lfw", "clustering"],
                   help="lfw: verification, 10-fold protocol; clustering: cluster every image of --root by person")
    p.add_argument("--root", help="LFW image folder (default: $FACENET_DATA/lfw or ../shared/data/lfw)")
    p.add_argument("--pairs", help="pairs file (default: ROOT/pairs.txt, View 2, 10 folds)")
    p.add_argument("--folds", type=int, nargs="*",
                   help="evaluate only these folds (0-based), e.g. --folds 0; with one fold, accuracy is at the "
                        "calibrated threshold")
    p.add_argument("--far", type=float, default=1e-3, help="FAR for VAL@FAR (default 1e-3)")
    p.add_argument("--json", action="store_true", help="the VerificationReport as JSON (same keys for any fold count)")
    p.add_argument("--plot", metavar="ROC.png", help="save the ROC curve")
    p.add_argument("--failures", metavar="FILE", help="write the images with no detected face, one a line")
    p.add_argument("--no-progress", action="store_true")
    c = p.add_argument_group("clustering (evaluate clustering; --threshold is then the clustering threshold)")
    c.add_argument("--method", default="graph", help="graph (default), agglomerative, kmeans, dbscan, hdbscan")
    c.add_argument("--k", type=int, default=None, help="kmeans: number of clusters")
    c.add_argument("--min-size", type=int, default=1, help="clusters smaller than this count as unclustered")
    c.add_argument("--cache", metavar="DIR", help="keep the embeddings here (keyed by model and file list); reused next time")
    add_pipeline_args(p)
    p.set_defaults(func=run)


def _pct(x: float | None, std: float | None = None) -> str:
    if x is None:
        return "n/a"
    return f"{100 * x:.2f} %" if std is None else f"{100 * x:.2f} ± {100 * std:.2f} %"


def print_report(r: Any) -> None:
    """The human-readable form of a :class:`~facenet.eval.report.VerificationReport`."""
    print(f"LFW {r.n_pairs} pairs, {r.n_folds} fold{'s' if r.n_folds != 1 else ''}, {r.n_images} images "
          f"({r.detector} + {r.embedder}{', flip TTA' if r.flip else ''})")
    print(f"  protocol     {r.protocol}")
    acc = _pct(r.accuracy_mean, r.accuracy_std)
    print(f"  accuracy     {acc if r.accuracy_mean is not None else 'n/a (one fold and no calibrated threshold)'}")
    if r.threshold_mean is not None:
        print(f"  threshold    {r.threshold_mean:.4f}" + (" (mean over folds)" if r.n_folds > 1 else ""))
    far = f" (actual FAR {_pct(r.far_actual)})" if r.far_actual is not None else ""
    print(f"  VAL@FAR={r.far_target:g} {_pct(r.val_mean, r.val_std)}{far}")
    print(f"  AUC          {'n/a' if r.auc is None else f'{r.auc:.5f}'}")
    print(f"  EER          {_pct(r.eer)}")
    print(f"  no face      {r.no_face} of {r.n_images} images (fallback crop used)")
    ips = "n/a" if r.images_per_second is None else f"{r.images_per_second:.1f}"
    print(f"  speed        {ips} images/s")


def run(args: argparse.Namespace) -> int:
    if args.dataset == "clustering":
        return run_clustering(args)
    import numpy as np

    from facenet.data.lfw import lfw_root, read_pairs
    from facenet.errors import UsageError
    from facenet.eval.benchmark import evaluate_pairs
    from facenet.settings import Settings

    root = Path(args.root) if args.root else lfw_root(Settings.from_env().face_data_or_default())
    pairs_file = Path(args.pairs) if args.pairs else root / "pairs.txt"
    pairs = read_pairs(pairs_file, root)
    if args.folds:
        have = sorted(set(pairs.folds.tolist()))
        missing = sorted(set(args.folds) - set(have))
        if missing:
            raise UsageError(f"--folds {' '.join(map(str, missing))}: no such fold in {pairs_file} "
                             f"(its folds: {have[0]}..{have[-1]})")
        pairs = pairs.subset(np.isin(pairs.folds, args.folds))
    pipe = build_pipeline(args)
    ev = evaluate_pairs(pipe, pairs, far_target=args.far, progress=not args.no_progress)
    r = ev.report
    if args.plot:
        from facenet.eval.plots import plot_roc
        from facenet.eval.protocol import roc_curve

        fpr, tpr, _ = roc_curve(ev.distances, ev.same)
        auc = "" if r.auc is None else f" (AUC {r.auc:.4f})"
        plot = plot_roc({f"{r.detector}+{r.embedder}{' flip' if r.flip else ''}{auc}": (fpr, tpr)}, args.plot,
                        title="LFW ROC")
    if args.failures:
        Path(args.failures).write_text("".join(p + "\n" for p in ev.failed_images))
    if args.json:
        emit_json(r.to_dict())
    else:
        print_report(r)
        if args.plot:
            print(f"  ROC curve    {plot}")
    return 0


# ---------------------------------------------------------------- evaluate clustering

def _embed_folder(pipe: Any, paths: list[Path], progress: bool) -> dict[str, Any]:
    """Primary-face embeddings of every image, 64 at a time (unreadable images left out and listed)."""
    import time

    import numpy as np
    from tqdm import tqdm

    t0 = time.perf_counter()
    emb, found, keep, failed = [], [], [], []
    for s in tqdm(range(0, len(paths), 64), desc="embedding", unit="batch", disable=not progress, leave=False):
        r = pipe.represent(paths[s : s + 64], on_error="collect")
        emb.append(r.embeddings)
        found.append(r.face_found)
        keep.append(s + r.index)
        failed += [(str(paths[s + e.index]), e.reason) for e in r.errors]
    dim = pipe.embedder.config.embedding_size
    return {"embeddings": np.concatenate(emb) if emb else np.zeros((0, dim), np.float32),
            "face_found": np.concatenate(found) if found else np.zeros(0, bool),
            "rows": np.concatenate(keep) if keep else np.zeros(0, np.int64),
            "failed": np.array([f"{p}\t{m}" for p, m in failed]), "seconds": np.float64(time.perf_counter() - t0)}


def _cache_file(cache: Path, pipe: Any, root: Path, paths: list[Path]) -> Path:
    import hashlib

    cfg = pipe.embedder.config
    det = getattr(pipe.detector, "name", type(pipe.detector).__name__)
    files = hashlib.sha256("\n".join(str(p.relative_to(root)) for p in paths).encode()).hexdigest()[:16]
    weights = (cfg.weights.sha256 if getattr(cfg, "weights", None) else "")[:12]
    return cache / f"clustering_{det}_{cfg.name}{'_flip' if pipe.flip else ''}_{weights}_{files}.npz"


def run_clustering(args: argparse.Namespace) -> int:
    """`facenet evaluate clustering`: embed (or load the cached embeddings), cluster, score."""
    import os

    import numpy as np

    from facenet.cluster.methods import cluster_embeddings
    from facenet.cluster.metrics import clustering_scores
    from facenet.commands.common import error
    from facenet.data.files import iter_images
    from facenet.data.lfw import lfw_root
    from facenet.errors import DataError
    from facenet.settings import Settings

    root = Path(args.root) if args.root else lfw_root(Settings.from_env().face_data_or_default())
    if not root.is_dir():
        raise DataError(f"{root}: not a folder of identity sub-folders")
    paths = list(iter_images(root))
    if not paths:
        raise DataError(f"{root}: no images under its identity sub-folders")
    threshold, args.threshold = args.threshold, None  # the clustering threshold, not the pipeline's verification one
    pipe = build_pipeline(args)
    cached = None
    if args.cache:
        cached = _cache_file(Path(args.cache), pipe, root, paths)
    if cached is not None and cached.exists():
        z = np.load(cached)
        emb = {k: z[k] for k in z.files}
        seconds_embed, from_cache = 0.0, True
    else:
        emb = _embed_folder(pipe, paths, not args.no_progress)
        seconds_embed, from_cache = float(emb["seconds"]), False
        if cached is not None:
            import io

            from facenet.fileio import write_atomic

            buf = io.BytesIO()
            np.savez(buf, **emb)
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(cached, buf.getvalue())
    labels = np.array([paths[i].parent.name for i in emb["rows"]])
    failed = [str(f).split("\t", 1) for f in emb["failed"]]
    for path, msg in failed:
        error(f"{path}: {msg}")
    model = pipe.embedder.config.name + ("+flip" if pipe.flip else "")
    r = cluster_embeddings(emb["embeddings"], method=args.method, threshold=threshold, k=args.k, min_size=args.min_size,
                           model=model, progress=not args.no_progress)
    scores = clustering_scores(labels, r.labels)
    rep = {"root": str(root), "images": len(paths), "clustered": int(len(labels)), "unreadable": len(failed),
           "no_face": int((~emb["face_found"]).sum()),
           "no_face_rule": "an image with no face found keeps the pipeline's centre-crop embedding and is clustered like the others",
           "people": int(len(np.unique(labels))), "model": model, "detector": args.detector, "method": r.method,
           "threshold": r.threshold, "threshold_source": r.threshold_source, "options": r.options, "min_size": args.min_size,
           "clusters_found": scores["n_pred"], "clusters_true": scores["n_true"], "unclustered": int((r.labels < 0).sum()),
           **{k: v for k, v in scores.items() if k not in ("n_pred", "n_true")},
           "seconds_embedding": round(seconds_embed, 3), "embeddings_cached": from_cache, "seconds_clustering": round(r.seconds, 3),
           "metric_definitions": "pairwise over item pairs; BCubed of Amigo et al. 2009; NMI: scikit-learn (arithmetic); "
                                 "each unclustered face (-1) a singleton",
           "load_average": [round(v, 2) for v in os.getloadavg()]}
    if args.json:
        emit_json({**rep, "failed": [{"path": p, "error": m} for p, m in failed]})
    else:
        _print_clustering(rep)
    return 1 if failed else 0


def _print_clustering(r: dict[str, Any]) -> None:
    print(f"Clustering {r['clustered']} of {r['images']} images of {r['people']} people under {r['root']} "
          f"({r['detector']} + {r['model']}); no face found in {r['no_face']} (centre crop clustered)")
    opts = ", ".join(f"{k} {v}" for k, v in (r["options"] or {}).items())
    print(f"  method       {r['method']}" + (f" ({opts})" if opts else ""))
    if r["threshold"] is not None:
        print(f"  threshold    {r['threshold']:.4f} ({r['threshold_source']})")
    print(f"  pairwise     P {r['pairwise_precision']:.4f}  R {r['pairwise_recall']:.4f}  F1 {r['pairwise_f1']:.4f}")
    print(f"  BCubed       P {r['bcubed_precision']:.4f}  R {r['bcubed_recall']:.4f}  F {r['bcubed_f']:.4f}")
    print(f"  NMI          {r['nmi']:.4f}")
    print(f"  clusters     {r['clusters_found']} found, {r['clusters_true']} true ({r['unclustered']} faces unclustered)")
    cached = " (cached)" if r["embeddings_cached"] else ""
    print(f"  seconds      embedding {r['seconds_embedding']:.1f}{cached}, clustering {r['seconds_clustering']:.2f}")
