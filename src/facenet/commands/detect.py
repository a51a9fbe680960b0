"""`facenet detect IMG... [--json] [--draw OUT.png]`"""

from __future__ import annotations

import argparse
from pathlib import Path

from facenet.commands.common import emit_result, load_each


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="find faces: boxes, scores, 5 landmarks")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--detector", default="yunet", help="yunet (default) or mtcnn")
    p.add_argument("--no-retry", action="store_true",
                   help="no second, lower-threshold pass on images where nothing is found")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--draw", metavar="OUT.png",
                   help="save the image with the faces drawn (several images: one OUT_<name>.png each, never overwritten)")
    p.set_defaults(func=run)


def draw_targets(out: str, paths: list[str]) -> list[Path]:
    """Where ``--draw OUT`` writes each image's drawing: OUT itself for one image; else
    ``OUT_<stem>.<ext>`` per image, with ``_2``, ``_3``... added where two inputs share a stem
    (``a/img.jpg`` and ``b/img.jpg``), so no drawing overwrites another."""
    base = Path(out)
    suffix = base.suffix or ".png"
    if len(paths) == 1:
        return [base if base.suffix else base.with_suffix(suffix)]
    seen: dict[str, int] = {}
    targets = []
    for p in paths:
        stem = Path(p).stem
        seen[stem] = seen.get(stem, 0) + 1
        tag = stem if seen[stem] == 1 else f"{stem}_{seen[stem]}"
        while any(t.name == f"{base.stem}_{tag}{suffix}" for t in targets):
            seen[stem] += 1
            tag = f"{stem}_{seen[stem]}"
        targets.append(base.with_name(f"{base.stem}_{tag}{suffix}"))
    return targets


def run(args: argparse.Namespace) -> int:
    from facenet.align.cropper import FaceCropper
    from facenet.detect.draw import draw_detections, save_rgb

    cropper = FaceCropper(args.detector, retry=not args.no_retry)
    ok, failed = load_each(cropper, args.images)
    targets = dict(zip([p for p, _ in ok], draw_targets(args.draw, [p for p, _ in ok]))) if args.draw and ok else {}
    results = []
    for path, img in ok:
        d = cropper.detect_rgb(img)  # the detector, then its retry pass when it finds nothing
        row = {"path": path, "width": img.shape[1], "height": img.shape[0], **d.to_dict()}
        if args.draw:
            row["drawing"] = str(save_rgb(draw_detections(img, d), targets[path]))
        results.append(row)
        if not args.json:
            print(f"{path}: {len(d)} face(s)" + (f" -> {row['drawing']}" if args.draw else ""))
            for f in row["faces"]:
                print(f"  box={f['box']} score={f['score']:.3f}")
    if args.json:
        emit_result({"detector": args.detector, "retry": cropper.retries, "images": results}, failed)
    return 1 if failed else 0
