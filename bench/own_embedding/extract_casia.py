"""The extra features of ``fused-casia`` (and flip TTA for ``fused``), cached beside extract.py's.

    nice -n 10 env OMP_NUM_THREADS=2 .venv/bin/python bench/own_embedding/extract_casia.py --data ../shared/data \
        --out out/own_embedding --stage casia casia_mirror mirror      # make train-own-casia runs it

Every image's face is cut as the pipeline cuts it for ``fused`` and ``fused-casia``: the 112x112
ArcFace crop (``align_faces``) of the face whose landmarks extract.py cached for LFW (the same
YuNet detection, retry pass and "central" policy; re-detected for CelebA-wild, whose cache has no
landmarks; the centre-crop fallback where no face was found). From the crop (or its mirror image),
``FusedCasiaEmbedder.features`` computes the networks' vectors, so the cached numbers are what the
shipped embedder computes. Stages, each its own file ``OUT/features_<set>_<stage>.npz`` (with
``paths``, in the order of ``features_<set>.npz``; the older caches stay as they are):

* ``casia``: CASIA's 512-D vector of the crop (plus, for CelebA-wild, landmarks and face_found);
* ``casia_mirror``: the same of the mirrored crop;
* ``mirror``: SFace's and dlib's vectors of the mirrored crop (flip TTA of ``fused``).

``--set celeba_extra`` caches the next ``--per-identity`` photos of each CelebA-wild identity
(all three networks, plain) for training on more photos.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from extract import celeba_paths  # noqa: E402

from facenet.align.crop import align_faces, fallback_crop  # noqa: E402
from facenet.data.images import load_image  # noqa: E402

STAGES = ("casia", "casia_mirror", "mirror")
SETS = ("view1test", "celeba", "view1train", "view2", "celeba_extra")


def face_crops(root: Path, paths: list[str], landmarks: np.ndarray, found: np.ndarray) -> np.ndarray:
    """(N, 112, 112, 3) uint8 crops of cached detections (the fallback where none was found)."""
    size = (112, 112)
    out = np.zeros((len(paths), 112, 112, 3), np.uint8)
    for i, (p, lm, f) in enumerate(zip(paths, landmarks, found)):
        img = load_image(root / p)
        out[i] = align_faces(img, lm[None], size)[0] if f else fallback_crop(img, size)
    return out


def detect(root: Path, paths: list[str], chunk: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(N, 5, 2) landmarks and (N,) face_found from the pipeline's own face finding."""
    from facenet.align.cropper import FaceCropper
    from facenet.models.fused_casia import FUSED_CASIA

    cropper = FaceCropper.for_model(FUSED_CASIA, "yunet")
    lms = np.full((len(paths), 5, 2), np.nan, np.float32)
    found = np.zeros(len(paths), bool)
    for i in range(0, len(paths), chunk):
        imgs = [cropper.load(root / p) for p in paths[i : i + chunk]]
        for j, (img, det) in enumerate(zip(imgs, cropper.detect_many(imgs))):
            k = cropper.primary_index(img, det)
            if k >= 0:
                lms[i + j], found[i + j] = det.landmarks[k], True
    return lms, found


def run_stage(emb, root: Path, base: dict[str, np.ndarray], keys: tuple[str, ...], mirror: bool,
              chunk: int = 64) -> dict[str, np.ndarray]:
    """The ``keys`` networks' vectors of every image's crop (``mirror``: of its mirror image)."""
    from tqdm import tqdm

    paths = base["paths"].astype(str)
    n = len(paths)
    suffix = "_mirror" if mirror else ""
    width = {"casia": 512, "sface": 128, "dlib": 128}
    res: dict[str, np.ndarray] = {k + suffix: np.zeros((n, width[k]), np.float32) for k in keys}
    t0 = time.perf_counter()
    for i in tqdm(range(0, n, chunk), desc="+".join(keys) + suffix, unit="chunk", file=sys.stderr, mininterval=60):
        c = face_crops(root, paths[i : i + chunk], base["landmarks"][i : i + chunk], base["face_found"][i : i + chunk])
        if mirror:
            c = np.ascontiguousarray(c[:, :, ::-1])
        f = emb.features(c, networks=keys)
        for k in keys:
            res[k + suffix][i : i + len(c)] = f[k]
    res["seconds"] = np.float64(time.perf_counter() - t0)
    return res


def base_of(args: argparse.Namespace, s: str, root: Path) -> dict[str, np.ndarray]:
    """paths, landmarks, face_found (and labels) of a set: extract.py's cache, re-detected where it
    has no landmarks (CelebA-wild; the detections are kept with the set's casia stage)."""
    if s == "celeba_extra":
        first = {str(p.relative_to(root)) for p in celeba_paths(root, 8)}
        more = [str(p.relative_to(root)) for p in celeba_paths(root, 8 + args.per_identity)]
        paths = np.array([p for p in more if p not in first])
        base = {"paths": paths, "labels": np.array([Path(p).parent.name for p in paths])}
    else:
        base = dict(np.load(args.out / f"features_{s}.npz"))
    if "landmarks" in base:
        return base
    lm_file = args.out / f"features_{s}_casia.npz"
    if lm_file.exists():
        z = np.load(lm_file)
        base["landmarks"], base["face_found"] = z["landmarks"], z["face_found"]
        return base
    lm, found = detect(root, list(base["paths"].astype(str)))
    if "face_found" in base and not np.array_equal(found, base["face_found"]):
        print(f"{s}: face_found differs from extract.py's in {(found != base['face_found']).sum()} images", file=sys.stderr)
    base["landmarks"], base["face_found"], base["detected_here"] = lm, found, True
    return base


def main(argv: list[str] | None = None) -> int:
    from facenet.models.fused_casia import FUSED_CASIA, FusedCasiaEmbedder

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("out/own_embedding"))
    ap.add_argument("--set", nargs="+", choices=SETS, default=list(SETS[:4]))
    ap.add_argument("--stage", nargs="+", choices=STAGES, default=list(STAGES))
    ap.add_argument("--per-identity", type=int, default=8, help="celeba_extra: photos 9..8+N of each identity")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    emb = FusedCasiaEmbedder(FUSED_CASIA, None, threads=args.threads)
    for stage in args.stage:
        for s in args.set:
            out = args.out / f"features_{s}_{stage}.npz"
            if s == "celeba_extra" and stage != "casia":
                continue  # the extra training photos: all three networks, plain, in one file
            if out.exists():
                print(f"{out}: cached", file=sys.stderr)
                continue
            root = args.data / ("celeba-wild" if s.startswith("celeba") else "lfw")
            base = base_of(args, s, root)
            keys = ("sface", "dlib", "casia") if s == "celeba_extra" else \
                ("casia",) if stage.startswith("casia") else ("sface", "dlib")
            res = run_stage(emb, root, base, keys, mirror=stage.endswith("mirror"))
            res["paths"] = base["paths"]
            if base.get("detected_here") is not None:
                res.update(landmarks=base["landmarks"], face_found=base["face_found"])
            if "labels" in base:
                res["labels"] = base["labels"]
            tmp = out.with_name(out.name + ".tmp.npz")
            np.savez(tmp, **res)
            tmp.replace(out)
            print(f"{out}: {len(res['paths'])} images, {float(res['seconds']):.0f} s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
