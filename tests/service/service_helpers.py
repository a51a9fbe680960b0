"""Helpers of the service tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

#: People whose LFW photos 1-3 each show exactly one face (the tests enrol and identify them).
PEOPLE = ("Aaron_Peirsol", "Abdoulaye_Wade", "Adam_Sandler", "Adel_Al-Jubeir", "Ahmed_Chalabi", "Ai_Sugiyama")


#: The start of a multipart body (boundary "b") with one file part "image", for streamed uploads.
MULTIPART_HEAD = (b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
                  b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff")


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares width x height RGB pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + png_chunk(b"IEND", b""))


def encode(img: np.ndarray, fmt: str = "PNG") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, fmt)
    return buf.getvalue()


def upload(data: bytes, name: str = "photo.jpg", field: str = "image", ctype: str = "image/jpeg") -> dict:
    return {field: (name, data, ctype)}
