"""Uploaded images: the type is taken from the bytes (magic numbers), never the file name or
the Content-Type header; the size is checked from the header before any pixel is decoded
(decompression bombs); then the image is decoded to RGB the way the pipeline loads images."""

from __future__ import annotations

import io
import warnings

import numpy as np

from facenet.service.errors import ApiError

#: (magic bytes at offset 0, Pillow format name)
SIGNATURES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
              (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))
ACCEPTED = "JPEG, PNG, WebP, GIF, BMP or TIFF"


def sniff(data: bytes) -> str | None:
    """The image format of ``data`` from its first bytes, or None when it is none we accept."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for magic, fmt in SIGNATURES:
        if data.startswith(magic):
            return fmt
    return None


def decode_upload(data: bytes, max_pixels: int, field: str = "image") -> np.ndarray:
    """An uploaded image as (H, W, 3) uint8 RGB.

    ApiError 400 ``empty_upload`` (0 bytes), 415 ``unsupported_media_type`` (not an image format
    we read), 413 ``too_many_pixels`` (width x height above ``max_pixels``, refused before
    decoding), 400 ``invalid_image`` (a known format, but corrupt or truncated).
    """
    from PIL import Image

    from facenet.data.images import load_image
    from facenet.errors import InvalidImageError

    if not data:
        raise ApiError(400, "empty_upload", f"'{field}' is empty (0 bytes)")
    fmt = sniff(data)
    if fmt is None:
        raise ApiError(415, "unsupported_media_type", f"'{field}' is not an image ({ACCEPTED} expected, judged by its bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[fmt])
    except Image.DecompressionBombError:
        raise ApiError(413, "too_many_pixels", f"'{field}' declares more pixels than the limit of {max_pixels}") from None
    except (OSError, ValueError, SyntaxError):
        raise ApiError(400, "invalid_image", f"'{field}' looks like {fmt} but cannot be read (corrupt or truncated)") from None
    w, h = img.size
    if w * h > max_pixels:
        raise ApiError(413, "too_many_pixels", f"'{field}' is {w}x{h} = {w * h} pixels, more than the limit of {max_pixels}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()
        return load_image(img, max_pixels=max_pixels)
    except (InvalidImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise ApiError(400, "invalid_image", f"'{field}' looks like {fmt} but cannot be decoded (corrupt or truncated)") from None
