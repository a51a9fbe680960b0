"""Does ``fused`` need an impostor model of its own? Held-out check on CelebA-wild only (no LFW).

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python bench/own_embedding/impostor_check.py \
        --data ../shared/data --out out/identify

For each seeded split the CelebA-wild people are halved. Half A fits two impostor models the way
the shipped ones are made (``fit_impostor_model``, per-probe, tail 1e-4):
- fused's own, on fused embeddings;
- SFace's, on SFace embeddings of the same photos, rescaled onto fused by the ratio of the two
  verification thresholds. This is what a fused gallery borrowed before fused had its own.

Half B is the gallery world: half of B's people are enrolled from their first photo, and the
other half are strangers. Each model is adapted to the enrolled faces, as a gallery does, and
solved for FPIR 1e-2 and 1e-3 at the gallery's size. The observed FPIR is the share of stranger
photos whose nearest enrolled face is under that threshold.

Score: the mean |log10(observed / target)| per model (0 observed counts as a tenth of the target).
Writes ``OUT/impostor_check.json``; ``--flip`` does the same with flip TTA embeddings (SFace+flip's
model rescaled by the two flip thresholds: what a fused flip gallery borrows since session 4),
and adds what such a gallery did before: the verification threshold, whatever the size
(``OUT/impostor_check_flip.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facenet.gallery.impostor import adapt_impostor_model, fit_impostor_model  # noqa: E402
from facenet.models.registry import model_config  # noqa: E402
from identify_common import MAX_PROBES, celeba_dev, impostor_distances, split_protocol  # noqa: E402

TARGETS = (1e-2, 1e-3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/identify"))
    ap.add_argument("--splits", type=int, default=10)
    ap.add_argument("--flip", action="store_true", help="flip TTA embeddings and thresholds")
    args = ap.parse_args(argv)
    emb = "flip" if args.flip else "plain"
    ds, df = celeba_dev(args.data, args.out, "sface"), celeba_dev(args.data, args.out, "fused")
    if not np.array_equal(ds["paths"], df["paths"]):
        raise SystemExit("the SFace and fused CelebA-wild caches keep different photos")
    lab, paths = df["labels"], df["paths"]
    c = model_config("fused").verification_threshold(args.flip) / model_config("sface").verification_threshold(args.flip)
    idents = np.unique(lab)
    rng = np.random.default_rng(5)
    rows = []
    for split in range(args.splits):
        perm = rng.permutation(idents)
        a, b = perm[: len(perm) // 2], perm[len(perm) // 2 :]
        ia = np.nonzero(np.isin(lab, a))[0]
        models = {"own": fit_impostor_model(impostor_distances(df[emb][ia], lab[ia]), "fused", max_probes=MAX_PROBES),
                  "borrowed": fit_impostor_model(impostor_distances(ds[emb][ia], lab[ia]), "sface",
                                                 max_probes=MAX_PROBES).rescaled(c)}
        g, _, non = split_protocol(lab, paths, b[: len(b) // 2], nonmated=b[len(b) // 2 :])
        x = df[emb]
        nearest = np.clip(2.0 - 2.0 * x[non] @ x[g].T, 0.0, 4.0).min(1)
        if args.flip:  # the fallback a flip gallery had: the verification threshold at every size
            t = float(model_config("fused").verification_threshold(True))
            rows += [{"split": split, "model": "verification", "target": f, "n": len(g), "threshold": t,
                      "fpir": float(np.mean(nearest < t))} for f in TARGETS]
        for name, m in models.items():
            ad = adapt_impostor_model(m, x[g], lab[g])
            for f in TARGETS:
                t = ad.threshold(len(g), f)
                rows.append({"split": split, "model": name, "target": f, "n": len(g), "threshold": t,
                             "fpir": float(np.mean(nearest < t))})
    res: dict = {"splits": args.splits, "enrolled_per_split": rows[0]["n"], "strangers_photos": int(len(non)), "models": {}}
    for name in ("own", "borrowed") + (("verification",) if args.flip else ()):
        sel = [r for r in rows if r["model"] == name]
        err = [abs(np.log10(max(r["fpir"], r["target"] / 10) / r["target"])) for r in sel]
        res["models"][name] = {"mean |log10(observed/target)|": round(float(np.mean(err)), 4),
                               **{f"fpir@{f:g} (mean)": round(float(np.mean([r["fpir"] for r in sel if r["target"] == f])), 5)
                                  for f in TARGETS}}
    res["rows"] = rows
    (args.out / f"impostor_check{'_flip' if args.flip else ''}.json").write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps({k: v for k, v in res.items() if k != "rows"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
