"""The FAISS half of :class:`facenet.gallery.index.FaceIndex`: the index of each kind, the 8-bit
codes of an 8-bit gallery, and the saved index of a gallery file with its sidecar. Files, next
to the gallery::

    <gallery>.faiss        uncompressed NumPy archive (no pickles): the serialised FAISS index,
                           face ids, subject codes, subject names (for "hnsw8" the norm of each
                           face's 8-bit codes; format 3: the positions of removed faces)
    <gallery>.faiss.json   sidecar: format, generation, SHA-256 of the archive, the index's kind
                           and graph settings (m, ef_construction: what it was built with)

A saved index is loaded when it was made for this gallery (uid, model identity, dimension,
storage), its checksum and sizes are right and its generation is not newer than the store's;
anything else is a reason to rebuild, never an error. Its kind and graph settings need not be
the current :class:`IndexOptions`: it is used as it is (``facenet gallery G reindex`` rebuilds it),
and a generation older than the store's is caught up by :mod:`facenet.gallery.index_sync`.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from facenet.fileio import write_atomic
from facenet.gallery.store import GalleryStore

#: 3: removed faces (positions masked at search) in the archive, the graph settings of the index itself.
#: 2: kinds "hnsw_sq8", "hnsw8" (with norms), the gallery's storage ("quantize") in the sidecar. Format 1
#: files (kinds "exact" and "hnsw", no storage recorded) and format 2 files are still read.
INDEX_FORMAT = 3
READ_FORMATS = (1, 2, 3)
KINDS = ("exact", "hnsw_sq8", "hnsw8", "hnsw")


class Saved(NamedTuple):
    """What an index file holds: the FAISS index (positions 0..N-1), face ids (N,) int64
    ascending, subject code per position (N,) int32, subject names, kind ("exact", "hnsw_sq8",
    "hnsw8", "hnsw"), norms (N,) float32 of the 8-bit codes ("hnsw8" only, else None), removed
    (N,) bool (None: none), the generation it matches, its graph settings (None for "exact") and
    the file format it was read from."""

    index: Any
    ids: np.ndarray
    codes: np.ndarray
    names: list[str]
    kind: str
    norms: np.ndarray | None = None
    removed: np.ndarray | None = None
    generation: int = 0
    m: int | None = None
    ef_construction: int | None = None
    format: int = INDEX_FORMAT


def new_faiss(dim: int, kind: str, options: Any, sample: np.ndarray) -> Any:
    """An empty FAISS index of ``kind`` ("exact", "hnsw_sq8", "hnsw8", "hnsw") with ``options``'
    (IndexOptions) m and ef_construction, inner product throughout, trained where it needs it:
    "hnsw_sq8" on ``sample`` (N, dim) float32, the vectors it will hold (per-dimension 8-bit
    ranges)."""
    import faiss

    if kind == "exact":
        return faiss.IndexFlatIP(dim)
    ip = faiss.METRIC_INNER_PRODUCT
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, options.m, ip)
        index.hnsw.efConstruction = options.ef_construction
        return index
    # one byte per value: hnsw8's uniform grid on [-127.5, 127.5] holds every integer code exactly
    qt = faiss.ScalarQuantizer.QT_8bit_uniform if kind == "hnsw8" else faiss.ScalarQuantizer.QT_8bit
    graph = faiss.IndexHNSWSQ(dim, qt, options.m, ip)
    graph.hnsw.efConstruction = options.ef_construction
    if kind == "hnsw8":
        graph.train(np.array([[-127.5] * dim, [127.5] * dim], dtype=np.float32))
        return graph
    index = faiss.IndexRefineFlat(graph)  # float32 copies re-rank the graph's candidates
    index.train(sample if len(sample) else np.array([[-1.0] * dim, [1.0] * dim], dtype=np.float32))
    return index


def int8_codes(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) unit embeddings -> (their 8-bit gallery codes c = round(127 x) (N, D) float32, |c|
    (N,) float32). Rows that an 8-bit gallery decoded (``c / |c|``) give back the stored codes:
    the scale |c| is found by fixed point (c = round(x |c|)), not by a second rounding; other rows
    (originals, as they are enrolled) get round(127 x), what the gallery stores for them."""
    x = np.asarray(embeddings, dtype=np.float32)
    codes, norms = np.zeros_like(x), np.zeros(len(x), np.float32)
    for a in range(0, len(x), 65536):  # chunks: a few temporary copies of 65,536 rows, not of a million
        part = x[a:a + 65536]
        c = direct = np.clip(np.rint(part * 127.0), -127, 127)
        for _ in range(3):
            c = np.clip(np.rint(part * np.linalg.norm(c, axis=1, keepdims=True)), -127, 127)
        s = np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
        decoded = np.abs(c / s - part).max(axis=1, initial=0.0) < 2e-6  # the row is exactly c / |c|
        c = np.where(decoded[:, None], c, direct)
        codes[a:a + len(c)], norms[a:a + len(c)] = c, np.maximum(np.linalg.norm(c, axis=1), 1e-12)
    return codes, norms


def index_path_for(gallery_path: str | Path) -> Path:
    """Where a gallery file's index lives: ``<gallery>.faiss`` (and ``<gallery>.faiss.json``)."""
    return Path(str(gallery_path) + ".faiss")


def sidecar(path: Path) -> Path:
    return Path(str(path) + ".json")


def write(path: Path, saved: Saved, meta: dict[str, Any]) -> None:
    """Write ``path`` and its sidecar (``meta`` plus format, checksum and sizes) atomically:
    temporary files, then rename; the sidecar last, so a reader sees either the old pair, the
    new pair, or a checksum mismatch. saved.index: the index already serialised
    (``faiss.serialize_index``: a uint8 array), so the caller needs no lock while this writes."""
    raw = saved.index
    buf = io.BytesIO()
    names = "\n".join(saved.names).encode("utf-8")
    extra = {} if saved.norms is None else {"norms": saved.norms}
    if saved.removed is not None and saved.removed.any():
        extra["removed"] = np.flatnonzero(saved.removed).astype(np.int64)
    np.savez(buf, index=raw, ids=saved.ids, codes=saved.codes, names=np.frombuffer(names, dtype=np.uint8), **extra)
    data = buf.getvalue()
    meta = {"format": INDEX_FORMAT, **meta, "sha256": hashlib.sha256(data).hexdigest(), "size": len(saved.ids),
            "n_subjects": len(saved.names), "kind": saved.kind, "m": saved.m, "ef_construction": saved.ef_construction,
            "generation": saved.generation, "removed": int(0 if saved.removed is None else saved.removed.sum())}
    write_atomic(path, data)
    write_atomic(sidecar(path), json.dumps(meta, indent=1).encode("utf-8"))
    remove_leftovers(path)


def load(path: Path, store: GalleryStore, generation: int, quantize: str = "none") -> tuple[Saved | None, str | None]:
    """The saved index when every check passes, else (None, why not). generation: the store's
    now (the file's may be older: the caller catches up; never newer); quantize: the store's
    storage ("none" or "int8"), which must be the file's. The kind and graph settings are the
    file's own (Saved.kind, m, ef_construction), whatever the current IndexOptions say."""
    side = sidecar(path)
    if not path.exists() or not side.exists():
        return None, "no index file"
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"unreadable index file ({type(exc).__name__})"
    if not isinstance(meta, dict) or meta.get("format") not in READ_FORMATS:
        return None, "unknown index format"
    if meta["format"] == 1:  # made from this very store (gallery uid and generation are checked): its storage
        meta.setdefault("quantize", quantize)
    made_at = meta.get("generation")
    if not isinstance(made_at, int) or isinstance(made_at, bool) or made_at > generation:
        return None, f"index file newer than the gallery (index at generation {made_at}, gallery at {generation})"
    try:
        return _check_and_load(meta, path, store, quantize)
    except OSError as exc:
        return None, f"unreadable index file ({type(exc).__name__})"
    except (ValueError, TypeError, KeyError, RuntimeError, EOFError, zipfile.BadZipFile) as exc:
        return None, f"corrupt index file ({type(exc).__name__})"


def _check_and_load(meta: dict[str, Any], path: Path, store: GalleryStore, quantize: str) -> tuple[Saved | None, str | None]:
    """The file's content once it is this gallery's and its checksum is right. Each copy of the
    index is let go as soon as the next one is made (file bytes -> archive member -> FAISS
    index), so the peak is about two copies, not three (a 1M-face HNSW index is 0.7 GB each)."""
    import faiss

    wanted = {"dim": store.identity.embedding_size, "identity": store.identity.to_dict(),
              "gallery_uid": store.get_meta("gallery_uid"), "quantize": quantize}
    for key, value in wanted.items():
        if meta.get(key) != value:
            return None, f"index file made for another {key.replace('_', ' ')}"
    kind = meta.get("kind")
    if kind not in KINDS or kind == ("hnsw_sq8" if quantize == "int8" else "hnsw8"):  # hnsw8: 8-bit galleries only
        return None, f"index file of kind {kind!r} for {quantize} storage"
    m, efc = (None, None) if kind == "exact" else (int(meta["m"]), int(meta["ef_construction"]))
    data = path.read_bytes()
    if meta.get("sha256") != hashlib.sha256(data).hexdigest():
        return None, "corrupt index file (checksum)"
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        raw, ids, codes = z["index"], z["ids"].astype(np.int64), z["codes"].astype(np.int32)
        names = bytes(z["names"]).decode("utf-8").split("\n") if z["names"].size else []
        norms = z["norms"].astype(np.float32) if kind == "hnsw8" else None
        gone = z["removed"].astype(np.int64) if "removed" in z.files else np.zeros(0, np.int64)
    del data, z
    index = faiss.deserialize_index(raw)
    del raw
    if (index.ntotal != len(ids) or len(codes) != len(ids) or len(ids) != meta["size"] or index.d != meta["dim"]
            or (len(codes) and (codes.min() < 0 or codes.max() >= len(names)))
            or (norms is not None and (len(norms) != len(ids) or not np.all(norms > 0)))
            or (len(gone) and (gone.min() < 0 or gone.max() >= len(ids) or len(np.unique(gone)) != len(gone)))
            or (len(ids) > 1 and not (np.diff(ids) > 0).all())):
        return None, "corrupt index file (inconsistent sizes)"
    removed = None
    if len(gone):
        removed = np.zeros(len(ids), bool)
        removed[gone] = True
    return Saved(index, ids, codes, names, kind, norms, removed, int(meta["generation"]), m, efc, int(meta["format"])), None


def remove_leftovers(path: Path, age_s: float = 3600.0) -> None:
    """Delete temporary files of earlier saves that were killed midway (older than an hour, so
    never a save still in progress)."""
    for tmp in path.parent.glob(path.name + ".*.tmp"):
        try:
            if time.time() - tmp.stat().st_mtime > age_s:
                tmp.unlink()
        except OSError:  # gone already, or not ours to delete
            pass
