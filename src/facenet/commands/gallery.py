"""`facenet gallery G list | show NAME | rename OLD NEW | merge A B | remove NAME | export FILE |
import FILE | stats | reindex | threshold [T | --auto] | upgrade --model M --photos DIR...`"""

from __future__ import annotations

import argparse

from facenet.commands.common import emit_json
from facenet.commands.gallery_args import index_text, progress_bar
from facenet.commands.gallery_upgrade import add_arguments, run_upgrade


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gallery", help="manage a recognition gallery: list, show, rename, merge, remove, export, import, "
                                       "stats, reindex, threshold, upgrade")
    p.add_argument("gallery", metavar="G", help="gallery file (SQLite) or postgresql:// URL")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    sub_ops = p.add_subparsers(dest="op", metavar="OP", required=True)

    class _Ops:  # every operation takes --json after its own arguments
        @staticmethod
        def add_parser(name: str, **kw: object) -> argparse.ArgumentParser:
            return sub_ops.add_parser(name, parents=[common], **kw)

    ops = _Ops()
    ops.add_parser("list", help="the enrolled people with their face counts")
    ops.add_parser("stats", help="sizes, the model, the identification threshold and where it comes from, the index")
    ops.add_parser("reindex", help="rebuild the search index with the current settings (an index made with other "
                                   "settings is otherwise used as it is)")
    s = ops.add_parser("show", help="one person's faces")
    s.add_argument("name")
    s = ops.add_parser("rename", help="rename a person")
    s.add_argument("old")
    s.add_argument("new")
    s = ops.add_parser("merge", help="move every face of A into B and remove A")
    s.add_argument("source", metavar="A")
    s.add_argument("target", metavar="B")
    s = ops.add_parser("remove", help="remove a person and their faces")
    s.add_argument("name")
    s = ops.add_parser("export", help="write every face (with the model identity) to one .npz file")
    s.add_argument("file")
    s = ops.add_parser("import", help="add the faces of an export file (refused when another model made them)")
    s.add_argument("file")
    s = ops.add_parser("threshold", help="fix the identification threshold, or --auto to follow the gallery's size")
    s.add_argument("value", nargs="?", type=float)
    s.add_argument("--auto", action="store_true")
    s.add_argument("--fpir", type=float, default=None, metavar="RATE",
                   help="with --auto: the share of strangers that may be matched to somebody (default 1e-2)")
    s = ops.add_parser("upgrade", help="re-embed the faces with a harmonic model (e.g. fused for SFace) from their photos")
    add_arguments(s)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facenet.errors import UsageError
    from facenet.gallery.open import open_gallery
    from facenet.gallery.transfer import export_gallery, import_gallery

    if args.op == "upgrade":
        out, text = run_upgrade(args)
        _emit(args, out, text)
        return 0
    with open_gallery(args.gallery, None, create=False) as g:
        op = args.op
        if op == "list":
            rows = [{"name": s.name, "faces": s.n_faces} for s in g.subjects()]
            out = {"subjects": rows}
            text = "\n".join(f"{r['name']}\t{r['faces']} face(s)" for r in rows) or "(empty gallery)"
        elif op == "stats":
            out = g.stats()
            from facenet.gallery.store import ModelIdentity

            shown = {**out, "model": ModelIdentity.from_dict(out["model"]).describe()}  # --json keeps the dict
            text = "\n".join(f"{k:18s} {v}" for k, v in shown.items() if k not in ("verification", "faces_by_model", "index"))
            text += "".join(f"\nfaces by {m['model']:9s}  {m['faces']}" for m in out["faces_by_model"])
            text += "\n" + index_text(out["index"], args.gallery)
            if out["verification"]:
                v = out["verification"]
                text += (f"\nverification       {v['threshold']:.4f} (FAR {100 * v['far']:.2f}% on {v.get('source', '?')}; "
                         "`facenet verify --gallery` uses it)")
        elif op == "reindex":
            with progress_bar("reindex", enabled=not args.json) as progress:
                out = {"index": g.reindex(progress)}
            text = index_text(out["index"], args.gallery).replace("index  ", "rebuilt", 1)
        elif op == "show":
            faces = g.faces(args.name)
            out = {"name": args.name, "faces": [{"face_id": f.face_id, "photo_sha256": f.photo_sha256, "source": f.source,
                                                 "box": [round(float(v), 1) for v in f.box]} for f in faces]}
            text = f"{args.name}: {len(faces)} face(s)\n" + "\n".join(f"  #{f.face_id} {f.source} {f.photo_sha256[:12]}" for f in faces)
        elif op == "rename":
            g.rename(args.old, args.new)
            out, text = {"renamed": [args.old, args.new]}, f"renamed {args.old!r} to {args.new!r}"
        elif op == "merge":
            n = g.merge(args.source, args.target)
            out, text = {"merged": [args.source, args.target], "faces_moved": n}, f"moved {n} face(s) from {args.source!r} into {args.target!r}"
        elif op == "remove":
            n = g.remove(args.name)
            out, text = {"removed": args.name, "faces_removed": n}, f"removed {args.name!r} ({n} face(s))"
        elif op == "export":
            n = export_gallery(g.store, args.file)
            out, text = {"exported": args.file, "faces": n}, f"wrote {n} face(s) to {args.file}"
        elif op == "import":
            out = import_gallery(g.store, args.file)
            text = f"imported {out['faces_added']} new face(s) of {out['subjects']} people from {args.file}"
        else:  # threshold
            if args.auto == (args.value is not None):
                raise UsageError("gallery threshold: give a value (e.g. 1.1) or --auto, not both and not neither.")
            if args.fpir is not None and not args.auto:
                raise UsageError("gallery threshold: --fpir goes with --auto (a fixed threshold has no FPIR target).")
            g.set_threshold(None if args.auto else args.value)
            if args.fpir is not None:
                g.set_fpir(args.fpir)
            t, src = g.threshold()
            out, text = {"threshold": t, "threshold_source": src}, f"identification threshold {t:.4f} ({src})"
    _emit(args, out, text)
    return 0


def _emit(args: argparse.Namespace, out: object, text: str) -> None:
    if args.json:
        emit_json(out)
    else:
        print(text)
