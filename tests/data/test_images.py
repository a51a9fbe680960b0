"""Every kind of bad or unusual image input gets a clear answer."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facenet.data.images import load_image
from facenet.errors import InvalidImageError


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header claims width x height 8-bit RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 3 * width) * 4)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _save(img: Image.Image, path: Path, **kw) -> Path:
    img.save(path, **kw)
    return path


@pytest.fixture
def rgb() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)


def test_missing_path(tmp_path):
    with pytest.raises(InvalidImageError, match="no such file"):
        load_image(tmp_path / "nope.jpg")


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(InvalidImageError, match=r"empty \(0 bytes\)") as e:
        load_image(p)
    assert str(p) in str(e.value)


def test_zero_byte_bytes():
    with pytest.raises(InvalidImageError, match="0 bytes"):
        load_image(b"")


def test_text_file_named_jpg(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not an image\n")
    with pytest.raises(InvalidImageError, match="not a recognised image format"):
        load_image(p)


def test_truncated_jpeg(tmp_path, rgb):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG")
    p = tmp_path / "cut.jpg"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(InvalidImageError, match="corrupt or truncated"):
        load_image(p)


def test_decompression_bomb_refused_before_decoding(tmp_path):
    p = tmp_path / "bomb.png"
    p.write_bytes(bomb_png())
    assert p.stat().st_size < 200_000
    with pytest.raises(InvalidImageError, match="too large|megapixels"):
        load_image(p)


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(InvalidImageError, match="directory"):
        load_image(tmp_path)


def test_unsupported_type():
    with pytest.raises(InvalidImageError, match="unsupported input type"):
        load_image(12345)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["CMYK", "L", "P", "RGBA", "LA", "I;16", "1"])
def test_modes_become_rgb_uint8(tmp_path, rgb, mode):
    img = Image.fromarray(rgb)
    if mode == "I;16":
        img = Image.fromarray((rgb[:, :, 0].astype(np.uint16) * 257))
        assert img.mode.startswith("I;16")
        fmt = "PNG"
    else:
        img = img.convert(mode)
        fmt = "TIFF" if mode == "CMYK" else "PNG"
    p = _save(img, tmp_path / f"x.{fmt.lower()}", format=fmt)
    out = load_image(p)
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    if mode == "I;16":
        np.testing.assert_array_equal(out[:, :, 0], rgb[:, :, 0])


def test_cmyk_jpeg(tmp_path, rgb):
    p = _save(Image.fromarray(rgb).convert("CMYK"), tmp_path / "c.jpg", format="JPEG", quality=95)
    out = load_image(p)
    assert out.shape == (40, 60, 3)
    assert np.abs(out.astype(int) - rgb.astype(int)).mean() < 40


def test_alpha_composited_on_white(tmp_path):
    a = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    out = load_image(a)
    assert (out == 255).all()


def test_exif_orientation_is_honoured(tmp_path, rgb):
    img = Image.fromarray(rgb)  # 60 wide, 40 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    p = tmp_path / "rot.jpg"
    img.save(p, format="JPEG", exif=exif.tobytes())
    assert load_image(p).shape == (60, 40, 3)


def test_inputs_of_every_kind_agree(tmp_path, rgb):
    p = _save(Image.fromarray(rgb), tmp_path / "a.png", format="PNG")
    from_path = load_image(p)
    np.testing.assert_array_equal(from_path, rgb)
    np.testing.assert_array_equal(load_image(str(p)), rgb)
    np.testing.assert_array_equal(load_image(p.read_bytes()), rgb)
    np.testing.assert_array_equal(load_image(Image.open(p)), rgb)
    np.testing.assert_array_equal(load_image(rgb), rgb)
    np.testing.assert_array_equal(load_image(rgb.astype(np.float32) / 255.0), rgb)
    np.testing.assert_array_equal(load_image(rgb[:, :, 0])[:, :, 2], rgb[:, :, 0])


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 2), np.uint8), np.zeros((4,), np.uint8), np.zeros((0, 5, 3), np.uint8)])
def test_bad_arrays(bad):
    with pytest.raises(InvalidImageError):
        load_image(bad)


def test_float_out_of_range():
    with pytest.raises(InvalidImageError, match=r"\[0, 1\]"):
        load_image(np.full((3, 3, 3), 2.0, np.float32))


def test_max_pixels_is_configurable(rgb):
    with pytest.raises(InvalidImageError, match="megapixels"):
        load_image(rgb, max_pixels=100)
    assert load_image(rgb, max_pixels=rgb.shape[0] * rgb.shape[1]).shape == rgb.shape  # the limit itself is allowed


@pytest.mark.parametrize("bad", [0, -5, 1.5, "100", None, True])
def test_max_pixels_is_checked(rgb, bad):
    with pytest.raises(ValueError, match=r"The 'max_pixels' parameter of load_image must be an int in \[1, inf\)") as e:
        load_image(rgb, max_pixels=bad)
    assert not isinstance(e.value, InvalidImageError)  # a bad parameter, not a bad image
