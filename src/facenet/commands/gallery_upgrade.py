"""`facenet gallery G upgrade --model fused --photos DIR [DIR ...]`: re-embed a gallery's faces with
a harmonic model (see facenet.gallery.upgrade)."""

from __future__ import annotations

import argparse
from typing import Any


def add_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("--model", required=True, metavar="NAME",
                   help="the new embedder, declared harmonic with the gallery's (e.g. fused for an SFace gallery)")
    s.add_argument("--photos", nargs="+", required=True, metavar="DIR",
                   help="folders holding the enrolled photos (searched recursively, matched by SHA-256)")
    s.add_argument("--detector", default="yunet", help="face detector that finds the stored boxes again (default yunet)")


def run_upgrade(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """(JSON output, text output) of the upgrade."""
    from facenet.gallery.open import open_gallery
    from facenet.pipeline import FacePipeline

    pipe = FacePipeline(detector=args.detector, embedder=args.model)
    with open_gallery(args.gallery, pipe, create=False) as g:
        before = g.identity.model
        r = g.upgrade(args.photos)
        out = {**r.to_dict(), "faces_by_model": g.stats()["faces_by_model"]}
    why = ", ".join(f"{n} {k}" for k, n in sorted(r.left.items()))
    left = sum(r.left.values())
    text = (f"upgraded {r.upgraded} face(s) to {r.model.model}; {r.already} already {r.model.model}'s; "
            f"left {left} as they are" + (f" ({why})" if why else "") + f"; {r.photos} photo(s) found under "
            f"{', '.join(args.photos)}\n")
    if r.complete:
        text += (f"the gallery's model is now {r.model.model}" if before != r.model.model
                 else f"the gallery's model is {r.model.model}")
    else:
        text += (f"the gallery's model stays {before}: faces of both models are compared (mixed pairs); run the "
                 "upgrade again with the missing photos to finish")
    return out, text + "".join(f"\nnote: {n}" for n in r.notes)
