"""Open-set identification on all of LFW with the `fused` embedder (issue 9's protocol, see
bench/identify_lfw.py): 1,680 people enrolled from their first photo, 7,484 mated probes, 4,069
never-enrolled strangers; TPIR at FPIR 1e-2 and 1e-3 at the threshold the strangers give.

    .venv/bin/python bench/own_embedding/identify_lfw.py --data ../shared/data --out out/identify

Plain embeddings (~18 min for 13,233 photos on 2 cores), cached in OUT by
bench/identify_common.py's ``embed_folder``; ``--flip``: flip TTA, from the plain + mirror cache
(bench/cluster_embed.py makes it from cached features and the pipeline), and the flip gallery's
automatic threshold (SFace+flip's impostor model, rescaled); writes identify_lfw_fused_flip.json.
The margin score uses SFace's CelebA-wild choice (0.75, 10 people),
not one chosen for fused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import automatic_for, open_set  # noqa: E402

import identify_common as C  # noqa: E402  (bench/ on the path first)


def automatic(data: Path, out: Path, x: np.ndarray, lab: np.ndarray, ev: dict, flip: bool = False) -> dict[str, dict[str, float]]:
    """What the gallery's automatic threshold (plain distance, FPIR targets 1e-2 and 1e-3, adapted to
    the 1,680 enrolled faces) gives on LFW with the impostor model a fused gallery uses (SFace's,
    rescaled), and, for the record, with one fitted on fused's own CelebA-wild embeddings (not
    shipped: impostor_check.py found it no better calibrated on held-out people)."""
    from facenet.gallery.impostor import fit_impostor_model

    dev = C.celeba_dev(data, out, "fused")
    emb = "flip" if flip else "plain"
    own = fit_impostor_model(C.impostor_distances(dev[emb], dev["labels"]), "fused", max_probes=C.MAX_PROBES)
    return {**automatic_for("fused", x, lab, ev, flip=flip),
            **automatic_for("fused", x, lab, ev, (own, "fused's own (CelebA-wild; not shipped)"), flip=flip)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/identify"))
    ap.add_argument("--flip", action="store_true", help="flip TTA (the plain + mirror cache)")
    args = ap.parse_args(argv)
    from facenet.pipeline import FacePipeline

    z = C.embed_folder(FacePipeline("yunet", "fused"), args.data / "lfw", args.out, "lfw", mirror=args.flip)
    lab, paths = z["labels"].astype(str), z["paths"].astype(str)
    x = C.flip_tta(z["plain"], z["mirror"]) if args.flip else z["plain"]
    ev = open_set(x, lab, paths)
    res = {"images": len(x), "flip": args.flip, "no_face": int((~z["face_found"]).sum()), "embed_seconds": float(z["seconds"]),
           "rows": ev["rows"], "automatic_threshold": automatic(args.data, args.out, x, lab, ev, args.flip)}
    (args.out / f"identify_lfw_fused{'_flip' if args.flip else ''}.json").write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
