"""Shared pieces of the gallery commands (enroll, identify, gallery)."""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

DEFAULT_GALLERY_NAME = "default.gallery"


def add_gallery_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gallery", metavar="G",
                   help="gallery file (SQLite) or postgresql:// URL (default: default.gallery in the user data folder, "
                        "$FACENET_HOME/galleries when set)")


def gallery_location(args: argparse.Namespace) -> str:
    """The --gallery value, or the default file in Settings.data_dir."""
    if getattr(args, "gallery", None):
        return str(args.gallery)
    from facenet.settings import Settings

    return str(Settings.from_env().data_dir / DEFAULT_GALLERY_NAME)


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("pipeline (default: the model the gallery was made with)")
    g.add_argument("--detector", default="yunet", help="face detector: yunet (default) or mtcnn")
    g.add_argument("--embedder", default=None, help="embedding model; a new gallery takes sface unless given")
    g.add_argument("--preset", choices=("accurate", "fast"), default=None,
                   help="fast: SFace; accurate: fused (as verify's; --embedder wins; an SFace gallery takes fused queries)")
    g.add_argument("--flip", action="store_true", default=None, help="flip test-time augmentation (a new gallery)")


def open_for(args: argparse.Namespace, create: bool) -> Any:
    """Open (or create) the gallery with a pipeline that matches it: --embedder (or --preset's)
    and --flip when given (a mismatch with an existing gallery is refused, naming both models,
    unless the two are declared harmonic), else the gallery's own."""
    from facenet.commands.common import PRESETS
    from facenet.gallery.open import gallery_exists, open_gallery, read_identity
    from facenet.pipeline import FacePipeline

    loc = gallery_location(args)
    embedder, flip = args.embedder or PRESETS.get(getattr(args, "preset", None) or ""), args.flip
    if (embedder is None or flip is None) and gallery_exists(loc):
        ident = read_identity(loc)
        embedder = embedder or ident.model
        flip = ident.flip if flip is None else flip
    pipe = FacePipeline(detector=args.detector, embedder=embedder or "sface", flip=bool(flip))
    return open_gallery(loc, pipe, create=create)


def is_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def describe(location: str) -> str:
    return location if is_url(location) else str(Path(location))


def index_text(info: dict[str, Any] | None, location: str) -> str:
    """`gallery stats`' lines about the search index (FaceIndex.describe()); None: PostgreSQL's."""
    if info is None:
        return "index              pgvector HNSW (kept by the server)"
    graph = "" if info["kind"] == "exact" else f", M {info['m']}, efConstruction {info['ef_construction']}"
    text = (f"index              {info['kind']}{graph}: {info['faces']} faces"
            + (f" ({info['removed']} removed, masked)" if info["removed"] else "")
            + (", the current settings" if info["current"] else ""))
    if not info["current"]:
        want = info["current_settings"]
        wanted = want["kind"] + ("" if want["kind"] == "exact" else f", M {want['m']}, efConstruction {want['ef_construction']}")
        text += (f"\nindex settings     not the current ones ({wanted}); it still answers. Rebuild it with: "
                 f"facenet gallery {location} reindex")
    return text


@contextmanager
def progress_bar(desc: str, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A callback ``progress(done, total)`` drawing a tqdm bar on stderr (nothing when not ``enabled``)."""
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="face", disable=not enabled)
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()
