"""Embedding caches of CelebA-wild and LFW for the accurate presets (``fused``, ``fused-casia``),
plain and mirror, as bench/cluster_lfw.py reads them (bench/identify_common.embed_folder's cache
names, so ``embed_folder(FacePipeline("yunet", model), ...)`` finds them).

    nice -n 5 env OMP_NUM_THREADS=1 .venv/bin/python bench/cluster_embed.py fused \
        --data ../shared/data --features out/own_embedding --out out/identify
    nice -n 5 env OMP_NUM_THREADS=1 .venv/bin/python bench/cluster_embed.py fused-casia ...

Nothing is embedded twice:
- photos whose network features are cached (bench/own_embedding/extract.py, extract_casia.py:
  LFW View 1 / View 2 with their ``_mirror`` files, CelebA-wild without mirror) get the shipped
  head applied to those features (``bench/own_embedding/common.embed``);
- the plain embeddings already cached by identify_lfw.py (``fused`` LFW) or identify_lfw_casia.py
  (``fused-casia`` LFW) are taken as they are;
- the rest (the mirror crops of photos without cached mirror features) goes through
  ``FacePipeline("yunet", "fused-casia")``'s cropper and the networks' ``features`` (the same
  crops and networks both heads use), kept per network in ``OUT/cluster_features_<set>_mirror.npz``
  so the second model computes only the network it adds.

Every cache is checked against the pipeline end to end (``embed_faces`` of the plain and mirrored
crops) on ``--sample`` photos taken from the cached features; CelebA-wild's ``fused`` mirror
embeddings (identify_lfw.py's full pipeline run) are compared with those rebuilt from the new
mirror features on all photos. The largest absolute differences are stored in the cache
(``check_*``) and printed.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "own_embedding"))

from common import MODEL_BRANCHES, embed, lfw_rows, load_set  # noqa: E402

import identify_common as C  # noqa: E402

SETS = {"lfw": "lfw", "celeba_wild": "celeba-wild"}
PLAIN_CACHES = {("fused", "lfw"): "lfw_yunet_fused_{sha}_{key}_plain.npz", ("fused-casia", "lfw"): "lfw_fused_casia_{sha}.npz"}


def folder(root: Path) -> tuple[list[Path], list[str], str]:
    """(paths, relative paths, embed_folder's path-list hash) of every image under root."""
    from facenet.data.files import iter_images

    paths = list(iter_images(root))
    rel = [str(p.relative_to(root)) for p in paths]
    return paths, rel, hashlib.sha256(chr(10).join(rel).encode()).hexdigest()[:16]


def head_of(model: str) -> tuple[dict[str, np.ndarray], str]:
    """(the shipped head, its sha256) of fused / fused-casia."""
    from facenet.models import fused, fused_casia
    from facenet.models.fused import load_head
    from facenet.weights import verified_path

    wf = fused.HEAD if model == "fused" else fused_casia.HEAD
    return load_head(verified_path(wf)), wf.sha256


def cached_features(features: Path, name: str) -> dict[str, Any]:
    """Cached network features of a set: path -> row and the stacked arrays."""
    if name == "lfw":
        return lfw_rows(features)
    z = load_set(features, "celeba")
    e = dict(np.load(features / "features_celeba_extra_casia.npz"))
    keys = [k for k in ("sface", "dlib", "casia", "paths", "labels", "face_found") if k in z and k in e]
    z = {k: np.concatenate([z[k], e[k]]) for k in keys}
    z["row"] = {p: i for i, p in enumerate(z["paths"].astype(str))}
    return z


def rest_features(pipe: Any, paths: list[Path], rel: list[str], networks: tuple[str, ...], store: Path) -> dict[str, Any]:
    """Mirror-crop features of ``paths`` for ``networks``, computed once and kept in ``store``
    (per network; another model's later call computes only what is missing)."""
    from tqdm import tqdm

    have: dict[str, Any] = dict(np.load(store)) if store.exists() else {"paths": np.array(rel)}
    if list(have["paths"].astype(str)) != rel:
        raise SystemExit(f"{store} holds other photos")
    todo = tuple(n for n in networks if n not in have)
    if todo:
        n = len(paths)
        out = {k: None for k in todo}
        found = np.zeros(n, bool)
        t0 = time.perf_counter()
        for s in tqdm(range(0, n, 32), desc=f"{store.stem} {'+'.join(todo)}", unit="chunk", mininterval=30):
            pc = pipe.cropper.crop_primary(paths[s : s + 32])
            f = pipe.embedder.features(np.ascontiguousarray(pc.crops[:, :, ::-1]), todo)
            for k in todo:
                if out[k] is None:
                    out[k] = np.zeros((n, f[k].shape[1]), np.float32)
                out[k][s : s + len(pc.crops)] = f[k]
            found[s : s + len(pc.crops)] = pc.face_found
        if "face_found" in have and not np.array_equal(have["face_found"], found):
            raise SystemExit(f"{store}: face_found differs between runs")
        have.update({f"{k}_mirror": v for k, v in out.items()}, face_found=found)
        have.update({k: True for k in todo})  # markers (saved as 0-d arrays)
        have[f"seconds_{'_'.join(todo)}"] = np.float64(time.perf_counter() - t0)
        C.save_npz(store, have)
    return have


def check(pipe: Any, paths: list[Path], idx: np.ndarray, plain: np.ndarray, mirror: np.ndarray) -> tuple[float, float]:
    """Largest |difference| of the pipeline's own embed_faces (plain, mirrored crops) on ``idx``."""
    pc = pipe.cropper.crop_primary([paths[i] for i in idx])
    p = pipe.embedder.embed_faces(pc.crops)
    m = pipe.embedder.embed_faces(np.ascontiguousarray(pc.crops[:, :, ::-1]))
    return float(np.abs(p - plain[idx]).max()), float(np.abs(m - mirror[idx]).max())


def build(model: str, name: str, args: argparse.Namespace) -> Path:
    from facenet.pipeline import FacePipeline

    root = args.data / SETS[name]
    paths, rel, key = folder(root)
    head, sha = head_of(model)
    cache = args.out / f"{name}_yunet_{model}_{sha[:12]}_{key}.npz"
    if cache.exists():
        print(f"{cache} exists", file=sys.stderr)
        return cache
    branches = MODEL_BRANCHES[model]
    z = cached_features(args.features, name)
    have = np.array([r in z["row"] for r in rel])
    rows = np.array([z["row"].get(r, -1) for r in rel])
    n = len(rel)
    plain, mirror, found = np.zeros((n, 128), np.float32), np.zeros((n, 128), np.float32), np.zeros(n, bool)
    found[have] = z["face_found"][rows[have]]
    old = PLAIN_CACHES.get((model, name))
    if old:  # the plain embeddings as identify_lfw(.py|_casia.py) cached them, every photo
        o = dict(np.load(args.out / old.format(sha=sha[:12], key=key)))
        if list(o["paths"].astype(str)) != rel:
            raise SystemExit(f"{old} holds other photos")
        plain, found = o["plain"], o["face_found"]
    else:
        if not have.all():
            raise SystemExit(f"{name}: {int((~have).sum())} photos without cached features and no plain cache")
        plain = embed(z, head, branches=branches)[rows]
    mirrored = all(f"{k}_mirror" in z for k, _ in branches)
    from_features = have & mirrored
    if from_features.any():
        mirror[from_features] = embed(z, head, mirror=True, branches=branches)[rows[from_features]]
    pipe = FacePipeline("yunet", "fused-casia", threads=1)
    rest = np.flatnonzero(~from_features)
    checks: dict[str, float] = {}
    if len(rest):
        store = args.out / f"cluster_features_{name}_mirror.npz"
        f = rest_features(pipe, [paths[i] for i in rest], [rel[i] for i in rest], tuple(k for k, _ in branches), store)
        if not np.array_equal(f["face_found"], found[rest]):
            checks["face_found_differs"] = float((f["face_found"] != found[rest]).sum())
        mirror[rest] = embed({k: f[k] for k in f if k.endswith("_mirror")}, head, mirror=True, branches=branches)
        ref = args.out / f"{name}_yunet_fused_{head_of('fused')[1][:12]}_{key}.npz"
        if model == "fused-casia" and ref.exists() and "from_features" not in np.load(ref).files:
            fz = np.load(ref)  # identify_lfw.py's full fused pipeline run (not this script's, whose rest came from the
            # same feature store): its mirror vs fused's head on the new features
            fh, _ = head_of("fused")
            again = embed({k: f[k] for k in f if k.endswith("_mirror")}, fh, mirror=True, branches=MODEL_BRANCHES["fused"])
            checks["fused_mirror_vs_full_run_max_abs"] = float(np.abs(again - fz["mirror"][rest]).max())
    sample = np.flatnonzero(have)[:: max(1, int(have.sum()) // args.sample)][: args.sample]
    if model == "fused":
        pipe = FacePipeline("yunet", "fused", threads=1)
    checks["plain_max_abs"], checks["mirror_max_abs"] = check(pipe, paths, sample, plain, mirror)
    if len(rest):
        s2 = rest[:: max(1, len(rest) // 8)][:8]
        checks["rest_plain_max_abs"], checks["rest_mirror_max_abs"] = check(pipe, paths, s2, plain, mirror)
    print(f"{model} {name}: {int(from_features.sum())} mirror rows from cached features, {len(rest)} from the "
          f"pipeline; checks {checks}", file=sys.stderr)
    C.save_npz(cache, {"paths": np.array(rel), "labels": np.array([Path(r).parent.name for r in rel]), "plain": plain,
                       "mirror": mirror, "face_found": found, "from_features": from_features, "seconds": np.float64(0.0),
                       **{f"check_{k}": np.float64(v) for k, v in checks.items()}})
    print(f"wrote {cache}", file=sys.stderr)
    return cache


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", choices=("fused", "fused-casia"))
    ap.add_argument("--sets", nargs="+", default=["lfw", "celeba_wild"], choices=tuple(SETS))
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--features", type=Path, default=Path("out/own_embedding"))
    ap.add_argument("--out", type=Path, default=Path("out/identify"))
    ap.add_argument("--sample", type=int, default=32, help="photos from cached features checked against the pipeline")
    args = ap.parse_args(argv)
    import cv2

    cv2.setNumThreads(1)  # the detector too: one core of the two
    for name in args.sets:
        build(args.model, name, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
