"""Load any reasonable image input as an RGB ``uint8`` array, with clear errors otherwise.

Accepted inputs: a path (``str`` / ``os.PathLike``), encoded bytes, a ``PIL.Image.Image`` or a
numpy array (``(H, W)`` grey, ``(H, W, 3)`` RGB, ``(H, W, 4)`` RGBA; ``uint8``, ``uint16`` or
float in ``[0, 1]``). EXIF orientation is honoured; CMYK, 16-bit, palette, alpha and greyscale
images are converted to 8-bit RGB (alpha is composited on white).
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facenet.errors import InvalidImageError
from facenet.validation import check_scalar

ImageInput = Union[str, os.PathLike, bytes, bytearray, memoryview, Image.Image, np.ndarray]

#: Default ceiling on decoded pixels (width x height): 64 megapixels. Larger inputs are refused
#: before decoding, which also stops decompression bombs.
DEFAULT_MAX_PIXELS = 64_000_000


def describe_source(src: object) -> str:
    """A short human name for an image input, used in error messages."""
    if isinstance(src, (str, os.PathLike)):
        return os.fspath(src)
    if isinstance(src, (bytes, bytearray, memoryview)):
        return f"<{len(src)} bytes>"
    if isinstance(src, Image.Image):
        return f"<PIL image {src.mode} {src.width}x{src.height}>"
    if isinstance(src, np.ndarray):
        return f"<array {src.dtype} {tuple(src.shape)}>"
    return f"<{type(src).__name__}>"


def load_image(src: ImageInput, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Return ``src`` as an ``(H, W, 3)`` ``uint8`` RGB array.

    max_pixels: an int >= 1; inputs with more pixels (width x height) are refused before decoding.
    Raises :class:`InvalidImageError` naming the input and what was wrong with it (ValueError for
    a bad ``max_pixels``).
    """
    max_pixels = check_scalar(max_pixels, "max_pixels", int, min_val=1, owner="load_image")
    name = describe_source(src)
    if isinstance(src, np.ndarray):
        return _from_array(src, name, max_pixels)
    if isinstance(src, Image.Image):
        return _from_pil(src, name, max_pixels)
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        if not data:
            raise InvalidImageError(name, "empty input (0 bytes)")
        return _decode(io.BytesIO(data), name, max_pixels)
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        if not path.exists():
            raise InvalidImageError(name, "no such file")
        if path.is_dir():
            raise InvalidImageError(name, "is a directory, expected an image file")
        if path.stat().st_size == 0:
            raise InvalidImageError(name, "file is empty (0 bytes)")
        try:
            with open(path, "rb") as fh:
                return _decode(fh, name, max_pixels)
        except PermissionError as exc:
            raise InvalidImageError(name, f"cannot read file ({exc.strerror})") from None
    raise InvalidImageError(
        name, "unsupported input type; expected a path, bytes, a PIL image or a numpy array"
    )


def _decode(fh: io.IOBase, name: str, max_pixels: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(fh)
    except Image.DecompressionBombError as exc:
        raise InvalidImageError(name, f"image too large to decode safely ({exc})") from None
    except UnidentifiedImageError:
        raise InvalidImageError(name, "not a recognised image format (corrupt or not an image)") from None
    except OSError as exc:
        raise InvalidImageError(name, f"cannot decode image ({exc})") from None
    _check_size(img.width, img.height, name, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()
    except Image.DecompressionBombError as exc:
        raise InvalidImageError(name, f"image too large to decode safely ({exc})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImageError(name, f"corrupt or truncated image data ({exc})") from None
    return _from_pil(img, name, max_pixels)


def _check_size(width: int, height: int, name: str, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise InvalidImageError(name, f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise InvalidImageError(
            name,
            f"image is {width}x{height} = {width * height / 1e6:.0f} megapixels, more than the "
            f"limit of {max_pixels / 1e6:.0f} megapixels (max_pixels); downscale it first",
        )


def _from_pil(img: Image.Image, name: str, max_pixels: int) -> np.ndarray:
    _check_size(img.width, img.height, name, max_pixels)
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the image
        pass
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img)
        return _from_array(arr, name, max_pixels)
    if mode == "F":
        return _from_array(np.asarray(img, dtype=np.float32), name, max_pixels)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    rgb = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _from_array(arr: np.ndarray, name: str, max_pixels: int) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise InvalidImageError(
            name, f"expected an (H, W), (H, W, 3) or (H, W, 4) array, got shape {tuple(arr.shape)}"
        )
    _check_size(arr.shape[1], arr.shape[0], name, max_pixels)
    if arr.dtype == np.uint8:
        out = arr
    elif arr.dtype == np.uint16:
        out = (arr.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif arr.dtype in (np.int32, np.int64) and arr.size and arr.min() >= 0 and arr.max() <= 65535:
        scale = 257.0 if arr.max() > 255 else 1.0
        out = (arr.astype(np.float32) / scale + 0.5).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise InvalidImageError(name, "float image contains NaN or infinity")
        if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
            raise InvalidImageError(
                name, f"float images must hold values in [0, 1], got [{arr.min():.3g}, {arr.max():.3g}]"
            )
        out = (arr * 255.0 + 0.5).astype(np.uint8)
    else:
        raise InvalidImageError(name, f"unsupported array dtype {arr.dtype}; expected uint8, uint16 or float")
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    elif out.shape[2] == 4:
        alpha = out[:, :, 3:4].astype(np.float32) / 255.0
        out = (out[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(out)
