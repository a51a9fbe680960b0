"""Train the ``fused`` head: CelebA-wild (without the LFW identities) → validated on LFW View 1.

    nice -n 19 env OMP_NUM_THREADS=2 .venv/bin/python bench/own_embedding/train.py \
        --config bench/own_embedding/config.yaml --data ../shared/data --out out/own_embedding [--install]

The features come from bench/own_embedding/extract.py (cached). The head ``normalise(x @ W + b)``,
x the 256-D concatenation of SFace's and dlib's unit vectors, starts as SFace exactly (W = [I; 0])
or (``init: pca``, the default) as the untrained combination (SFace's squared distances plus
dlib's, ``dlib_weight``) in its 128 principal directions, rotated onto SFace's vectors (orthogonal
Procrustes on the training photos); then it is trained with the project's TripletLoss (alpha = margin) on two sets of triplets per batch
of ``identities`` CelebA-wild people (all their photos):

* new-model triplets, semi-hard negatives (``create_miner("semihard")``, the paper);
* mixed triplets (the harmonic embedding): the batch's new embeddings and SFace embeddings pooled,
  every active triplet (``create_miner("batch_all")``) whose anchor comes from one model and whose
  positive and negative come from the other, weighted by ``mixed_weight``.

After every epoch (and before the first) the head is scored on LFW View 1 only (pairsDevTest,
plus pairsDevTrain once cached): 1 - AUC of new-new pairs and of mixed pairs (A new, B SFace), and
best-threshold accuracies; the epoch with the smallest sum of the two 1 - AUC is kept (accuracy on
View 1 is too coarse to choose by: a few pairs). LFW View 2 is never read here. ``--install`` writes the kept head into the package
(src/facenet/models/weights/fused_head.npz) and prints its SHA-256 for fused.HEAD.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import MODEL_BRANCHES, best_accuracy, celeba_train, concat, embed, lfw_rows, pairs, sqd  # noqa: E402

from facenet.weights import sha256_file  # noqa: E402

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "src/facenet/models/weights"
PACKAGE_HEAD = {"fused": WEIGHTS_DIR / "fused_head.npz", "fused-casia": WEIGHTS_DIR / "fused_casia_head.npz"}
DEFAULTS = {"seed": 0, "margin": 0.2, "identities": 32, "epochs": 10, "lr": 1e-4, "mixed_weight": 1.0,
            "weight_decay": 0.0, "init": "pca", "dlib_weight": 2.0, "model": "fused", "casia_weight": 1.0,
            "extra_photos": False, "lda_reg": 0.1}


def view1(data: Path, out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    # View 1's images: extract.py caches some of them only with View 2's (each image once); only
    # the View 1 pairs are scored
    z = lfw_rows(out)
    sets = [p for p in (pairs(data, z, "view1test"), pairs(data, z, "view1train")) if p is not None]
    if not sets:
        raise SystemExit("no LFW View 1 features cached yet: run bench/own_embedding/extract.py")
    return z, sets


def score_view1(z: dict[str, Any], sets: list[dict[str, Any]], head: dict[str, np.ndarray]) -> dict[str, float]:
    from facenet.eval.protocol import auc, roc_curve

    new, sf = embed(z, head), z["sface"]
    a = np.concatenate([s["a"] for s in sets])
    b = np.concatenate([s["b"] for s in sets])
    same = np.concatenate([s["same"] for s in sets])
    out: dict[str, float] = {"view1_pairs": int(len(same))}
    for name, d in (("", sqd(new[a], new[b])), ("_mixed", sqd(new[a], sf[b]))):
        fpr, tpr, _ = roc_curve(d, same)
        out[f"view1{name}_1-auc"] = 1.0 - auc(fpr, tpr)
        out[f"view1{name}_accuracy"] = best_accuracy(d, same)[0]
    return out


def branch_scale(cfg: dict[str, Any]) -> np.ndarray:
    """(D,) per-feature sqrt(weight) of each network (SFace 1, dlib ``dlib_weight``, CASIA ``casia_weight``)."""
    weight = {"sface": 1.0, "dlib": cfg["dlib_weight"], "casia": cfg["casia_weight"]}
    return np.concatenate([np.full(d, np.sqrt(weight[k])) for k, d in MODEL_BRANCHES[cfg["model"]]])


def initial_head(x: np.ndarray, cfg: dict[str, Any], labels: np.ndarray | None = None) -> np.ndarray:
    """(D, 128) starting W, fitted on the training photos x (N, D), D = 256 (fused) or 768 (fused-casia).

    "identity": [I; 0], the model starts as SFace exactly.
    "pca": the 128 principal directions of the weighted concatenation [s, sqrt(dlib_weight) d,
        sqrt(casia_weight) c] (whose squared distances are SFace's plus the weighted others': the
        untrained combination), then the orthogonal Procrustes rotation that brings those 128-D
        vectors onto the photos' SFace vectors, so the start is both the combination and
        comparable with SFace.
    "lda": as "pca", but the 128 directions are the discriminant ones (between-identity scatter
        over the within-identity scatter regularised by ``lda_reg`` times its mean eigenvalue),
        each scaled to unit within-identity variance."""
    w = np.zeros((x.shape[1], 128), np.float64)
    w[:128] = np.eye(128)
    if cfg["init"] in ("pca", "lda"):
        scale = branch_scale(cfg)
        xw = x.astype(np.float64) * scale
        if cfg["init"] == "pca":
            _, _, vt = np.linalg.svd(xw - xw.mean(0), full_matrices=False)
            p = vt[:128].T
        else:
            if labels is None:
                raise SystemExit("init lda needs the labels")
            _, y = np.unique(labels, return_inverse=True)
            means = np.stack([xw[y == i].mean(0) for i in range(y.max() + 1)])
            within = xw - means[y]
            sw = within.T @ within / len(xw)
            sw += cfg["lda_reg"] * np.trace(sw) / len(sw) * np.eye(len(sw))
            ev, evec = np.linalg.eigh(sw)
            white = evec / np.sqrt(ev)  # sw^-1/2 (up to rotation)
            mw = (means - xw.mean(0)) @ white
            _, _, vt = np.linalg.svd(mw, full_matrices=False)
            p = white @ vt[:128].T
        e = xw @ p
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        u, _, vt2 = np.linalg.svd(e.T @ x[:, :128].astype(np.float64))
        w = scale[:, None] * (p @ (u @ vt2))
    elif cfg["init"] != "identity":
        raise SystemExit(f"init must be identity, pca or lda, not {cfg['init']!r}")
    return w.astype(np.float32)


def train(cfg: dict[str, Any], x: np.ndarray, labels: np.ndarray, evaluate: Any) -> dict[str, Any]:
    import torch

    from facenet.losses.triplet import TripletLoss
    from facenet.mining.registry import create_miner

    torch.manual_seed(cfg["seed"])
    rng = np.random.default_rng(cfg["seed"])
    ids, y = np.unique(labels, return_inverse=True)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    w = torch.from_numpy(initial_head(x, cfg, labels)).requires_grad_(True)
    b = torch.zeros(128, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    loss_fn = TripletLoss(cfg["margin"])
    semihard = create_miner("semihard", margin=cfg["margin"], seed=cfg["seed"])
    batch_all = create_miner("batch_all", margin=cfg["margin"])
    by_id = [np.flatnonzero(y == i) for i in range(len(ids))]

    def head() -> dict[str, np.ndarray]:
        return {"W": w.detach().numpy().copy(), "b": b.detach().numpy().copy()}

    history = [{"epoch": 0, **evaluate(head())}]
    best = (history[0]["view1_1-auc"] + history[0]["view1_mixed_1-auc"], 0, head())
    t0 = time.perf_counter()
    for epoch in range(1, cfg["epochs"] + 1):
        order = rng.permutation(len(ids))
        stats = []
        for s in range(0, len(order), cfg["identities"]):
            idx = torch.from_numpy(np.concatenate([by_id[i] for i in order[s : s + cfg["identities"]]]))
            xb, yb = xt[idx], yt[idx]
            new = torch.nn.functional.normalize(xb @ w + b, dim=1)
            loss = loss_fn(new, semihard(new, yb))
            if cfg["mixed_weight"] > 0:
                n = len(yb)
                pool = torch.cat([new, xb[:, :128]])
                t = batch_all(pool, torch.cat([yb, yb]))
                cross = ((t.anchors < n) & (t.positives >= n) & (t.negatives >= n)) | \
                        ((t.anchors >= n) & (t.positives < n) & (t.negatives < n))
                t = type(t)(t.anchors[cross], t.positives[cross], t.negatives[cross])
                loss = loss + cfg["mixed_weight"] * loss_fn(pool, t)
            opt.zero_grad()
            loss.backward()
            opt.step()
            stats.append(float(loss.detach()))
        rec = {"epoch": epoch, "loss": float(np.mean(stats)), "seconds": time.perf_counter() - t0, **evaluate(head())}
        history.append(rec)
        print(json.dumps(rec), file=sys.stderr)
        score = rec["view1_1-auc"] + rec["view1_mixed_1-auc"]
        if score < best[0]:
            best = (score, epoch, head())
    return {"head": best[2], "best_epoch": best[1], "history": history, "train_seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=Path(__file__).with_name("config.yaml"))
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/own_embedding"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    ap.add_argument("--tag", default="", help="suffix of the run's output files")
    ap.add_argument("--install", action="store_true", help="write the kept head into the package")
    args = ap.parse_args(argv)
    cfg = {**DEFAULTS, **(yaml.safe_load(args.config.read_text()) or {})}
    for kv in args.set:
        k, v = kv.split("=", 1)
        cfg[k] = yaml.safe_load(v) if isinstance(DEFAULTS[k], bool) else type(DEFAULTS[k])(yaml.safe_load(v))
    tr = celeba_train(args.data, args.out, extra=bool(cfg["extra_photos"]))
    tr["x"] = concat(tr["z"], branches=MODEL_BRANCHES[cfg["model"]])
    z, sets = view1(args.data, args.out)
    print(f"training on {tr['info']}; View 1 pairs: {sum(len(s['same']) for s in sets)}", file=sys.stderr)
    run = train(cfg, tr["x"], tr["labels"], lambda h: score_view1(z, sets, h))
    head_path = args.out / f"{cfg['model'].replace('-', '_')}_head{args.tag}.npz"
    np.savez(head_path, **run["head"])
    report = {"config": cfg, "train_set": tr["info"], "best_epoch": run["best_epoch"],
              "train_seconds": run["train_seconds"], "history": run["history"], "head": str(head_path)}
    stem = "train" if cfg["model"] == "fused" else f"train_{cfg['model'].replace('-', '_')}"
    (args.out / f"{stem}{args.tag}.json").write_text(json.dumps(report, indent=1))
    best = run["history"][run["best_epoch"]]
    print(f"kept epoch {run['best_epoch']}: {json.dumps(best)}; {run['train_seconds']:.0f} s", file=sys.stderr)
    if args.install:
        dest = PACKAGE_HEAD[cfg["model"]]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(head_path, dest)
        print(f"installed {dest}: sha256 {sha256_file(dest)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
