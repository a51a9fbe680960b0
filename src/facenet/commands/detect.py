"""`facenet detect IMG... [--json] [--draw OUT.png]`"""

from __future__ import annotations

import argparse
from pathlib import Path

from facenet.commands.common import emit_json, load_each


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="find faces: boxes, scores, 5 landmarks")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--detector", default="yunet", help="yunet (default) or mtcnn")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--draw", metavar="OUT.png", help="save the image with the faces drawn (several images: OUT_<name>.png)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facenet.data.images import load_image
    from facenet.detect.draw import draw_detections, save_rgb
    from facenet.detect.registry import create_detector

    det = create_detector(args.detector)

    class _Loader:
        load = staticmethod(load_image)

    ok, failed = load_each(_Loader, args.images)
    results = []
    for path, img in ok:
        d = det.detect(img)
        results.append({"path": path, "width": img.shape[1], "height": img.shape[0], **d.to_dict()})
        if args.draw:
            out = Path(args.draw)
            if len(args.images) > 1:
                out = out.with_name(f"{out.stem}_{Path(path).stem}{out.suffix or '.png'}")
            save_rgb(draw_detections(img, d), out)
        if not args.json:
            print(f"{path}: {len(d)} face(s)")
            for f in results[-1]["faces"]:
                print(f"  box={f['box']} score={f['score']:.3f}")
    if args.json:
        emit_json({"detector": args.detector, "images": results, "failed": failed})
    return 1 if failed else 0
