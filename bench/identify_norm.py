"""Enrolled-side score normalisation for open-set identification (issue 9): develop on CelebA-wild
only, then run all of LFW once with the setting chosen there.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/identify_norm.py develop  # -> OUT/identify_norm_develop.json
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/identify_norm.py lfw      # -> OUT/identify_norm_lfw.json
    ... identify_norm.py develop --embedder fused; ... lfw --embedder fused   # fused and fused + flip (_fused.json)

Idea: some enrolled faces sit in crowded parts of the embedding space and attract strangers.
Each enrolled face g gets its own neighbourhood statistics: the mean m_g (and std s_g) of its c
nearest distances to a cohort of other people, either the gallery itself (the other enrolled
people: nothing to ship) or an external cohort (people never enrolled nor probed). Scores (lower
= better), for a probe q and a candidate g, d = squared L2, mq = mean of q's c_q nearest OTHER
enrolled subjects (the project's query-side margin, c_q = 10):

* ``gmargin`` b, c:  d - b * (m_g - median_g m_g) - a * mq                (a = 0: gallery side only)
* ``gz`` c:          med(m) + med(s) * (d - m_g) / s_g - a * mq           (Z-norm of the enrolled side)
* ``snorm`` c:       med(m) + med(s) * ((d - mq)/sq + (d - m_g)/s_g) / 2  (both sides, adaptive S-norm;
                     mq, sq: q's c nearest cohort subjects, the same cohort kind as g's)

``rank``: "distance" keeps the nearest subject as the answer and thresholds its normalised score;
"score" re-ranks the nearest 48 subjects by the normalised score (the answer may change).

Development (CelebA-wild, bench/identify_common.py's cleaned set, 292 people, never LFW): each
seeded split enrols half the identities from their first photo (their other photos are mated
probes); the other half is cut into quarters A and B: strangers A are scored with cohort B and
strangers B with cohort A (cohort, enrolled and strangers disjoint); mated probes are scored under
both cohorts and pooled. Variants that use no external cohort see exactly identify_develop's
protocol. Selection: 20 splits (seed 11), by mean TPIR at FPIR 1e-2 (ties: 1e-3); an external
cohort is taken only if it beats the best gallery-cohort variant by more than 2 paired standard
errors. Confirmation: 20 other splits (seed 12), chosen vs the existing rows. LFW: issue 9's
protocol (bench/identify_lfw.py), the chosen setting per embedding (fused plain uses SFace
plain's), run once; external cohort = all of CelebA-wild.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from facenet.gallery.openset import threshold_at_fpir, tpir_at
from identify_common import celeba_dev, first_photos, flip_tta, unit

TOP = 48  # subjects kept per probe (re-ranking and query-side statistics)
CQ = 10  # the project's query-side cohort
QUERY_A = (0.0, 0.5, 0.75, 1.0)
GMARGIN = [(b, c) for b in (0.25, 0.5, 0.75, 1.0, 1.5) for c in (1, 3, 10, 30, 60)]
GZ = (10, 30)
SNORM = (10, 30)
FPIRS = (1e-2, 1e-3)


# ---------------------------------------------------------------- scoring (pure numpy)

def sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, B) squared L2 between unit rows, float64."""
    return np.clip(2.0 - 2.0 * a.astype(np.float64) @ b.astype(np.float64).T, 0.0, 4.0)


def cohort_stats(x: np.ndarray, x_subj: np.ndarray, cohort: np.ndarray, cohort_subj: np.ndarray,
                 c: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (N,) of each row of x's c smallest per-subject distances to the cohort's
    subjects other than its own (a subject's distance: its nearest face)."""
    order = np.argsort(cohort_subj, kind="stable")
    names, starts = np.unique(cohort_subj[order], return_index=True)
    cc = min(c, len(names) - 1)
    mean, std = np.zeros(len(x)), np.zeros(len(x))
    for i in range(0, len(x), 2048):  # rows in blocks: bounded memory
        per = np.minimum.reduceat(sqdist(x[i : i + 2048], cohort[order]), starts, axis=1)
        per[x_subj[i : i + 2048, None] == names[None, :]] = np.inf
        near = np.partition(per, cc - 1, axis=1)[:, :cc]
        mean[i : i + 2048], std[i : i + 2048] = near.mean(1), near.std(1)
    return mean, std


def top_subjects(q: np.ndarray, g: np.ndarray, n: int = TOP) -> tuple[np.ndarray, np.ndarray]:
    """(P, n) gallery indices and ascending distances (one face per subject)."""
    d = sqdist(q, g)
    n = min(n, g.shape[0])
    idx = np.argpartition(d, n - 1, axis=1)[:, :n]
    dd = np.take_along_axis(d, idx, 1)
    o = np.argsort(dd, axis=1, kind="stable")
    return np.take_along_axis(idx, o, 1), np.take_along_axis(dd, o, 1)


def others_stats(td: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
    """For each column j of ascending rows td (P, K): mean and std of the c smallest values of
    the row other than column j (the probe's nearest other subjects). (P, K) each."""
    p, k = td.shape
    c = min(c, k - 1)
    head = td[:, : c + 1]
    s1, s2 = head.sum(1, keepdims=True), (head ** 2).sum(1, keepdims=True)
    j_in = np.arange(k) <= c
    col = np.where(j_in[None, :], td, td[:, c : c + 1])  # the value left out of the first c+1
    mean = (s1 - col) / c
    var = np.maximum((s2 - col ** 2) / c - mean ** 2, 0.0)
    return mean, np.sqrt(var)


def normalised(variant: dict[str, Any], td: np.ndarray, idx: np.ndarray, gstats: dict[int, tuple],
               qstats: dict[int, tuple] | None = None) -> np.ndarray:
    """(P, K) normalised scores of every kept candidate. gstats[c] = (mean, std) per gallery face;
    qstats[c] = (mean, std) per probe over the external cohort (snorm with an external cohort)."""
    kind, a = variant["kind"], variant.get("a", 0.0)
    mq = others_stats(td, CQ)[0] if a else 0.0
    if kind == "none":
        return td - a * mq
    m, s = gstats[variant["c"]]
    if kind == "gmargin":
        return td - variant["b"] * (m[idx] - np.median(m)) - a * mq
    med_m, med_s = np.median(m), np.median(s)
    if kind == "gz":
        return med_m + med_s * (td - m[idx]) / s[idx] - a * mq
    if qstats is None:  # snorm, the gallery as the query's cohort
        mq_c, sq_c = others_stats(td, variant["c"])
    else:
        mq_c, sq_c = (v[:, None] for v in qstats[variant["c"]])
    return med_m + med_s * 0.5 * ((td - mq_c) / np.maximum(sq_c, 1e-6) + (td - m[idx]) / s[idx])


def top1(scores: np.ndarray, idx: np.ndarray, rank: str) -> tuple[np.ndarray, np.ndarray]:
    """(answer gallery index (P,), its score (P,))."""
    j = np.zeros(len(scores), int) if rank == "distance" else scores.argmin(1)
    r = np.arange(len(scores))
    return idx[r, j], scores[r, j]


def variants() -> list[dict[str, Any]]:
    out = []
    for rank in ("distance", "score"):
        for a in QUERY_A:
            out.append({"kind": "none", "a": a, "rank": rank, "cohort": None})
            for cohort in ("gallery", "external"):
                out += [{"kind": "gmargin", "b": b, "c": c, "a": a, "rank": rank, "cohort": cohort} for b, c in GMARGIN]
                out += [{"kind": "gz", "c": c, "a": a, "rank": rank, "cohort": cohort} for c in GZ]
        out += [{"kind": "snorm", "c": c, "rank": rank, "cohort": co} for c in SNORM for co in ("gallery", "external")]
    return out


def vname(v: dict[str, Any]) -> str:
    s = {"none": "none", "gmargin": f"gmargin b={v.get('b')} c={v.get('c')}", "gz": f"gz c={v.get('c')}",
         "snorm": f"snorm c={v.get('c')}"}[v["kind"]]
    if v.get("cohort"):
        s += f" cohort={v['cohort']}"
    if v["kind"] != "snorm":
        s += f" a={v.get('a', 0.0)}"
    return s + f" rank={v['rank']}"


def needed_c(vs: list[dict[str, Any]]) -> list[int]:
    return sorted({v["c"] for v in vs if "c" in v})


# ---------------------------------------------------------------- one gallery, one cohort

class Setup:
    """Distances and statistics for one (gallery, probes, cohort): every variant is scored from it."""

    def __init__(self, x: np.ndarray, lab: np.ndarray, g: np.ndarray, probes: np.ndarray,
                 cohort_x: np.ndarray | None, cohort_lab: np.ndarray | None, vs: list[dict[str, Any]]) -> None:
        cs = needed_c(vs)
        self.g_lab, self.truth = lab[g], lab[probes]
        self.idx, self.td = top_subjects(x[probes], x[g])
        self.gstats = {"gallery": {c: cohort_stats(x[g], lab[g], x[g], lab[g], c) for c in cs}}
        self.qstats = None
        if cohort_x is not None:
            self.gstats["external"] = {c: cohort_stats(x[g], lab[g], cohort_x, cohort_lab, c) for c in cs}
            cq = sorted({v["c"] for v in vs if v["kind"] == "snorm" and v.get("cohort") == "external"})
            self.qstats = {c: cohort_stats(x[probes], lab[probes], cohort_x, cohort_lab, c) for c in cq}

    def score(self, v: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """(top-1 label (P,), score (P,))."""
        co = v.get("cohort") or "gallery"
        s = normalised(v, self.td, self.idx, self.gstats.get(co, {}), self.qstats if co == "external" else None)
        j, sc = top1(s, self.idx, v["rank"])
        return self.g_lab[j], sc


def rates(mated_lab: np.ndarray, mated_truth: np.ndarray, mated_s: np.ndarray, non_s: np.ndarray) -> dict[str, float]:
    hit = mated_lab == mated_truth
    out = {"rank1": float(hit.mean())}
    for f in FPIRS:
        t = threshold_at_fpir(non_s, f)
        out[f"tpir@{f:g}"] = tpir_at(mated_s, hit, t)
    return out


# ---------------------------------------------------------------- development (CelebA-wild only)

def dev_splits(dev: dict[str, Any], emb: str, seed: int, n: int, vs: list[dict[str, Any]], enrol_share: float = 0.5,
               cohort_share: float = 1.0) -> dict[str, np.ndarray]:
    """Per variant: (n, 3) [tpir@1e-2, tpir@1e-3, rank1] over n seeded splits. enrol_share of the
    identities enrolled; the rest cut into halves A, B (strangers / cohort, both ways round);
    cohort_share: the share of the cohort half's identities used as the cohort."""
    lab, paths, x = dev["labels"], dev["paths"], dev[emb]
    idents = np.unique(lab)
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {vname(v): [] for v in vs}
    for split in range(n):
        perm = rng.permutation(idents)
        h = int(round(len(perm) * enrol_share))
        enr, qa, qb = perm[:h], perm[h : h + (len(perm) - h) // 2], perm[h + (len(perm) - h) // 2 :]
        g = first_photos(lab, paths, enr)
        mated = np.setdiff1d(np.nonzero(np.isin(lab, enr))[0], g)
        setups = []
        for strangers, cohort in ((qa, qb), (qb, qa)):
            non = np.nonzero(np.isin(lab, strangers))[0]
            if cohort_share < 1:  # its own generator: the splits stay those of cohort_share 1
                cohort = cohort[np.random.default_rng([seed, split]).random(len(cohort)) < cohort_share]
            co = np.isin(lab, cohort)
            probes = np.concatenate([mated, non])
            setups.append((Setup(x, lab, g, probes, x[co], lab[co], vs), len(mated)))
        for v in vs:
            parts = []
            for st, nm in setups:
                top, sc = st.score(v)
                parts.append((top[:nm], st.truth[:nm], sc[:nm], sc[nm:]))
            r = rates(*(np.concatenate(p) for p in zip(*parts)))
            out[vname(v)].append([r["tpir@0.01"], r["tpir@0.001"], r["rank1"]])
    return {k: np.array(v) for k, v in out.items()}


def choose(table: dict[str, np.ndarray], vs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rule stated in the module docstring. Returns (chosen variant, the reasoning)."""
    by = {vname(v): v for v in vs}
    key = lambda k: (table[k][:, 0].mean(), table[k][:, 1].mean())  # noqa: E731
    best = max(table, key=key)
    best_local = max((k for k in table if by[k].get("cohort") != "external"), key=key)
    why: dict[str, Any] = {"best_any": best, "best_without_external_cohort": best_local}
    if by[best].get("cohort") == "external":
        diff = table[best][:, 0] - table[best_local][:, 0]
        se = diff.std(ddof=1) / np.sqrt(len(diff))
        why.update(external_gain=round(float(diff.mean()), 5), paired_se=round(float(se), 5))
        if diff.mean() <= 2 * se:
            best = best_local
    why["chosen"] = best
    return by[best], why


def summary(table: dict[str, np.ndarray]) -> dict[str, list[float]]:
    return {k: v.mean(0).round(5).tolist() for k, v in table.items()}


EXISTING = [{"kind": "none", "a": 0.0, "rank": "distance", "cohort": None},
            {"kind": "none", "a": 0.75, "rank": "distance", "cohort": None}]  # plain distance, the shipped query margin


def develop(args: argparse.Namespace) -> dict[str, Any]:
    dev = celeba_dev(args.data, args.out, args.embedder)
    vs = variants()
    res: dict[str, Any] = {"data": dev["info"], "columns": ["tpir@1e-2", "tpir@1e-3", "rank1"],
                           "selection": {"seed": 11, "splits": args.splits}, "confirmation": {"seed": 12, "splits": args.splits},
                           "chosen": {}, "why": {}, "confirm": {}}
    for emb in ("plain", "flip"):
        t0 = time.perf_counter()
        sel = dev_splits(dev, emb, 11, args.splits, vs)
        v, why = choose(sel, vs)
        res["selection"][emb] = summary(sel)
        res["chosen"][emb], res["why"][emb] = v, why
        conf_vs = EXISTING + [v] + [by for by in vs if vname(by) == why["best_without_external_cohort"] and by is not v]
        conf = dev_splits(dev, emb, 12, args.splits, conf_vs)
        base = conf[vname(EXISTING[1])][:, 0]
        res["confirm"][emb] = {k: {"mean": a.mean(0).round(5).tolist(),
                                   "gain_vs_query_margin": round(float((a[:, 0] - base).mean()), 5),
                                   "paired_se": round(float((a[:, 0] - base).std(ddof=1) / np.sqrt(len(base))), 5)}
                               for k, a in conf.items()}
        res.setdefault("size_check", {})[emb] = size_check(dev, emb, [v] + [w for w in vs if vname(w) == why["best_without_external_cohort"]])
        print(f"{emb}: chosen {vname(v)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return res


def size_check(dev: dict[str, Any], emb: str, picked: list[dict[str, Any]]) -> dict[str, Any]:
    """Does the best cohort size c follow the gallery's size? The picked variants with every c of
    the grid, galleries of a quarter / half / three quarters of the identities (selection seed):
    mean TPIR@1e-2 gain over the query margin."""
    out: dict[str, Any] = {}
    for share in (0.25, 0.5, 0.75):
        for v in picked:
            row = [dict(v, c=c) for c in sorted({c for _, c in GMARGIN})]
            t = dev_splits(dev, emb, 11, 10, EXISTING[1:] + row, enrol_share=share)
            base = t[vname(EXISTING[1])][:, 0].mean()
            key = vname({**v, "c": "*"})
            out.setdefault(key, {})[f"enrolled {share:g} of the people"] = {
                f"c={w['c']}": round(float(t[vname(w)][:, 0].mean() - base), 5) for w in row}
    return out


# ---------------------------------------------------------------- LFW (once)

def picked_of(devres: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per embedding kind, the CelebA choice and (when it is another) the best variant without an external cohort."""
    by = {vname(v): v for v in variants()}
    return {emb: [devres["chosen"][emb]] + ([by[devres["why"][emb]["best_without_external_cohort"]]]
                                            if devres["why"][emb]["best_without_external_cohort"] != devres["why"][emb]["chosen"] else [])
            for emb in ("plain", "flip")}


def lfw(args: argparse.Namespace) -> dict[str, Any]:
    from facenet.gallery.impostor import ImpostorModel

    if args.embedder == "fused":
        return lfw_fused(args)
    devres = json.loads((args.out / "identify_norm_develop.json").read_text())
    picked = picked_of(devres)
    z = np.load(args.out / "lfw_yunet_sface_fb143eea0783_1896b2abb030124a.npz")
    zf = np.load(args.out / "lfw_yunet_fused_1e7e1491b634_1896b2abb030124a_plain.npz")
    lab, paths = z["labels"].astype(str), z["paths"].astype(str)
    if not (np.array_equal(lab, zf["labels"].astype(str)) and np.array_equal(paths, zf["paths"].astype(str))):
        raise SystemExit("the fused and SFace caches list different files")
    dev = celeba_dev(args.data, args.out)
    # system: (embeddings, the CelebA choice it uses, external cohort, shipped impostor model)
    systems = {"sface": (unit(z["plain"]), "plain", dev["plain"], "sface"),
               "sface+flip": (flip_tta(z["plain"], z["mirror"]), "flip", dev["flip"], "sface+flip"),
               "fused": (unit(zf["plain"]), "plain", None, None)}
    return run_lfw(devres, picked, systems, lab, paths, dev, {k: ImpostorModel.shipped(k) for k in ("sface", "sface+flip")})


def lfw_fused(args: argparse.Namespace) -> dict[str, Any]:
    """The same LFW run for fused and fused + flip, with fused's own CelebA-wild choice, its CelebA-wild
    embeddings as the external cohort, and the impostor model a fused gallery borrows."""
    from facenet.cluster.methods import impostor_model

    devres = json.loads((args.out / "identify_norm_develop_fused.json").read_text())
    picked = picked_of(devres)
    z = np.load(args.out / "lfw_yunet_fused_1e7e1491b634_1896b2abb030124a.npz")
    dev = celeba_dev(args.data, args.out, "fused")
    systems = {"fused": (unit(z["plain"]), "plain", dev["plain"], "fused"),
               "fused+flip": (flip_tta(z["plain"], z["mirror"]), "flip", dev["flip"], "fused+flip")}
    return run_lfw(devres, picked, systems, z["labels"].astype(str), z["paths"].astype(str), dev,
                   {k: impostor_model(k) for k in ("fused", "fused+flip")})


def run_lfw(devres: dict[str, Any], picked: dict[str, list[dict[str, Any]]], systems: dict[str, Any], lab: np.ndarray,
            paths: np.ndarray, dev: dict[str, Any], models: dict[str, Any]) -> dict[str, Any]:
    """Issue 9's LFW protocol for each system (embeddings, its CelebA choice, external cohort, key
    of ``models``: its impostor model, or None)."""
    from facenet.gallery.impostor import adapt_impostor_model, identification_threshold

    names, counts = np.unique(lab, return_counts=True)
    g = first_photos(lab, paths, names[counts >= 2])
    mated = np.setdiff1d(np.nonzero(np.isin(lab, names[counts >= 2]))[0], g)
    non = np.nonzero(np.isin(lab, names[counts == 1]))[0]
    probes, nm = np.concatenate([mated, non]), len(mated)
    res: dict[str, Any] = {"chosen_on_celeba": devres["chosen"], "evaluated": {k: [vname(v) for v in vs] for k, vs in picked.items()},
                           "protocol": {"enrolled": len(g), "mated": nm, "nonmated": len(non)},
                           "cohort_external": f"all of CelebA-wild (cleaned): {len(dev['labels'])} photos, {len(set(dev['labels']))} people",
                           "rows": []}
    for name, (x, emb, cohort, model) in systems.items():
        vs = EXISTING + [v for v in picked[emb] if cohort is not None or v.get("cohort") != "external"]
        st = Setup(x, lab, g, probes, cohort, dev["labels"] if cohort is not None else None, vs)
        adapted = adapt_impostor_model(models[model], x[g], lab[g]) if model else None
        for v in vs:
            top, sc = st.score(v)
            hit, ms, ns = top[:nm] == st.truth[:nm], sc[:nm], sc[nm:]
            r = rates(top[:nm], st.truth[:nm], ms, ns)
            row = {"system": name, "score": vname(v), "chosen_on_celeba": v is picked[emb][0], **r,
                   "thresholds": {f"{f:g}": threshold_at_fpir(ns, f) for f in FPIRS}}
            if adapted is not None:  # the gallery's automatic threshold as it is today (query-side score only)
                kw = {"scoring": "margin", "margin_weight": v["a"], "cohort": CQ} if v.get("a") else {"scoring": "distance"}
                row["auto"] = {}
                for f in FPIRS:
                    t = identification_threshold(len(g), f, adapted, **kw)
                    row["auto"][f"{f:g}"] = {"threshold": t, "fpir": float(np.mean(ns < t)), "tpir": tpir_at(ms, hit, t)}
            res["rows"].append(row)
            auto = row.get("auto", {}).get("0.01")
            print(f"{name:10s} {vname(v):58s} rank1 {r['rank1']:.4f} TPIR@1e-2 {r['tpir@0.01']:.4f} @1e-3 {r['tpir@0.001']:.4f}"
                  + (f" | auto@1e-2: FPIR {auto['fpir']:.4f} TPIR {auto['tpir']:.4f}" if auto else ""), file=sys.stderr)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("develop", "lfw"))
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/identify"))
    ap.add_argument("--splits", type=int, default=20)
    ap.add_argument("--embedder", choices=("sface", "fused"), default="sface",
                    help="sface: SFace plain / flip (and fused with SFace's choice); fused: fused plain / flip, their own choice")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = develop(args) if args.command == "develop" else lfw(args)
    path = args.out / f"identify_norm_{args.command}{'_fused' if args.embedder == 'fused' else ''}.json"
    res["seconds"] = round(time.perf_counter() - t0, 1)
    path.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
