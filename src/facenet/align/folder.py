"""Align a folder of identity sub-folders of raw photos into aligned crops in the same layout."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from facenet.align.cropper import FaceCropper
from facenet.data.files import IMAGE_EXTENSIONS, iter_images  # noqa: F401  (re-exported for callers)
from facenet.detect.types import FACE_POLICIES
from facenet.errors import DataError
from facenet.validation import check_option, check_scalar

#: What to do with a photo holding several faces: align its primary face by one of the face
#: policies, or skip the photo.
POLICIES = (*FACE_POLICIES, "skip")


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


def _worker_init(detector: str, size: tuple[int, int], template: str, policy: str, threads: int) -> None:
    import cv2

    cv2.setNumThreads(threads)
    if detector == "mtcnn":
        import torch

        torch.set_num_threads(threads)
    global _STATE  # per-process cache in worker processes only (never in the parent)
    _STATE = _cropper(detector, size, template, policy)


def _cropper(detector: str, size: tuple[int, int], template: str, policy: str) -> FaceCropper:
    return FaceCropper(detector, size=size, template=template, face_policy="central" if policy == "skip" else policy)


def _align_one(job: tuple[str, str, str, object]) -> tuple[str, str]:
    """Align one image; returns (status, detail). Runs in a worker or in-process."""
    from facenet.detect.draw import save_rgb
    from facenet.errors import FacenetError

    src, dst, policy, cropper = job
    crp = cropper if cropper is not None else _STATE  # noqa: F821
    try:
        img = crp.load(src)
    except FacenetError as exc:
        return "failed", getattr(exc, "reason", str(exc))
    det = crp.detect_rgb(img)  # with the retry pass, as inference and validation do
    if len(det) == 0:
        return "no_face", ""
    status = "aligned"
    if len(det) > 1:
        if policy == "skip":
            return "skipped_several", str(len(det))
        status = "several"
    crop = crp.crop(img, det.select(crp.primary_index(img, det)))[0]
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
        raise DataError(f"The source folder {src} does not exist or is not a folder.")
    check_option(policy, "policy", POLICIES, owner="align_folder")
    check_scalar(size, "size", int, min_val=16, owner="align_folder")
    check_scalar(workers, "workers", int, min_val=1, owner="align_folder")
    report = AlignReport()
    jobs = []
    for f in iter_images(src):
        out = dst / f.parent.name / (f.stem + ".png")
        if out.exists():
            report.already_done += 1
        else:
            jobs.append((str(f), str(out), policy))
    bar = tqdm(total=len(jobs), desc="align", unit="img", disable=not progress)
    if workers == 1:
        crp = _cropper(detector, (size, size), template, policy)
        results = (_align_one((*j, crp)) for j in jobs)
        _collect(results, jobs, report, src, bar)
    else:
        # spawn, not fork: a child forked after the parent used OpenCV's or torch's thread pools can
        # deadlock on their locks (seen in cv2.setNumThreads).
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                 initargs=(detector, (size, size), template, policy, 1)) as pool:
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
