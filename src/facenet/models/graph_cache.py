"""Prepared ONNX graphs kept on disk, so that a cold start does not prepare them again.

Preparing a shipped graph (:func:`facenet.models.onnx_graph.prepare_onnx`: folding the
block-quantised weights into float initialisers with the ONNX reference evaluator) costs about
half a second and the import of ``onnx``. The result depends only on the source file, the
preparation code and the input name, so it is stored once under the cache folder the caller
passes (the library's default is ``facenet.settings.Settings.from_env().cache_dir``, chosen at
the boundary, never here)::

    <cache_dir>/graphs/<key>.onnx          the prepared graph, as OpenCV DNN / ONNX Runtime load it
    <cache_dir>/graphs/<key>.onnx.sha256   that file's own SHA-256 (hex), checked on every load

    key = SHA-256 of "<source file SHA-256>\\n<PREPARE_VERSION>\\n<input name>"

A prepared file whose digest does not match (truncated, corrupt, half-replaced, digest missing)
is never used: it is prepared again and rewritten, silently. Both files are written to a
temporary name in the same folder and moved into place with :func:`os.replace`, so processes
starting at the same moment never read a partial file. A cache folder that cannot be written
only costs the preparation (a :class:`RuntimeWarning` says so); it is never fatal. The folder is
safe to delete.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from pathlib import Path

from facenet.fileio import write_atomic
from facenet.models.onnx_graph import PREPARE_VERSION, prepare_onnx_file
from facenet.validation import check_type
from facenet.weights import sha256_file

#: Sub-folder of the cache folder that holds prepared graphs.
GRAPHS_DIR = "graphs"
DIGEST_SUFFIX = ".sha256"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def cache_key(source_sha256: str, input_name: str, version: str = PREPARE_VERSION) -> str:
    """The file stem of a prepared graph: SHA-256 (hex) of the source digest, the preparation
    version and the input name."""
    check_type(source_sha256, "source_sha256", str, owner="cache_key", what="a hex SHA-256 string")
    if not _HEX64.match(source_sha256.lower()):
        raise ValueError(f"The 'source_sha256' parameter of cache_key must be 64 hex digits. Got {source_sha256!r} instead.")
    return hashlib.sha256(f"{source_sha256.lower()}\n{version}\n{input_name}".encode()).hexdigest()


def cached_graph_path(cache_dir: Path, source_sha256: str, input_name: str) -> Path:
    """Where the prepared graph of that source and input lives under ``cache_dir`` (it may not
    exist). Its digest file is the same path plus ``.sha256``."""
    return Path(cache_dir) / GRAPHS_DIR / f"{cache_key(source_sha256, input_name)}.onnx"


def digest_path(graph: Path) -> Path:
    """The file holding the SHA-256 of the prepared graph ``graph``."""
    return graph.with_name(graph.name + DIGEST_SUFFIX)


def load_cached(graph: Path) -> Path | None:
    """``graph`` when it exists and matches the digest stored beside it, else None (missing,
    truncated or corrupt files are never returned)."""
    try:
        expected = digest_path(graph).read_text(encoding="ascii").strip().lower()
        if not _HEX64.match(expected) or not graph.is_file():
            return None
        return graph if sha256_file(graph) == expected else None
    except (OSError, UnicodeDecodeError):
        return None


def prepared_graph(source: Path, input_name: str, *, source_sha256: str | None = None,
                   cache_dir: Path | None = None) -> Path | bytes:
    """The prepared form of the ONNX file ``source`` (see :mod:`facenet.models.onnx_graph`).

    source: the original ONNX file (verified by the caller when it is a shipped weight).
    input_name: the graph input to keep.
    source_sha256: hex SHA-256 of ``source`` when the caller already checked it; None: computed
        here (only when caching).
    cache_dir: the cache folder (e.g. ``Settings.cache_dir``); None: no cache, prepare in memory.

    Returns the path of a checked cached file (a cache hit: ``onnx`` is not imported), or the
    serialised prepared graph (no cache, a miss, or an unusable cache folder).
    """
    source = Path(source)
    if cache_dir is None:
        return prepare_onnx_file(str(source), input_name)
    check_type(cache_dir, "cache_dir", (str, os.PathLike), owner="prepared_graph", what="a path or None")
    digest = source_sha256 if source_sha256 is not None else sha256_file(source)
    graph = cached_graph_path(Path(cache_dir), digest, input_name)
    hit = load_cached(graph)
    if hit is not None:
        return hit
    blob = prepare_onnx_file(str(source), input_name)
    try:
        graph.parent.mkdir(parents=True, exist_ok=True)
        # The graph first, then its digest: a reader that sees a new graph with an old (or no)
        # digest finds a mismatch and prepares again; it never uses an unchecked file.
        write_atomic(graph, blob)
        write_atomic(digest_path(graph), (hashlib.sha256(blob).hexdigest() + "\n").encode("ascii"))
    except OSError as exc:
        warnings.warn(f"could not write the prepared-graph cache {graph}: {exc}; preparing in memory "
                      "on every start", RuntimeWarning, stacklevel=2)
    return blob
