"""Development of the open-set identification choices on CelebA-wild only (bench/identify_lfw.py
develop / calibrate): the impostor model checked on held-out identities, the k-NN score, the SVM's C,
and the shipped SFace impostor models."""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from facenet.gallery.identifiers import SVMIdentifier
from facenet.gallery.impostor import ImpostorModel, adapt_impostor_model, fit_impostor_model, identification_threshold
from facenet.gallery.openset import FPIR_TARGETS, fpir_at, margin_scores, open_set_report
from identify_common import (
    LFW_GALLERY,
    MARGIN_GRID,
    MAX_PROBES,
    SVM_GRID,
    TAILS,
    celeba_dev,
    evaluate,
    impostor_distances,
    knn_top,
    parse_score,
    score_name,
    split_protocol,
)

ADAPTED = "per_probe tail 1e-4 adapted to the gallery"


# ---------------------------------------------------------------- development (CelebA only)

def develop(args: argparse.Namespace) -> dict[str, Any]:
    dev = celeba_dev(args.data, args.out)
    lab, paths = dev["labels"], dev["paths"]
    idents = np.unique(lab)
    print(f"CelebA-wild development set: {dev['info']}", file=sys.stderr)
    result: dict[str, Any] = {"data": dev["info"]}

    # (3) the k-NN score, one enrolment photo: TPIR at FPIR over splits (half the identities enrolled)
    grid: dict[str, list] = defaultdict(list)
    rng = np.random.default_rng(1)
    for split in range(args.splits_score):
        perm = rng.permutation(idents)
        g, mated, non = split_protocol(lab, paths, perm[: len(perm) // 2])
        for emb in ("plain", "flip"):
            cand_m, dist_m = knn_top(dev[emb], lab, g, mated)
            _, dist_n = knn_top(dev[emb], lab, g, non)
            for score in [None] + MARGIN_GRID:
                r = evaluate(cand_m, dist_m, lab[mated], dist_n, score)
                grid[f"{emb} {score_name(score)}"].append([p["tpir"] for p in r["points"]] + [r["rank"]["1"]])
    table = {k: np.mean(v, 0).round(4).tolist() for k, v in grid.items()}
    result["score_grid"] = {"columns": ["tpir@1e-2", "tpir@1e-3", "rank1"], "splits": args.splits_score, "rows": table}

    def best_of(prefix: str) -> str:
        return max((k for k in table if k.startswith(prefix)), key=lambda k: (table[k][0], table[k][1]))

    result["chosen"] = {"best": parse_score(best_of("")),
                        "margin": {emb: parse_score(best_of(emb + " margin"))["margin"] for emb in ("plain", "flip")}}
    best = result["chosen"]["best"]
    lam, cohort = result["chosen"]["margin"][best["embedding"]]
    x_best = dev[best["embedding"]]

    # (1) + (2): the impostor model on held-out identities (fit on half the identities, galleries of N
    # from the other half, strangers = its remaining identities), and the threshold for LFW's gallery size
    heldout, stability = [], defaultdict(list)
    rng = np.random.default_rng(0)
    for split in range(args.splits_model):
        perm = rng.permutation(idents)
        a, b = perm[: len(perm) // 2], perm[len(perm) // 2 :]
        ia = np.isin(lab, a)
        d_a = impostor_distances(x_best[ia], lab[ia])
        models = {(kind, tail): fit_impostor_model(d_a, "dev", kind=kind, tail_from=p0 or 1e-12)
                  for tail, p0 in TAILS.items() for kind in ("per_probe", "pooled")}
        for (kind, tail), m in models.items():
            stability[f"{kind} tail {tail}"].append([m.threshold(LFW_GALLERY, f) for f in FPIR_TARGETS])
        for n in (10, 50, 100, len(b) - 20):
            t = {key: {f: m.threshold(n, f) for f in FPIR_TARGETS} for key, m in models.items()}
            m = models[("per_probe", "1e-4")]
            tm = {f: identification_threshold(n, f, m, scoring="margin", margin_weight=lam, cohort=cohort) for f in FPIR_TARGETS}
            for rep in range(3):
                bb = rng.permutation(b)
                g, _, non = split_protocol(lab, paths, bb[:n], nonmated=bb[n:])
                _, dist = knn_top(x_best, lab, g, non)
                for (kind, tail), tt in t.items():
                    row = {"split": split, "kind": f"{kind} tail {tail}", "n": n}
                    row.update({f"fpir@{f:g}": fpir_at(dist[:, 0], tt[f]) for f in FPIR_TARGETS})
                    if (kind, tail) == ("per_probe", "1e-4"):
                        row.update({f"margin_fpir@{f:g}": fpir_at(margin_scores(dist, lam, cohort), tm[f]) for f in FPIR_TARGETS})
                    heldout.append(row)
                # what a gallery does with the model: adapt it to the people it holds (no stranger seen)
                ad = adapt_impostor_model(m, x_best[g], lab[g])
                row = {"split": split, "kind": ADAPTED, "n": n}
                row.update({f"fpir@{f:g}": fpir_at(dist[:, 0], ad.threshold(n, f)) for f in FPIR_TARGETS})
                heldout.append(row)
    result["model_heldout"] = {"embedding": best["embedding"], "margin": [lam, cohort], **summarise_heldout(heldout)}
    err = {k.split(" mean")[0]: v for k, v in result["model_heldout"].items() if k.endswith("|") and not k.startswith(ADAPTED)}
    result["chosen"]["impostor_model"] = min(err, key=err.get)  # the shipped models use per_probe, tail 1e-4
    result["threshold_stability_n1680"] = {k: {"mean": np.mean(v, 0).round(4).tolist(), "std": np.std(v, 0).round(4).tolist(),
                                               "min": np.min(v, 0).round(4).tolist(), "max": np.max(v, 0).round(4).tolist()}
                                           for k, v in stability.items()}

    # (4) the SVM, two enrolment photos (identities with >= 3 photos), plain embeddings
    counts = {i: int((lab == i).sum()) for i in idents}
    many = np.array([i for i in idents if counts[i] >= 3])
    svm_grid: dict[str, list] = defaultdict(list)
    rng = np.random.default_rng(2)
    x = dev["plain"]
    for split in range(args.splits_svm):
        perm = rng.permutation(many)
        g, mated, non = split_protocol(lab, paths, perm[: len(perm) // 2], n_enrol=2, nonmated=perm[len(perm) // 2 :])
        cand_m, dist_m = knn_top(x, lab, g, mated)
        _, dist_n = knn_top(x, lab, g, non)
        for name, score in (("knn distance", None), ("knn margin", result["chosen"]["margin"]["plain"])):
            r = evaluate(cand_m, dist_m, lab[mated], dist_n, tuple(score) if score else None)
            svm_grid[name].append([p["tpir"] for p in r["points"]] + [r["rank"]["1"]])
        for c, w in SVM_GRID:
            svm = SVMIdentifier(C=c, class_weight=w).fit(x[g], lab[g])
            rm, rn = svm.identify(x[mated], 5), svm.identify(x[non], 1)
            r = open_set_report(rm.candidates, lab[mated], rm.scores, rn.scores).to_dict()
            svm_grid[f"svm C={c:g} class_weight={w}"].append([p["tpir"] for p in r["points"]] + [r["rank"]["1"]])
    svm_table = {k: np.mean(v, 0).round(4).tolist() for k, v in svm_grid.items()}
    best_svm = max((k for k in svm_table if k.startswith("svm")), key=lambda k: (svm_table[k][0], svm_table[k][1]))
    c_w = dict(kv.split("=") for kv in best_svm.split()[1:])
    result["svm_grid"] = {"columns": ["tpir@1e-2", "tpir@1e-3", "rank1"], "splits": args.splits_svm, "rows": svm_table}
    svm_p = {"C": float(c_w["C"]), "class_weight": None if c_w["class_weight"] == "None" else c_w["class_weight"]}
    # its threshold for LFW, chosen on CelebA (the >= 3-photo identities: half enrolled, half strangers)
    perm = np.random.default_rng(3).permutation(many)
    g, mated, non = split_protocol(lab, paths, perm[: len(perm) // 2], n_enrol=2, nonmated=perm[len(perm) // 2 :])
    svm = SVMIdentifier(**svm_p).fit(x[g], lab[g])
    svm_p["thresholds"] = {f"{f:g}": svm.calibrate(x[non], lab[non], f).threshold_ for f in FPIR_TARGETS}
    result["chosen"]["svm"] = svm_p
    return result


def summarise_heldout(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean observed FPIR per model and gallery size, and each model's mean |log10(observed / target)|
    over sizes and targets (0 observed counts as a tenth of the target)."""
    out: dict[str, Any] = {}
    for kind in dict.fromkeys(r["kind"] for r in rows):
        errs = []
        for n in sorted({r["n"] for r in rows}):
            sel = [r for r in rows if r["kind"] == kind and r["n"] == n]
            keys = [k for k in sel[0] if k.startswith(("fpir", "margin"))]
            means = {k: round(float(np.mean([r[k] for r in sel])), 5) for k in keys}
            out[f"{kind} N={n}"] = means
            errs += [abs(np.log10(max(means[f"fpir@{f:g}"], f / 10) / f)) for f in FPIR_TARGETS]
        out[f"{kind} mean |log10(observed/target)|"] = round(float(np.mean(errs)), 4)
    return out


# ---------------------------------------------------------------- calibration (the shipped models)

def calibrate(args: argparse.Namespace) -> dict[str, Any]:
    """The shipped impostor models of each ``args.embedders`` (plain and flip), fitted on the
    CelebA-wild development set: written with ``--write``, compared with the shipped files with
    ``--check``."""
    from facenet.models.registry import model_config

    report: dict[str, Any] = {}
    for embedder in getattr(args, "embedders", None) or ["sface"]:
        dev = celeba_dev(args.data, args.out, embedder)
        sha = model_config(embedder).weights.sha256
        for emb in ("plain", "flip"):
            name = embedder + ("+flip" if emb == "flip" else "")
            meta = {"data": "CelebA-wild development set (bench/identify_lfw.py: LFW identities and the set's defects left out)",
                    "identities": dev["info"]["identities"], "images": dev["info"]["kept_images"], "detector": "yunet",
                    "embedder": embedder, "flip": emb == "flip", "weights_sha256": sha,
                    "command": f"bench/identify_lfw.py calibrate --embedder {embedder} --write src/facenet/gallery"}
            m = fit_impostor_model(impostor_distances(dev[emb], dev["labels"]), name, max_probes=MAX_PROBES, meta=meta)
            fname = f"{embedder}{'_flip' if emb == 'flip' else ''}_impostors.json"
            report[name] = {"thresholds": {str(n): [round(m.threshold(n, f), 4) for f in FPIR_TARGETS]
                                           for n in (1, 10, 100, 1680, 10**4, 10**5, 10**6)},
                            "far_at_verification": m.far(model_config(embedder).verification_threshold(emb == "flip"))}
            if args.write:
                m.save(Path(args.write) / fname)
                report[name]["written"] = str(Path(args.write) / fname)
            if args.check:
                shipped = ImpostorModel.shipped(name)
                same = all(abs(shipped.threshold(n, f) - m.threshold(n, f)) < 5e-4
                           for n in (1, 100, 1680, 10**5) for f in FPIR_TARGETS)
                report[name]["check"] = "match" if same else "MISMATCH"
    return report


