"""How a gallery stores one embedding: float32 (4 D bytes) or the paper's 128-byte embeddings,
8-bit scalar quantisation ``round(127 x)`` of a unit vector (D signed bytes, read back as
``q / 127`` renormalised). Used by the SQLite store's ``quantize`` setting."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from facenet.gallery.store import GalleryError

#: The storage settings: "none" (float32) or "int8".
QUANTIZE = ("none", "int8")


def blob_size(dim: int, quantize: str) -> int:
    """Bytes per stored embedding of ``dim`` values."""
    return dim if quantize == "int8" else 4 * dim


def encode(embeddings: np.ndarray, quantize: str) -> list[bytes]:
    """(N, D) float32 unit embeddings -> one blob each (float32, or int8 round(127 x))."""
    if quantize == "int8":
        q = np.clip(np.rint(embeddings * 127.0), -127, 127).astype(np.int8)
        return [row.tobytes() for row in q]
    return [row.tobytes() for row in np.ascontiguousarray(embeddings, dtype=np.float32)]


def decode(blobs: Sequence[bytes], dim: int, quantize: str, location: str = "the gallery") -> np.ndarray:
    """Blobs -> (N, D) float32 unit embeddings (int8 ones dequantised and renormalised)."""
    size = blob_size(dim, quantize)
    if any(len(b) != size for b in blobs):
        raise GalleryError(f"{location} holds an embedding of the wrong size (expected {size} bytes: "
                           f"{dim}-D {quantize}); the file is damaged.")
    raw = b"".join(blobs)
    if quantize == "int8":
        x = np.frombuffer(raw, dtype=np.int8).reshape(len(blobs), dim).astype(np.float32) / 127.0
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.maximum(norms, np.float32(1e-12))
    return np.frombuffer(raw, dtype=np.float32).reshape(len(blobs), dim).copy()
