"""End-to-end images/s of the head models next to SFace's, and a check that the pipeline gives the
numbers the cached features give.

    .venv/bin/python bench/own_embedding/speed.py --data ../shared/data --out out/own_embedding [--n 256] [--threads 2] \
        [--models sface fused fused-casia]

The pipelines (YuNet + each model; no flip) embed the same first N distinct images of
LFW View 2 (pairs.txt) with ``FacePipeline.represent`` in chunks of 64 (decode, detection with its
retry pass, alignment, every network, the head), after one untimed warm-up image; the load
average of the machine is printed with the figures (the machine is shared). Each head model's
pipeline embeddings are compared with its head applied to the cached features of the same
images (bench/own_embedding/extract.py, extract_casia.py): the largest absolute difference is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import embed, lfw_rows  # noqa: E402

from facenet.data.lfw import read_pairs  # noqa: E402
from facenet.eval.benchmark import embed_paths  # noqa: E402
from facenet.models import model_config  # noqa: E402
from facenet.models.fused import load_head  # noqa: E402
from facenet.pipeline import FacePipeline  # noqa: E402
from facenet.weights import verified_path  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/own_embedding"))
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", nargs="+", default=["sface", "fused", "fused-casia"])
    args = ap.parse_args(argv)
    root = args.data / "lfw"
    paths = read_pairs(root / "pairs.txt", root).unique_paths()[: args.n]
    res = {"images": len(paths), "threads": args.threads, "load_before": os.getloadavg()}
    embs = {}
    for name in args.models:
        pipe = FacePipeline("yunet", name, threads=args.threads)
        pipe.represent([paths[0]])
        emb, found, sec = embed_paths(pipe, paths, progress=False)
        embs[name] = emb
        res[name] = {"images_per_second": len(paths) / sec, "seconds": sec, "no_face": int((~found).sum())}
    res["load_after"] = os.getloadavg()
    z = lfw_rows(args.out)
    rows = np.array([z["row"][str(Path(p).relative_to(root))] for p in paths])
    for name in args.models:
        if name == "sface":
            continue
        try:
            cached = embed(z, load_head(verified_path(model_config(name).weights)))[rows]
            res[name]["max_abs_diff_vs_cached_features"] = float(np.abs(cached - embs[name]).max())
        except (FileNotFoundError, KeyError, IndexError) as exc:
            res[name]["max_abs_diff_vs_cached_features"] = f"not compared: {exc!r}"
    (args.out / "speed.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
