"""Open-set identification on all of LFW with the `fused` embedder (issue 9's protocol, see
bench/identify_lfw.py): 1,680 people enrolled from their first photo, 7,484 mated probes, 4,069
never-enrolled strangers; TPIR at FPIR 1e-2 and 1e-3 at the threshold the strangers give.

    .venv/bin/python bench/own_embedding/identify_lfw.py --data ../shared/data --out out/identify

Plain embeddings only (no mirror: ~18 min for 13,233 photos on 2 cores), cached in OUT by
bench/identify_common.py's ``embed_folder``. The margin score uses SFace's CelebA-wild choice (0.75, 10 people),
not one chosen for fused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import identify_common as C  # noqa: E402  (bench/ on the path first)


def automatic(data: Path, out: Path, x: np.ndarray, lab: np.ndarray, g: np.ndarray, mated_d: np.ndarray,
              non_d: np.ndarray, hit: np.ndarray) -> dict[str, dict[str, float]]:
    """What the gallery's automatic threshold (plain distance, FPIR targets 1e-2 and 1e-3, adapted to
    the 1,680 enrolled faces) gives on LFW with the impostor model a fused gallery uses (SFace's,
    rescaled: ``borrowed``), and, for the record, with one fitted on fused's own CelebA-wild
    embeddings (not shipped: impostor_check.py found it no better calibrated on held-out people)."""
    from facenet.gallery.auto_threshold import borrowed
    from facenet.gallery.impostor import adapt_impostor_model, fit_impostor_model, identification_threshold
    from facenet.gallery.store import ModelIdentity
    from facenet.models.registry import model_config

    dev = C.celeba_dev(data, out, "fused")
    ident = ModelIdentity("fused", model_config("fused").weights.sha256, 128, False)
    bases = {"shipped: SFace's, rescaled": borrowed(ident)[0],
             "fused's own (CelebA-wild; not shipped)": fit_impostor_model(
                 C.impostor_distances(dev["plain"], dev["labels"]), "fused", max_probes=C.MAX_PROBES)}
    res: dict[str, dict[str, float]] = {}
    for name, base in bases.items():
        m = adapt_impostor_model(base, x[g], lab[g])
        for f in (1e-2, 1e-3):
            t = identification_threshold(len(g), f, m, scoring="distance")
            res[f"{name} @ {f:g}"] = {"threshold": round(t, 4), "fpir": float(np.mean(non_d < t)),
                                      "tpir": float(np.mean(hit & (mated_d < t)))}
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/identify"))
    args = ap.parse_args(argv)
    from facenet.pipeline import FacePipeline

    z = C.embed_folder(FacePipeline("yunet", "fused"), args.data / "lfw", args.out, "lfw", mirror=False)
    lab, paths, x = z["labels"].astype(str), z["paths"].astype(str), z["plain"]
    names, counts = np.unique(lab, return_counts=True)
    g, mated, non = C.split_protocol(lab, paths, names[counts >= 2], 1, names[counts == 1])
    cm, dm = C.knn_top(x, lab, g, mated)
    _, dn = C.knn_top(x, lab, g, non)
    rows = []
    for score in (None, (0.75, 10)):
        r = C.evaluate(cm, dm, lab[mated], dn, score)
        rows.append({"method": f"k-NN {C.score_name(score)}", "rank1": r["rank"]["1"],
                     "points": [{"fpir": p["fpir_target"], "tpir": p["tpir"]} for p in r["points"]]})
    res = {"images": len(x), "no_face": int((~z["face_found"]).sum()), "embed_seconds": float(z["seconds"]), "rows": rows,
           "automatic_threshold": automatic(args.data, args.out, x, lab, g, dm[:, 0], dn[:, 0], cm[:, 0] == lab[mated])}
    (args.out / "identify_lfw_fused.json").write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
