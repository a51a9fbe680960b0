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
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from facenet.data.files import iter_images
from facenet.gallery.identifiers import KNNIdentifier, SVMIdentifier
from facenet.gallery.impostor import ImpostorModel, fit_impostor_model, identification_threshold
from facenet.gallery.openset import FPIR_TARGETS, fpir_at, margin_scores, open_set_report, tpir_at

LFW_IN_CELEBA = ("07398", "07448", "07218", "07355", "07261")
CELEBA_MIXED = ("07312",)
CELEBA_SAME = {"07393": "07392"}
LFW_GALLERY = 1680
VERIFICATION_THRESHOLD = 1.34  # SFace's, calibrated on LFW View 1
DLIB_TOLERANCE = 0.6  # face_recognition's default (Euclidean)
MARGIN_GRID = [(lam, c) for lam in (0.25, 0.5, 0.75, 1.0) for c in (1, 3, 5, 10)]
TAILS = {"empirical": 0.0, "1e-5": 1e-5, "1e-4": 1e-4, "1e-3": 1e-3}
SVM_GRID = [(c, None) for c in (0.1, 0.3, 1.0, 3.0, 10.0)]  # class_weight: every class has 2 photos, so "balanced" is the same
MAX_PROBES = 1024  # (loc, scale) pairs kept in a shipped model (its shape G uses every distance)


# ---------------------------------------------------------------- embeddings

def embed_folder(pipe: Any, root: Path, cache_dir: Path, name: str, chunk: int = 64) -> dict[str, np.ndarray]:
    """Every image under root/<identity>/: plain and mirrored embeddings, face_found, labels."""
    from tqdm import tqdm

    paths = list(iter_images(root))
    rel = [str(p.relative_to(root)) for p in paths]
    cfg = pipe.embedder.config
    det = getattr(pipe.detector, "name", type(pipe.detector).__name__)
    key = f"{det}_{cfg.name}_{(cfg.weights.sha256 if cfg.weights else '')[:12]}_{hashlib.sha256(chr(10).join(rel).encode()).hexdigest()[:16]}"
    cache = cache_dir / f"{name}_{key}.npz"
    if cache.exists():
        z = np.load(cache)
        return {k: z[k] for k in z.files}
    n, d = len(paths), cfg.embedding_size
    emb, mir, found = np.zeros((n, d), np.float32), np.zeros((n, d), np.float32), np.zeros(n, bool)
    t0 = time.perf_counter()
    for i in tqdm(range(0, n, chunk), desc=name, unit="chunk", leave=False):
        pc = pipe.cropper.crop_primary(paths[i : i + chunk])
        emb[i : i + len(pc)] = pipe.embedder.embed_faces(pc.crops)
        mir[i : i + len(pc)] = pipe.embedder.embed_faces(np.ascontiguousarray(pc.crops[:, :, ::-1]))
        found[i : i + len(pc)] = pc.face_found
    out = {"paths": np.array(rel), "labels": np.array([p.parent.name for p in paths]), "plain": emb, "mirror": mir,
           "face_found": found, "seconds": np.float64(time.perf_counter() - t0)}
    save_npz(cache, out)
    return out


def save_npz(path: Path, arrays: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def flip_tta(plain: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    v = plain / np.linalg.norm(plain, axis=1, keepdims=True) + mirror / np.linalg.norm(mirror, axis=1, keepdims=True)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def celeba_dev(data: Path, out: Path) -> dict[str, Any]:
    """CelebA-wild embeddings with the LFW identities and the set's own defects removed."""
    from facenet.pipeline import FacePipeline

    z = embed_folder(FacePipeline("yunet", "sface"), data / "celeba-wild", out, "celeba_wild")
    lab, paths = z["labels"].astype(str), z["paths"].astype(str)
    owners: dict[str, set[str]] = defaultdict(set)
    sha = [hashlib.sha256((data / "celeba-wild" / p).read_bytes()).hexdigest() for p in paths]
    for s, l in zip(sha, lab):
        owners[s].add(l)
    copied = np.array([len(owners[s]) > 1 for s in sha])
    keep = z["face_found"] & ~np.isin(lab, LFW_IN_CELEBA + CELEBA_MIXED) & ~copied
    lab = np.array([CELEBA_SAME.get(l, l) for l in lab])
    info = {"images": len(lab), "no_face": int((~z["face_found"]).sum()), "copied_across_identities": int(copied.sum()),
            "left_out_identities": list(LFW_IN_CELEBA + CELEBA_MIXED), "merged": CELEBA_SAME}
    lab, paths = lab[keep], paths[keep]
    info.update(kept_images=int(keep.sum()), identities=len(set(lab)))
    return {"labels": lab, "paths": paths, "plain": z["plain"][keep], "flip": flip_tta(z["plain"][keep], z["mirror"][keep]),
            "info": info}


def impostor_distances(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, N) squared L2 between every pair of photos, NaN for the same identity."""
    x = x.astype(np.float64)
    d = np.clip(2.0 - 2.0 * x @ x.T, 0.0, 4.0)
    d[labels[:, None] == labels[None, :]] = np.nan
    return d


# ---------------------------------------------------------------- protocols

def first_photos(labels: np.ndarray, paths: np.ndarray, idents: np.ndarray, k: int = 1) -> np.ndarray:
    """Indices of the first k photos (by file name) of each identity in idents."""
    order = np.lexsort((paths, labels))
    wanted = set(idents.tolist())
    seen: dict[str, int] = defaultdict(int)
    out = []
    for i in order:
        if labels[i] in wanted and seen[labels[i]] < k:
            seen[labels[i]] += 1
            out.append(i)
    return np.array(sorted(out), dtype=np.int64)


def split_protocol(labels: np.ndarray, paths: np.ndarray, enrolled: np.ndarray, n_enrol: int = 1,
                   nonmated: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gallery, mated, non-mated) indices: ``enrolled`` identities from their first n_enrol photos,
    their other photos mated; non-mated: every photo of ``nonmated`` identities (default: the rest)."""
    g = first_photos(labels, paths, enrolled, n_enrol)
    is_enr = np.isin(labels, enrolled)
    mated = np.setdiff1d(np.nonzero(is_enr)[0], g)
    non = np.nonzero(~is_enr if nonmated is None else np.isin(labels, nonmated))[0]
    return g, mated, non


def knn_top(x: np.ndarray, labels: np.ndarray, g: np.ndarray, probes: np.ndarray, n: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """Candidates (P, n) and their ascending subject distances (P, n) from a closed-set KNNIdentifier."""
    knn = KNNIdentifier().fit(x[g], labels[g])
    r = knn.identify(x[probes], n_candidates=min(n, knn.n_subjects_))
    return r.candidates, r.distances


def evaluate(cand_m: np.ndarray, dist_m: np.ndarray, truth: np.ndarray, dist_n: np.ndarray, score: tuple | None,
             thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    """Open-set report of one score: None = plain distance, (lambda, c) = the margin; plus the
    FPIR/TPIR at each given fixed threshold."""
    def s(d: np.ndarray) -> np.ndarray:
        return d[:, 0] if score is None else margin_scores(d, score[0], score[1])

    sm, sn = s(dist_m), s(dist_n)
    rep = open_set_report(cand_m, truth, sm, sn).to_dict()
    hit = cand_m[:, 0] == truth
    rep["fixed"] = {k: {"threshold": t, "fpir": fpir_at(sn, t), "tpir": tpir_at(sm, hit, t)} for k, t in (thresholds or {}).items()}
    return rep


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
    result["model_heldout"] = {"embedding": best["embedding"], "margin": [lam, cohort], **summarise_heldout(heldout)}
    err = {k.split(" mean")[0]: v for k, v in result["model_heldout"].items() if k.endswith("|")}
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


def score_name(score: tuple | None) -> str:
    return "distance" if score is None else f"margin lambda={score[0]:g} c={score[1]}"


def parse_score(key: str) -> dict[str, Any]:
    emb, rest = key.split(" ", 1)
    if rest == "distance":
        return {"embedding": emb, "margin": None}
    lam, c = rest.split()[1:]
    return {"embedding": emb, "margin": [float(lam.split("=")[1]), int(c.split("=")[1])]}


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
    dev = celeba_dev(args.data, args.out)
    made = {}
    for emb, name in (("plain", "sface"), ("flip", "sface+flip")):
        meta = {"data": "CelebA-wild development set (bench/identify_lfw.py: LFW identities and the set's defects left out)",
                "identities": dev["info"]["identities"], "images": dev["info"]["kept_images"], "detector": "yunet",
                "embedder": "sface", "flip": emb == "flip", "command": "bench/identify_lfw.py calibrate --write src/facenet/gallery"}
        m = fit_impostor_model(impostor_distances(dev[emb], dev["labels"]), name, max_probes=MAX_PROBES, meta=meta)
        made[name] = m
    report: dict[str, Any] = {}
    for name, m in made.items():
        fname = "sface_impostors.json" if name == "sface" else "sface_flip_impostors.json"
        report[name] = {"thresholds": {str(n): [round(m.threshold(n, f), 4) for f in FPIR_TARGETS] for n in (1, 10, 100, 1680, 10**4, 10**5, 10**6)},
                        "far_at_1.34": m.far(VERIFICATION_THRESHOLD)}
        if args.write:
            m.save(Path(args.write) / fname)
            report[name]["written"] = str(Path(args.write) / fname)
        if args.check:
            shipped = ImpostorModel.shipped(name)
            same = all(abs(shipped.threshold(n, f) - m.threshold(n, f)) < 5e-4 for n in (1, 100, 1680, 10**5) for f in FPIR_TARGETS)
            report[name]["check"] = "match" if same else "MISMATCH"
    return report


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
    if args.dlib:
        systems["dlib (face_recognition)"] = (dlib_embeddings(args, args.data / "lfw", paths), None, None, chosen["margin"]["plain"])
    names, counts = np.unique(lab, return_counts=True)
    multi, single, many = names[counts >= 2], names[counts == 1], names[counts >= 3]
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
            if score is None and verification:
                fixed["verification"] = verification
            r = evaluate(cand_m, dist_m, lab[mated], dist_n, score, fixed)
            if score is None:  # single-comparison FAR on LFW (every stranger x every enrolled face), and the model's predictions
                d_all = np.clip(2.0 - 2.0 * unit(x[non]) @ unit(x[g]).T, 0.0, 4.0)
                m = ImpostorModel.shipped(model_name) if model_name else None
                for v in r["fixed"].values():
                    v["far"] = float(np.mean(d_all < v["threshold"]))
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
    return out


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


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
        print(f"wrote {args.out / 'identify_lfw.json'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
