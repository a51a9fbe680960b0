"""Calibrate a model's verification threshold on LFW View 1 (never on View 2), and check the
shipped one.

    .venv/bin/python bench/calibrate.py --data ../shared/data [--detector yunet] [--embedder sface] [--flip] [--check]

A thin wrapper over :func:`facenet.eval.calibrate.calibrate` (the same as ``facenet calibrate
--json``): embeds every image of pairsDevTrain.txt + pairsDevTest.txt (3,200 pairs), picks the
squared-L2 threshold with the best accuracy on all of them and prints it as JSON, with the held-out
check (each half at the threshold chosen on the other half).

``--check`` also compares the threshold with the one the model ships
(``facenet.models.model_config(NAME).threshold``, or ``threshold_flip`` with ``--flip``) and exits
1 when they differ after rounding both to 4 decimals: the shipped threshold is a reproducible
output of this script.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from facenet.eval.calibrate import VIEW1_NAMES, ThresholdCalibrator, calibrate, view1_pairs
from facenet.models import model_config
from facenet.pipeline import FacePipeline


def check(computed: float, embedder: str, flip: bool) -> tuple[bool, str]:
    """(matches, message): the computed threshold against the shipped one, both rounded to 4 decimals."""
    cfg = model_config(embedder)
    field = "threshold_flip" if flip else "threshold"
    shipped = getattr(cfg, field)
    if shipped is None:
        return False, f"{embedder} ships no {field}; computed {computed:.4f}"
    ok = round(computed, 4) == round(float(shipped), 4)
    return ok, f"{embedder} {field}: shipped {float(shipped):.4f}, computed {computed:.4f} ({'match' if ok else 'MISMATCH'})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data", help="folder holding lfw/")
    ap.add_argument("--detector", default="yunet")
    ap.add_argument("--embedder", default="sface")
    ap.add_argument("--flip", action="store_true")
    ap.add_argument("--check", action="store_true", help="exit 1 unless the shipped threshold is reproduced")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    pipe = FacePipeline(detector=args.detector, embedder=args.embedder, flip=args.flip)
    res = calibrate(pipe, view1_pairs(Path(args.data) / "lfw"), ThresholdCalibrator(),
                    progress=not args.no_progress, source="LFW View 1", fold_names=VIEW1_NAMES)
    out = res.to_dict()
    rc = 0
    if args.check:
        ok, msg = check(res.threshold, args.embedder, args.flip)
        out["check"] = msg
        print(msg, file=sys.stderr)
        rc = 0 if ok else 1
    json.dump(out, sys.stdout, indent=2)
    print()
    return rc


if __name__ == "__main__":
    sys.exit(main())
