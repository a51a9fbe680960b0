"""The head models' figures (``fused``; ``fused-casia`` once its head exists), from the cached
features (bench/own_embedding/extract.py, extract_casia.py) and the trained heads: the View 1
thresholds, then the ablation on View 1 (``--split view1``, while developing) or on LFW View 2 once
(``--split view2``, the default, after the heads are fixed).

    nice -n 19 env OMP_NUM_THREADS=2 .venv/bin/python bench/own_embedding/evaluate.py --data ../shared/data \
        --out out/own_embedding [--split view1|view2]   # make bench-own

Rows (View 2: pairs.txt, 10 folds, each fold's thresholds chosen on the other 9, by
facenet.eval.report.report_from_distances, the rule of ``facenet evaluate lfw``; View 1: the same
rule over 2 folds, pairsDevTrain and pairsDevTest), each with and without flip TTA where the
mirrored features are cached (flip: the two unit vectors summed and re-normalised, as the
pipeline's ``flip=True``):

* each network alone (SFace; dlib's ResNet on the fused model's crop; CASIA IR-v1 on its crop);
* the untrained combinations: z-normalised summed squared distances of 2 and 3 networks, the z
  parameters (mean and standard deviation of each network's distances over all CelebA-wild
  training pairs, plain crops, also used for the flip rows) fixed on CelebA-wild, never on LFW;
* each trained head model; mixed pairs (one side SFace, the other the head model, both ways);
* int8 storage (facenet.gallery.quantize encode/decode) of each head model, one side and both;
* pose and light: accuracy at the View 1 thresholds on the pairs whose harder photo is in the top
  decile of the yaw proxy or of side lighting (extract.py's measures), against the other pairs.

Thresholds: each head model's, best accuracy on LFW View 1 (pairsDevTrain + pairsDevTest) with
facenet.eval.calibrate.ThresholdCalibrator, the rule of ``facenet calibrate`` (plain and flip);
the mixed-pair one with SFace, both ways round, by facenet.gallery.harmonic.fit_mixed_threshold
(what ``compatible_with`` declares; mixed_threshold.py re-derives fused's).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import celeba_train, embed, flip_sum, lfw_rows, pairs, sqd  # noqa: E402

from facenet.eval.calibrate import ThresholdCalibrator  # noqa: E402
from facenet.eval.report import report_from_distances  # noqa: E402
from facenet.gallery.harmonic import fit_mixed_threshold  # noqa: E402
from facenet.gallery.quantize import decode, encode  # noqa: E402
from facenet.models.fused import load_head  # noqa: E402
from train import PACKAGE_HEAD  # noqa: E402


def int8(x: np.ndarray) -> np.ndarray:
    return decode(encode(x, "int8"), x.shape[1], "int8")


NETWORKS = ("sface", "dlib", "casia")
NAMES = {"sface": "SFace", "dlib": "dlib", "casia": "CASIA"}


def z_params(z: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """Mean and std of each network's squared distances over all pairs of the training photos."""
    out = {}
    for k in NETWORKS:
        if k in z:
            v = z[k].astype(np.float64)
            d = np.clip(2 - 2 * v @ v.T, 0, 4)[np.triu_indices(len(v), 1)]
            out[k] = (float(d.mean()), float(d.std()))
    return out


def row(name: str, d: np.ndarray, p: dict[str, Any], n_images: int, no_face: int) -> dict[str, Any]:
    r = report_from_distances(d, p["same"], p["folds"], far_target=1e-3, n_images=n_images, no_face=no_face).to_dict()
    keep = ("accuracy_mean", "accuracy_std", "val_mean", "far_actual", "auc", "eer", "threshold_mean")
    return {"row": name, **{k: r[k] for k in keep}, "n_pairs": int(len(d))}


def sface_threshold() -> float:
    from facenet.models import model_config

    return float(model_config("sface").threshold)


def conditions(z: dict[str, Any], p: dict[str, Any], systems: dict[str, tuple[np.ndarray, float]]) -> dict[str, Any]:
    """Accuracy at each system's View 1 threshold on the View 2 pairs whose harder image is in the
    top decile of turned heads (yaw proxy) or of side lighting, and on the rest."""
    out: dict[str, Any] = {}
    for cond in ("yaw", "side_lighting"):
        v = np.nan_to_num(z[cond].astype(np.float64), nan=np.inf)
        worst = np.maximum(v[p["a"]], v[p["b"]])
        cut = float(np.quantile(worst[np.isfinite(worst)], 0.9))
        for part, m in (("top 10%", worst >= cut), ("other 90%", worst < cut)):
            out[f"{cond} {part}"] = {"cut": cut, "pairs": int(m.sum()),
                                     **{k: float(((d[m] < t) == p["same"][m]).mean()) for k, (d, t) in systems.items()}}
    return out


def split_pairs(data: Path, z: dict[str, Any], split: str) -> dict[str, Any] | None:
    """View 2's pairs with their 10 folds, or View 1's (pairsDevTrain fold 0, pairsDevTest fold 1)."""
    if split == "view2":
        return pairs(data, z, "view2")
    v1 = [pairs(data, z, w) for w in ("view1train", "view1test")]
    if any(p is None for p in v1):
        return None
    out = {k: np.concatenate([p[k] for p in v1]) for k in ("a", "b", "same")}
    out["folds"] = np.concatenate([np.full(len(p["same"]), i) for i, p in enumerate(v1)])
    out["images"] = np.unique(np.concatenate([out["a"], out["b"]]))
    return out


def vectors(z: dict[str, Any], heads: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Every system's unit vectors per row: networks and heads, plain and (where cached) + flip."""
    v: dict[str, np.ndarray] = {}
    for k in NETWORKS:
        if k in z:
            v[k] = z[k]
            if k + "_mirror" in z:
                v[k + "+flip"] = flip_sum(z[k], z[k + "_mirror"])
    for name, head in heads.items():
        v[name] = embed(z, head)
        try:
            v[name + "+flip"] = flip_sum(v[name], embed(z, head, mirror=True))
        except KeyError:
            pass
    return v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/own_embedding"))
    ap.add_argument("--split", choices=("view1", "view2"), default="view2")
    ap.add_argument("--head", action="append", default=[], metavar="MODEL=PATH",
                    help="a head to score instead of the package's (fused=..., fused-casia=...)")
    args = ap.parse_args(argv)
    paths = {m: p for m, p in PACKAGE_HEAD.items() if p.exists()}
    paths.update({kv.split("=", 1)[0]: Path(kv.split("=", 1)[1]) for kv in args.head})
    z = lfw_rows(args.out)
    heads = {}
    for m, p in paths.items():
        h = load_head(p)
        try:
            embed(z, h)
        except KeyError:
            print(f"{m}: its features are not all cached; left out", file=sys.stderr)
            continue
        heads[m] = h
    v1, ev = split_pairs(args.data, z, "view1"), split_pairs(args.data, z, args.split)
    if v1 is None or ev is None:
        raise SystemExit("LFW features are not all cached yet: run bench/own_embedding/extract.py")
    tr = celeba_train(args.data, args.out)
    zp = z_params(tr["z"])
    vec = vectors(z, heads)
    sf = z["sface"]

    # View 1: the thresholds that ship (each head model, plain and flip; mixed pairs with SFace).
    a1, b1, s1 = v1["a"], v1["b"], v1["same"]
    view1: dict[str, Any] = {"pairs": int(len(s1))}
    for m in heads:
        for k in (m, m + "+flip"):
            if k in vec:
                cal = ThresholdCalibrator(target="accuracy").fit(sqd(vec[k][a1], vec[k][b1]), s1)
                view1[k] = {"threshold": cal.threshold_, "accuracy": cal.accuracy_}
        cal = ThresholdCalibrator(target="accuracy").fit(sqd(vec[m][a1], sf[b1]), s1)
        view1[m + " mixed"] = {"threshold": cal.threshold_, "accuracy": cal.accuracy_}
        both = fit_mixed_threshold(vec[m], sf, a1, b1, s1)  # the model's compatible_with declaration
        view1[m + " mixed both ways"] = {"threshold": float(both.threshold_), "accuracy": float(both.accuracy_)}

    a, b = ev["a"], ev["b"]
    imgs = ev["images"]
    nf = int((~z["face_found"][imgs]).sum())
    row_ = lambda name, d: row(name, d, ev, len(imgs), nf)  # noqa: E731
    rows = []
    for flip in ("", "+flip"):
        nets = [k for k in NETWORKS if k + flip in vec]
        for k in nets:
            rows.append(row_(f"{NAMES[k]} alone{flip}", sqd(vec[k + flip][a], vec[k + flip][b])))
        zd = {k: (sqd(vec[k + flip][a], vec[k + flip][b]) - zp[k][0]) / zp[k][1] for k in nets}
        for combo in (("sface", "dlib"), ("sface", "casia"), ("sface", "dlib", "casia")):
            if all(k in zd for k in combo):
                rows.append(row_(f"untrained z-sum {' + '.join(NAMES[k] for k in combo)}{flip}",
                                 sum(zd[k] for k in combo)))
        for m in heads:
            if m + flip in vec:
                rows.append(row_(f"{m} (trained head){flip}", sqd(vec[m + flip][a], vec[m + flip][b])))
    fixed: dict[str, float] = {}
    for m in heads:
        new, q = vec[m], int8(vec[m])
        rows += [row_(f"mixed: {m} query vs SFace gallery (A {m}, B SFace)", sqd(new[a], sf[b])),
                 row_(f"mixed: SFace query vs {m} gallery (A SFace, B {m})", sqd(sf[a], new[b])),
                 row_(f"{m}, int8 gallery side (B int8)", sqd(new[a], q[b])),
                 row_(f"{m}, both sides int8", sqd(q[a], q[b]))]
        for k in (m, m + "+flip"):
            if k in view1:
                fixed[k] = float(((sqd(vec[k][a], vec[k][b]) < view1[k]["threshold"]) == ev["same"]).mean())
        fixed[m + " mixed (A new, B SFace)"] = float(
            ((sqd(new[a], sf[b]) < view1[m + " mixed"]["threshold"]) == ev["same"]).mean())
    systems = {"SFace": (sqd(sf[a], sf[b]), sface_threshold())}
    for m in heads:
        systems[m] = (sqd(vec[m][a], vec[m][b]), view1[m]["threshold"])
        systems[f"mixed (A {m}, B SFace)"] = (sqd(vec[m][a], sf[b]), view1[m + " mixed"]["threshold"])
    res_cond = conditions(z, ev, systems) if args.split == "view2" else {}
    res = {"split": args.split, "heads": {m: str(p) for m, p in paths.items() if m in heads}, "view1": view1,
           "conditions": res_cond, "rows": rows, "at_view1_thresholds": fixed, "z_params_celeba": zp,
           "images": int(len(imgs)), "no_face": nf, "train_set": tr["info"],
           "lfw_extract_seconds": {k: v for k, v in z.items() if k.startswith("seconds")},
           "lfw_extract_images": int(len(z["paths"]))}
    (args.out / f"evaluate_{args.split}.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(view1))
    print(f"{args.split}: {len(ev['same'])} pairs, {len(np.unique(ev['folds']))} folds")
    print("| row | accuracy | VAL@FAR=1e-3 | AUC | EER |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['row']} | {100 * r['accuracy_mean']:.2f} ± {100 * r['accuracy_std']:.2f}% | {100 * r['val_mean']:.1f}% "
              f"| {r['auc']:.5f} | {100 * r['eer']:.2f}% |")
    print(json.dumps(fixed), f"no face: {nf}/{len(imgs)}")
    for k, v in res_cond.items():
        print(k, json.dumps(v))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
