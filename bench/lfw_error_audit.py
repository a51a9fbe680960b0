"""Where the remaining LFW errors come from (issues 9 and 10): a diagnostic, nothing is chosen from it.

    .venv/bin/python bench/lfw_error_audit.py [--out-identify out/identify] [--json out/bench/lfw_error_audit.json]

Reads bench/identify_lfw.py's LFW caches (SFace) and bench/cluster_embed.py's (fused); every
clustering is the shipped ``graph`` default of its model, every identification the LFW protocol of
bench/identify_lfw.py (1,680 people enrolled from their first photo, plain nearest neighbour, TPIR
at FPIR 1e-2 from the strangers' own scores).

1. **Duplicated identities.** ``DUPLICATES``: six people LFW files under two names (a spelling,
   a nickname, the order of a Korean or Chinese name, a longer form). They were found while
   reading this project's errors, then checked by their names, not by a score. Every figure is
   given against LFW's labels (the official one) and with each pair merged into one person.
2. **The Bush brothers.** Jeb Bush's 11 photos join George W. Bush's 530 in every shipped
   default. The script counts the false pairs that merge makes, and scores the same clustering
   with Jeb's photos taken out of that cluster. Pairwise F1 counts pairs, so one merge into a
   530-photo cluster costs thousands of them; BCubed weighs every photo once. It also says what
   ``facenet cluster split`` (:func:`facenet.cluster.split.two_groups`, min_size 2) would cut off
   that cluster, and the gap.
3. **The contact sheet's "Check first" ranking** (:mod:`facenet.cluster.review`): of the
   clusters it ranks highest on the shipped default, how many really hold two or more people.
4. **The strangers nearest the gallery.** These set the FPIR 1e-2 threshold (the 41st of
   4,069). The script lists them with the enrolled face they match.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from facenet.cluster.methods import cluster_embeddings
from facenet.cluster.metrics import clustering_scores
from facenet.cluster.review import SPLIT_LIMIT
from facenet.cluster.split import rank_by_gap, two_groups
from identify_common import LFW_GALLERY, first_photos, flip_tta

#: One person under two LFW names: (name kept, name merged into it).
DUPLICATES = (("Sepp_Blatter", "Joseph_Blatter"), ("John_Gruden", "Jon_Gruden"), ("Sung_Hong_Choi", "Choi_Sung-hong"),
              ("Hasan_Wirayuda", "Hassan_Wirajuda"), ("Yingfan_Wang", "Wang_Yingfan"),
              ("Mireya_Moscoso", "Mireya_Elisa_Moscoso_Rodriguez"))
CACHES = {"sface": "lfw_yunet_sface_fb143eea0783_1896b2abb030124a.npz", "fused": "lfw_yunet_fused_1e7e1491b634_1896b2abb030124a.npz"}


def merged_labels(labels: np.ndarray) -> np.ndarray:
    """labels with each DUPLICATES pair under its first name."""
    alias = {b: a for a, b in DUPLICATES}
    return np.array([alias.get(v, v) for v in labels.tolist()])


def false_pairs(truth: np.ndarray, pred: np.ndarray) -> Counter:
    """Per predicted cluster: how many of its pairs hold two different people."""
    out: Counter = Counter()
    for c in np.unique(pred):
        members = Counter(truth[pred == c].tolist())
        n = sum(members.values())
        out[int(c)] = n * (n - 1) // 2 - sum(v * (v - 1) // 2 for v in members.values())
    return out


def clustering_audit(x: np.ndarray, labels: np.ndarray, model: str) -> dict[str, Any]:
    pred = cluster_embeddings(x, method="graph", model=model).labels
    raw, dup = clustering_scores(labels, pred), clustering_scores(merged_labels(labels), pred)
    jeb = labels == "Jeb_Bush"
    bush = Counter(pred[labels == "George_W_Bush"].tolist()).most_common(1)[0][0]
    split = pred.copy()
    split[jeb & (pred == bush)] = pred.max() + 1
    sp = clustering_scores(labels, split)
    fp = false_pairs(labels, pred)
    idx = np.flatnonzero(pred == bush)  # what `facenet cluster split OUT CLUSTER` would cut off that cluster
    _, b, gap = two_groups(x[idx], 2)
    keys = ("pairwise_f1", "bcubed_f", "bcubed_precision", "bcubed_recall")
    return {"lfw_labels": {k: round(raw[k], 4) for k in keys},
            "duplicates_merged": {k: round(dup[k], 4) for k in keys},
            "jeb_bush_photos_in_george_w_bush_cluster": int((pred[jeb] == bush).sum()),
            "false_pairs": int(sum(fp.values())), "false_pairs_of_that_cluster": int(fp[int(bush)]),
            "jeb_bush_taken_out": {k: round(sp[k], 4) for k in keys},
            "split_of_that_cluster": {"cut_off": dict(Counter(labels[idx[b]].tolist()).most_common(3)),
                                      "gap": round(float(gap), 3)}}


def review_audit(x: np.ndarray, labels: np.ndarray, model: str, ks: tuple[int, ...] = (5, 10, 20, 50)) -> dict[str, Any]:
    """How many of the clusters the contact sheet's "Check first" ranking puts on top really
    hold two or more people (:func:`facenet.cluster.split.rank_by_gap`, as
    facenet.cluster.review ranks them, over the shipped default)."""
    pred = cluster_embeddings(x, method="graph", model=model).labels
    ranked = rank_by_gap(pred, x, 2, SPLIT_LIMIT)
    mixed = [len(set(labels[pred == cid].tolist())) > 1 for cid, _ in ranked]
    return {"ranked": len(ranked), "mixed": int(sum(mixed)), **{f"mixed_in_top_{k}": int(sum(mixed[:k])) for k in ks}}


def identification_audit(x: np.ndarray, labels: np.ndarray, paths: np.ndarray, near: int = 12) -> dict[str, Any]:
    names, counts = np.unique(labels, return_counts=True)
    enrolled = names[counts >= 2]
    if len(enrolled) != LFW_GALLERY:
        raise SystemExit(f"expected {LFW_GALLERY} people with two or more photos, found {len(enrolled)}")
    g = first_photos(labels, paths, enrolled)
    mated = np.setdiff1d(np.flatnonzero(np.isin(labels, enrolled)), g)
    strangers = np.flatnonzero(~np.isin(labels, enrolled))

    def nearest(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = 2.0 - 2.0 * x[p] @ x[g].T
        j = d.argmin(axis=1)
        return d[np.arange(len(p)), j], g[j]

    dn, jn = nearest(strangers)
    dm, jm = nearest(mated)

    def tpir(truth: np.ndarray, keep: np.ndarray) -> dict[str, Any]:
        t = np.sort(dn[keep])[int(0.01 * keep.sum())]  # FPIR 1e-2: 1 % of the strangers kept match someone
        right = truth[jm] == truth[mated]
        return {"threshold": round(float(t), 4), "tpir": round(float((right & (dm < t)).mean()), 4),
                "rank1_wrong": int((~right).sum()), "too_far": int((right & (dm >= t)).sum())}

    dup = merged_labels(labels)
    # with the pairs merged, a "stranger" whose other name is enrolled is that person: not a stranger
    really = np.isin(dup[strangers], dup[g])
    order = np.argsort(dn)[:near]
    return {"lfw_labels": tpir(labels, np.ones(len(strangers), bool)),
            "duplicates_merged": {**tpir(dup, ~really), "strangers_that_are_enrolled": int(really.sum())},
            "nearest_strangers": [{"distance": round(float(dn[k]), 3), "stranger": str(paths[strangers[k]]),
                                   "matches": str(paths[jn[k]])} for k in order]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-identify", type=Path, default=Path("out/identify"))
    ap.add_argument("--json", type=Path, default=Path("out/bench/lfw_error_audit.json"))
    args = ap.parse_args(argv)
    res: dict[str, Any] = {"duplicates": [list(p) for p in DUPLICATES], "clustering": {}, "identification": {}}
    for embedder, name in CACHES.items():
        path = args.out_identify / name
        if not path.exists():
            print(f"missing {path}: run bench/identify_lfw.py (sface) or bench/cluster_embed.py (fused) first", file=sys.stderr)
            return 2
        z = np.load(path)
        labels, paths = z["labels"].astype(str), z["paths"].astype(str)
        for flip in (False, True):
            model = embedder + ("+flip" if flip else "")
            x = flip_tta(z["plain"], z["mirror"]) if flip else z["plain"].astype(np.float32)
            res["clustering"][model] = {**clustering_audit(x, labels, model), "check_first": review_audit(x, labels, model)}
            res["identification"][model] = identification_audit(x.astype(np.float32), labels, paths)
            print(model, json.dumps(res["clustering"][model]), json.dumps({k: v for k, v in res["identification"][model].items()
                                                                              if k != "nearest_strangers"}), flush=True)
    for s in res["identification"]["fused+flip"]["nearest_strangers"]:
        print(f"  {s['distance']:.3f}  {s['stranger']}  ->  {s['matches']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
