"""Open-set identification (issue 9): develop on CelebA-wild, measure once on all of LFW.

    .venv/bin/python bench/identify_lfw.py all --data ../shared/data --out out/identify   # make bench-identify
    .venv/bin/python bench/identify_lfw.py calibrate --write src/facenet/gallery   # the shipped SFace impostor models
    .venv/bin/python bench/identify_lfw.py develop      # choices on CelebA-wild only -> OUT/develop.json
    .venv/bin/python bench/identify_lfw.py lfw [--dlib] # LFW with those choices -> OUT/identify_lfw.json

Every image is embedded once with ``FacePipeline("yunet", "sface")``: the plain crop and its
mirror separately (flip TTA = normalise(plain + mirror), exactly what ``flip=True`` computes),
cached in OUT/<set>_<detector>_<model>_<weights>_<file list>.npz.

Development data (CelebA-wild, never LFW): the 5 identities also in LFW are left out (README),
and three defects of the set itself: 20 photos whose bytes appear under two identities, identity
07312 (it holds copies of four other identities' photos), and 07393, which is 07392 again
(centroid distance 0.04; the next closest pair is 0.53), merged. Photos with no face found are
left out. ``develop`` (1) checks the impostor model on held-out identities (fit on half the
identities, observed FPIR on galleries built from the other half), (2) measures how stable the
large-gallery threshold is across identity splits for each tail option, (3) chooses the k-NN
score (plain distance, or the margin d1 - lambda * mean of the next c subjects, plain or flip
embeddings) by TPIR at FPIR 1e-2 over 20 splits (half the identities enrolled from their first
photo), and (4) the SVM's C with two enrolment photos.

LFW protocol (all 13,233 images): the 1,680 people with >= 2 photos are enrolled from their first
photo (file names sorted); their other photos are the mated probes; the 4,069 people with one photo
are the non-mated probes. Several-photo protocol: the people with >= 3 photos are enrolled from
their first 2, the rest of theirs are mated; the same 4,069 non-mated. TPIR at FPIR f uses the
threshold the LFW non-mated scores give (the DET point, as in the issue); "auto" rows use the
size-dependent threshold from the shipped CelebA model instead and say what FPIR it gives on LFW.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from facenet.gallery.identifiers import SVMIdentifier
from facenet.gallery.impostor import ImpostorModel, adapt_impostor_model, identification_threshold
from facenet.gallery.openset import FPIR_TARGETS, fpir_at, open_set_report, tpir_at
from identify_common import (
    DLIB_TOLERANCE,
    embed_folder,
    evaluate,
    flip_tta,
    knn_top,
    save_npz,
    score_name,
    split_protocol,
    unit,
)
from identify_develop import calibrate, develop

# ---------------------------------------------------------------- LFW

def lfw(args: argparse.Namespace) -> dict[str, Any]:
    from facenet.models import model_config
    from facenet.pipeline import FacePipeline

    chosen = json.loads((args.out / "develop.json").read_text())["chosen"]
    z = embed_folder(FacePipeline("yunet", "sface"), args.data / "lfw", args.out, "lfw")
    lab, paths = z["labels"].astype(str), z["paths"].astype(str)
    cfg = model_config("sface")
    # system: (embeddings, shipped impostor model, verification threshold on squared L2, margin chosen on CelebA)
    systems = {"sface": (z["plain"], "sface", cfg.verification_threshold(False), chosen["margin"]["plain"]),
               "sface+flip": (flip_tta(z["plain"], z["mirror"]), "sface+flip", cfg.verification_threshold(True),
                              chosen["margin"]["flip"])}
    # the paper's 128-byte embeddings: the gallery stored in 8 bits as the SQLite store does, the probes float
    multi, single, many = _enrolled(lab)
    gallery_rows = np.zeros(len(lab), bool)
    gallery_rows[split_protocol(lab, paths, multi, 1, single)[0]] = True
    gallery_rows[split_protocol(lab, paths, many, 2, single)[0]] = True
    systems["sface, int8 gallery"] = (int8_rows(z["plain"], gallery_rows), "sface", cfg.verification_threshold(False),
                                      chosen["margin"]["plain"])
    if args.dlib:
        systems["dlib (face_recognition)"] = (dlib_embeddings(args, args.data / "lfw", paths), None, None, chosen["margin"]["plain"])
    out: dict[str, Any] = {"chosen_on_celeba": chosen, "face_found": int(z["face_found"].sum()), "images": len(lab),
                           "embed_seconds": float(z["seconds"]), "rows": []}
    g, mated, non = split_protocol(lab, paths, multi, 1, single)
    g2, mated2, non2 = split_protocol(lab, paths, many, 2, single)
    out["protocol"] = {"one_photo": {"enrolled": len(g), "mated": len(mated), "nonmated": len(non)},
                       "two_photos": {"enrolled_people": len(many), "gallery_faces": len(g2), "mated": len(mated2), "nonmated": len(non2)}}
    for sys_name, (x, model_name, verification, margin_l) in systems.items():
        margin = tuple(margin_l)
        cand_m, dist_m = knn_top(x, lab, g, mated)
        cand_n, dist_n = knn_top(x, lab, g, non)
        for score in (None, margin):
            fixed = {}
            if model_name:
                kw = {"scoring": "distance"} if score is None else {"scoring": "margin", "margin_weight": score[0], "cohort": score[1]}
                fixed.update({f"auto@{f:g}": identification_threshold(len(g), f, model_name, **kw) for f in FPIR_TARGETS})
                # what a gallery does: the shipped model adapted to its own enrolled people (no stranger seen)
                adapted = adapt_impostor_model(ImpostorModel.shipped(model_name), x[g], lab[g])
                fixed.update({f"adapted@{f:g}": identification_threshold(len(g), f, adapted, **kw) for f in FPIR_TARGETS})
            if score is None and verification:
                fixed["verification"] = verification
            r = evaluate(cand_m, dist_m, lab[mated], dist_n, score, fixed)
            if score is None:  # single-comparison FAR on LFW (every stranger x every enrolled face), and the model's predictions
                d_all = np.clip(2.0 - 2.0 * unit(x[non]) @ unit(x[g]).T, 0.0, 4.0)
                shipped = ImpostorModel.shipped(model_name) if model_name else None
                for key, v in r["fixed"].items():
                    v["far"] = float(np.mean(d_all < v["threshold"]))
                    m = adapted if key.startswith("adapted") else shipped  # the model that chose the threshold
                    if m is not None:
                        v.update(predicted_far=m.far(v["threshold"]), predicted_fpir=m.fpir(v["threshold"], len(g)))
            if score is None and not model_name:  # dlib: its own tolerance, on its raw (not normalised) vectors
                raw = raw_min_distance(x[non], x[g])
                r["fixed"]["tolerance 0.6 (euclidean)"] = {"threshold": DLIB_TOLERANCE, "fpir": fpir_at(raw, DLIB_TOLERANCE), "tpir": None}
            out["rows"].append({"system": sys_name, "protocol": "one_photo", "method": f"k-NN {score_name(score)}", **r})
        if sys_name == "sface":  # who the closest "strangers" are (LFW has a few people under two names, and twins)
            close = np.argsort(dist_n[:, 0])[:12]
            out["closest_nonmated"] = [{"probe": str(paths[non[i]]), "matched": str(cand_n[i, 0]), "distance": round(float(dist_n[i, 0]), 4)}
                                       for i in close]
        cand_m, dist_m = knn_top(x, lab, g2, mated2)
        _, dist_n = knn_top(x, lab, g2, non2)
        for score in (None, margin):
            out["rows"].append({"system": sys_name, "protocol": "two_photos", "method": f"k-NN {score_name(score)}",
                                **evaluate(cand_m, dist_m, lab[mated2], dist_n, score)})
        svm_p = {k: v for k, v in chosen["svm"].items() if k != "thresholds"}
        t0 = time.perf_counter()
        svm = SVMIdentifier(**svm_p).fit(x[g2], lab[g2])
        fit_s = time.perf_counter() - t0
        rm, rn = svm.identify(x[mated2], 5), svm.identify(x[non2], 1)
        r = open_set_report(rm.candidates, lab[mated2], rm.scores, rn.scores).to_dict()
        hit = rm.candidates[:, 0] == lab[mated2]
        if sys_name == "sface":
            r["fixed"] = {f"celeba@{k}": {"threshold": t, "fpir": fpir_at(rn.scores, t), "tpir": tpir_at(rm.scores, hit, t)}
                          for k, t in chosen["svm"]["thresholds"].items()}
        out["rows"].append({"system": sys_name, "protocol": "two_photos", "method": f"SVM C={svm_p['C']:g} class_weight={svm_p['class_weight']}",
                            "fit_seconds": fit_s, **r})
    out["verification_int8"] = verification_int8(args.data / "lfw", z)
    return out


def _enrolled(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(people with >= 2 photos, people with one, people with >= 3)."""
    names, counts = np.unique(lab, return_counts=True)
    return names[counts >= 2], names[counts == 1], names[counts >= 3]


def int8_rows(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """x with ``rows`` stored and read back as the SQLite store's int8 embeddings."""
    from facenet.gallery.quantize import decode, encode

    out = unit(x).copy()
    out[rows] = decode(encode(out[rows], "int8"), x.shape[1], "int8")
    return out


def verification_int8(root: Path, z: Any) -> dict[str, Any]:
    """LFW View 2 (10 folds) with float32 embeddings and with both sides int8: the accuracy cost."""
    from facenet.data.lfw import read_pairs
    from facenet.eval.report import report_from_distances

    pairs = read_pairs(root / "pairs.txt", root)
    index = {p: i for i, p in enumerate(z["paths"].astype(str))}
    ia = np.array([index[str(Path(p).relative_to(root))] for p in pairs.paths_a])
    ib = np.array([index[str(Path(p).relative_to(root))] for p in pairs.paths_b])
    out = {}
    for name, x in (("float32", unit(z["plain"])), ("int8", int8_rows(z["plain"], np.ones(len(z["plain"]), bool)))):
        d = np.sum((x[ia] - x[ib]) ** 2, axis=1)
        r = report_from_distances(d, np.asarray(pairs.same, bool), np.asarray(pairs.folds))
        out[name] = {"accuracy_mean": r.accuracy_mean, "accuracy_std": r.accuracy_std, "auc": r.auc}
    out["accuracy_cost_points"] = round(100 * (out["float32"]["accuracy_mean"] - out["int8"]["accuracy_mean"]), 4)
    return out


def raw_min_distance(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Euclidean distance of each query to its nearest gallery row, on the vectors as they are."""
    q, g = q.astype(np.float64), g.astype(np.float64)
    d2 = (q * q).sum(1)[:, None] + (g * g).sum(1)[None, :] - 2.0 * q @ g.T
    return np.sqrt(np.maximum(d2, 0.0)).min(1)


def dlib_embeddings(args: argparse.Namespace, root: Path, rel: np.ndarray) -> np.ndarray:
    cache = args.out / f"lfw_dlib_{hashlib.sha256(chr(10).join(rel.tolist()).encode()).hexdigest()[:16]}.npz"
    if not cache.exists():
        sys.path.insert(0, str(Path(__file__).parent))
        from vs_dlib import run_dlib  # needs `make bench-dlib`'s packages

        r = run_dlib([root / p for p in rel])
        save_npz(cache, {"emb": r["emb"], "found": r["found"], "seconds": r["seconds"]})
    e = np.load(cache)["emb"].astype(np.float32)
    return e  # the identifiers L2-normalise (dlib's vectors are close to unit norm already)


def pct(x: float | None) -> str:
    return "" if x is None or x != x else f"{100 * x:.2f}%"


def markdown(res: dict[str, Any]) -> str:
    lines = ["| system | protocol | method | rank-1 | rank-5 | TPIR@FPIR=1e-2 (threshold) | TPIR@FPIR=1e-3 (threshold) |",
             "|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        pts = {p["fpir_target"]: p for p in r["points"]}
        lines.append(f"| {r['system']} | {r['protocol']} | {r['method']} | {pct(r['rank']['1'])} | {pct(r['rank'].get('5'))} "
                     f"| {pct(pts[1e-2]['tpir'])} ({pts[1e-2]['threshold']:.3f}) | {pct(pts[1e-3]['tpir'])} ({pts[1e-3]['threshold']:.3f}) |")
    lines += ["", "Fixed thresholds (not chosen on LFW): what they give on LFW, and what the CelebA impostor model predicted",
              "", "| system | protocol | method | threshold | value | FPIR on LFW | FPIR predicted | FAR on LFW (1:1) | FAR predicted | TPIR on LFW |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        for k, v in r.get("fixed", {}).items():
            lines.append(f"| {r['system']} | {r['protocol']} | {r['method']} | {k} | {v['threshold']:.4f} | {pct(v['fpir'])} "
                         f"| {pct(v.get('predicted_fpir'))} | {pct4(v.get('far'))} | {pct4(v.get('predicted_far'))} | {pct(v['tpir'])} |")
    return "\n".join(lines)


def pct4(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.4f}%"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("all", "calibrate", "develop", "lfw"))
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/identify"))
    ap.add_argument("--write", help="calibrate: folder to write the shipped impostor models into")
    ap.add_argument("--check", action="store_true", help="calibrate: exit 1 unless the shipped models are reproduced")
    ap.add_argument("--dlib", action="store_true", help="lfw: add face_recognition (dlib) rows (~23 min the first time)")
    ap.add_argument("--splits-model", type=int, default=6)
    ap.add_argument("--splits-score", type=int, default=20)
    ap.add_argument("--splits-svm", type=int, default=6)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rc = 0
    if args.command in ("calibrate", "all"):
        args.check = args.check or args.command == "all"
        rep = calibrate(args)
        print(json.dumps(rep, indent=2))
        rc = int(any(v.get("check") == "MISMATCH" for v in rep.values()))
    if args.command in ("develop", "all"):
        dev = develop(args)
        (args.out / "develop.json").write_text(json.dumps(dev, indent=2) + "\n")
        print(json.dumps({k: dev[k] for k in ("data", "chosen", "model_heldout", "threshold_stability_n1680")}, indent=2))
        print(f"wrote {args.out / 'develop.json'}")
    if args.command in ("lfw", "all"):
        res = lfw(args)
        (args.out / "identify_lfw.json").write_text(json.dumps(res, indent=2) + "\n")
        print(markdown(res))
        print(f"protocol: {json.dumps(res['protocol'])}; chosen on CelebA: {json.dumps(res['chosen_on_celeba'])}")
        print("closest non-mated probes (sface): " + "; ".join(f"{c['probe']} -> {c['matched']} {c['distance']:.3f}" for c in res["closest_nonmated"][:9]))
        print(f"LFW View 2 verification, float32 vs int8 (both sides): {json.dumps(res['verification_int8'])}")
        print(f"wrote {args.out / 'identify_lfw.json'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
