"""Align a folder of identity sub-folders of raw photos into aligned crops in the same layout."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp")
POLICIES = ("largest", "central", "skip")


@dataclass
class AlignReport:
    """What :func:`align_folder` did. Lists hold source paths relative to the source root."""

    aligned: int = 0
    already_done: int = 0
    no_face: list[str] = field(default_factory=list)
    several_faces: list[str] = field(default_factory=list)  # aligned anyway unless policy="skip"
    skipped_several: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # unreadable files, with the reason

    def to_dict(self) -> dict:
        d = asdict(self)
        d["counts"] = {k: (len(v) if isinstance(v, list) else v) for k, v in asdict(self).items()}
        return d


def iter_images(root: Path) -> Iterator[Path]:
    """Image files under ``root/<identity>/`` (sorted; hidden files ignored)."""
    for ident in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(ident.iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith("."):
                yield f


def _worker_init(detector: str, threads: int) -> None:
    import cv2
    import torch

    cv2.setNumThreads(threads)
    torch.set_num_threads(threads)
    global _STATE  # per-process cache in worker processes only (never in the parent)
    from facenet.detect.registry import create_detector

    _STATE = create_detector(detector)


def _align_one(job: tuple[str, str, tuple[int, int], str, str, object]) -> tuple[str, str]:
    """Align one image; returns (status, detail). Runs in a worker or in-process."""
    from facenet.align.crop import align_detections
    from facenet.data.images import load_image
    from facenet.detect.draw import save_rgb
    from facenet.errors import FacenetError

    src, dst, size, policy, template, detector = job
    det_obj = detector if detector is not None else _STATE  # noqa: F821
    try:
        img = load_image(src)
    except FacenetError as exc:
        return "failed", getattr(exc, "reason", str(exc))
    det = det_obj.detect(img)
    if len(det) == 0:
        return "no_face", ""
    status = "aligned"
    if len(det) > 1:
        if policy == "skip":
            return "skipped_several", str(len(det))
        status = "several"
    k = det.primary(img.shape, "largest" if policy == "largest" else "central")
    crop = align_detections(img, det.select(k), size, template)[0]
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(dst).with_name(Path(dst).stem + ".part" + Path(dst).suffix)
    save_rgb(crop, tmp)
    tmp.replace(dst)  # atomic: an interrupted run never leaves a half-written crop
    return status, str(len(det))


def align_folder(src: str | Path, dst: str | Path, detector: str = "mtcnn", size: int = 112,
                 policy: str = "central", workers: int = 1, template: str = "arcface_112",
                 progress: bool = True) -> AlignReport:
    """Detect and align the face in every photo of ``src/<identity>/*`` into ``dst/<identity>/*.png``.

    Resumable: crops that already exist are skipped. Photos with no face are reported (and not
    written); photos with several faces are aligned on the ``policy`` face ("largest" or
    "central") or skipped ("skip"). A JSON report is written to ``dst/align_report.json``.
    size: output side in pixels (square). workers: processes (each runs its own detector).
    """
    from tqdm import tqdm

    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise ValueError(f"The source folder {src} does not exist or is not a folder.")
    if policy not in POLICIES:
        raise ValueError(f"The 'policy' parameter must be one of {POLICIES}. Got {policy!r} instead.")
    if not isinstance(size, int) or size < 16:
        raise ValueError(f"The 'size' parameter must be an int in [16, inf). Got {size!r} instead.")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"The 'workers' parameter must be an int in [1, inf). Got {workers!r} instead.")
    report = AlignReport()
    jobs = []
    for f in iter_images(src):
        out = dst / f.parent.name / (f.stem + ".png")
        if out.exists():
            report.already_done += 1
        else:
            jobs.append((str(f), str(out), (size, size), policy, template))
    bar = tqdm(total=len(jobs), desc="align", unit="img", disable=not progress)
    if workers == 1:
        from facenet.detect.registry import create_detector

        det = create_detector(detector)
        results = (_align_one((*j, det)) for j in jobs)
        _collect(results, jobs, report, src, bar)
    else:
        with ProcessPoolExecutor(workers, initializer=_worker_init, initargs=(detector, 1)) as pool:
            _collect(pool.map(_align_one, [(*j, None) for j in jobs], chunksize=8), jobs, report, src, bar)
    bar.close()
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "align_report.json").write_text(json.dumps(report.to_dict(), indent=2))
    return report


def _collect(results, jobs, report: AlignReport, src: Path, bar) -> None:
    for job, (status, detail) in zip(jobs, results):
        rel = str(Path(job[0]).relative_to(src))
        if status in ("aligned", "several"):
            report.aligned += 1
            if status == "several":
                report.several_faces.append(rel)
        elif status == "no_face":
            report.no_face.append(rel)
        elif status == "skipped_several":
            report.skipped_several.append(rel)
        else:
            report.failed.append(f"{rel}: {detail}")
        bar.update(1)
        bar.set_postfix(no_face=len(report.no_face), several=len(report.several_faces), refresh=False)
