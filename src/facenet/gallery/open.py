"""Open a gallery by location: a file path (SQLite, the embedded default) or a ``postgresql://``
URL. ``open_gallery(location, pipeline)`` is :meth:`Gallery.open`; the location helpers live in
:mod:`facenet.gallery.backends`."""

from __future__ import annotations

from pathlib import Path

from facenet.gallery.backends import URL_SCHEMES, gallery_exists, is_url, read_identity
from facenet.gallery.gallery import Gallery
from facenet.pipeline import FacePipeline

__all__ = ["URL_SCHEMES", "gallery_exists", "is_url", "open_gallery", "read_identity"]


def open_gallery(location: str | Path, pipeline: FacePipeline | None = None, *, create: bool = True) -> Gallery:
    """The gallery at ``location`` (see :meth:`Gallery.open`)."""
    return Gallery.open(location, pipeline, create=create)
