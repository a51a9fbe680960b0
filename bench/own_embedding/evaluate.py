"""The fused model's figures, from the cached features (bench/own_embedding/extract.py) and the
trained head: the View 1 threshold, then LFW View 2 once (ablation, mixed pairs, int8).

    nice -n 19 env OMP_NUM_THREADS=2 .venv/bin/python bench/own_embedding/evaluate.py --data ../shared/data \
        --out out/own_embedding [--head src/facenet/models/weights/fused_head.npz]   # make bench-own

Rows (LFW View 2, pairs.txt, 10 folds, each fold's thresholds chosen on the other 9, by
facenet.eval.report.report_from_distances, the rule of ``facenet evaluate lfw``):

* each network alone (SFace; dlib's ResNet on the fused model's own crop);
* the untrained combination: z-normalised summed squared distances, the z parameters (mean and
  standard deviation of each network's distances over all CelebA-wild training pairs) fixed on
  CelebA-wild, never on LFW;
* the trained fused model; mixed pairs (one side SFace, the other the fused model, both ways);
* int8 storage (facenet.gallery.quantize encode/decode) of the fused model, one side and both;
* with flip TTA where mirrored features were cached (``extract.py --mirror``);
* pose and light: accuracy at the View 1 thresholds on the pairs whose harder photo is in the top
  decile of the yaw proxy or of side lighting (extract.py's measures), against the other pairs.

Thresholds: the fused model's, best accuracy on LFW View 1 (pairsDevTrain + pairsDevTest) with
facenet.eval.calibrate.ThresholdCalibrator, the rule of ``facenet calibrate``.
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
from facenet.gallery.quantize import decode, encode  # noqa: E402
from facenet.models.fused import load_head  # noqa: E402


def int8(x: np.ndarray) -> np.ndarray:
    return decode(encode(x, "int8"), x.shape[1], "int8")


def z_params(x: np.ndarray) -> dict[str, tuple[float, float]]:
    """Mean and std of each branch's squared distances over all pairs of the training photos."""
    out = {}
    for k, sl in (("sface", slice(0, 128)), ("dlib", slice(128, 256))):
        v = x[:, sl].astype(np.float64)
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/own_embedding"))
    ap.add_argument("--head", type=Path, default=Path("src/facenet/models/weights/fused_head.npz"))
    args = ap.parse_args(argv)
    head = load_head(args.head)
    z = lfw_rows(args.out)
    v1 = [pairs(args.data, z, w) for w in ("view1train", "view1test")]
    v2 = pairs(args.data, z, "view2")
    if v2 is None or any(p is None for p in v1):
        raise SystemExit("LFW features are not all cached yet: run bench/own_embedding/extract.py")
    tr = celeba_train(args.data, args.out)
    zp = z_params(tr["x"])
    new, sf, dl = embed(z, head), z["sface"], z["dlib"]

    # View 1: the thresholds that ship (fused alone; mixed pairs use the same threshold).
    a1, b1 = np.concatenate([p["a"] for p in v1]), np.concatenate([p["b"] for p in v1])
    s1 = np.concatenate([p["same"] for p in v1])
    cal = ThresholdCalibrator(target="accuracy").fit(sqd(new[a1], new[b1]), s1)
    cal_mixed = ThresholdCalibrator(target="accuracy").fit(sqd(new[a1], sf[b1]), s1)
    cal_far = ThresholdCalibrator(far=1e-3).fit(sqd(new[a1], new[b1]), s1)
    view1 = {"pairs": int(len(s1)), "threshold": cal.threshold_, "accuracy": cal.accuracy_,
             "threshold_mixed": cal_mixed.threshold_, "accuracy_mixed": cal_mixed.accuracy_,
             "threshold_far_1e-3": cal_far.threshold_, "tar_at_it": cal_far.tar_}

    a, b = v2["a"], v2["b"]
    imgs = v2["images"]
    nf = int((~z["face_found"][imgs]).sum())
    row_ = lambda name, d: row(name, d, v2, len(imgs), nf)  # noqa: E731
    zsum = ((sqd(sf[a], sf[b]) - zp["sface"][0]) / zp["sface"][1]) + ((sqd(dl[a], dl[b]) - zp["dlib"][0]) / zp["dlib"][1])
    q = int8(new)
    rows = [row_("SFace alone", sqd(sf[a], sf[b])),
            row_("dlib ResNet alone (fused crop)", sqd(dl[a], dl[b])),
            row_("untrained combination (z-normalised summed distances, z on CelebA-wild)", zsum),
            row_("fused (trained head)", sqd(new[a], new[b])),
            row_("mixed: fused query vs SFace gallery (A fused, B SFace)", sqd(new[a], sf[b])),
            row_("mixed: SFace query vs fused gallery (A SFace, B fused)", sqd(sf[a], new[b])),
            row_("fused, int8 gallery side (B int8)", sqd(new[a], q[b])),
            row_("fused, both sides int8", sqd(q[a], q[b]))]
    if "sface_mirror" in z:
        nf_ = flip_sum(new, embed(z, head, mirror=True))
        sf_ = flip_sum(sf, z["sface_mirror"])
        rows += [row_("SFace + flip", sqd(sf_[a], sf_[b])), row_("fused + flip", sqd(nf_[a], nf_[b]))]
    # View 2 at the View 1 thresholds (no fold sees its own pairs)
    fixed = {"fused": float(((sqd(new[a], new[b]) < cal.threshold_) == v2["same"]).mean()),
             "mixed_A_fused_B_sface": float(((sqd(new[a], sf[b]) < cal_mixed.threshold_) == v2["same"]).mean())}
    res_cond = conditions(z, v2, {"SFace": (sqd(sf[a], sf[b]), sface_threshold()),
                                  "fused": (sqd(new[a], new[b]), cal.threshold_),
                                  "mixed (A fused, B SFace)": (sqd(new[a], sf[b]), cal_mixed.threshold_)})
    res = {"view1": view1, "conditions": res_cond, "view2_rows": rows, "view2_at_view1_thresholds": fixed, "z_params_celeba": zp,
           "view2_images": int(len(imgs)), "view2_no_face": nf, "train_set": tr["info"],
           "lfw_extract_seconds": z["seconds"], "lfw_extract_images": int(len(z["paths"]))}
    (args.out / "evaluate.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(view1))
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
