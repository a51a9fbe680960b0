"""The CLI's shared helpers: per-input failures, their JSON shape, atomic outputs, exit codes."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from facenet.cli import main
from facenet.commands import common, verify
from facenet.errors import DataError, InvalidImageError, ItemError, UncalibratedError, UnknownModelError, UsageError


def _fake_load(path: str) -> np.ndarray:
    if path.startswith("bad"):
        raise InvalidImageError(path, "not a recognised image format")
    return np.zeros((2, 2, 3), np.uint8)


class _Pipe:
    load = staticmethod(_fake_load)


@pytest.mark.parametrize("loader", [_fake_load, _Pipe()])
def test_load_each_keeps_good_and_reports_bad(loader, capsys):
    ok, failed = common.load_each(loader, ["a.jpg", "bad1.jpg", "b.jpg", "bad2.jpg"])
    assert [p for p, _ in ok] == ["a.jpg", "b.jpg"] and all(img.shape == (2, 2, 3) for _, img in ok)
    assert failed == [ItemError(1, "bad1.jpg", "not a recognised image format"),
                      ItemError(3, "bad2.jpg", "not a recognised image format")]
    assert capsys.readouterr().err.splitlines() == [
        "facenet: error: bad1.jpg: not a recognised image format",
        "facenet: error: bad2.jpg: not a recognised image format"]


def test_load_each_lets_usage_errors_through():
    def load(path):
        raise UsageError("not an item failure")

    with pytest.raises(UsageError):
        common.load_each(load, ["a.jpg"])


def test_emit_result_adds_the_uniform_failed_list(capsys):
    common.emit_result({"x": np.float32(0.5), "out": None}, [ItemError(2, "c.png", "no such file")])
    assert json.loads(capsys.readouterr().out) == {
        "x": 0.5, "out": None, "failed": [{"index": 2, "path": "c.png", "error": "no such file"}]}
    common.emit_result({"x": 1}, [])
    assert json.loads(capsys.readouterr().out) == {"x": 1, "failed": []}


def test_atomic_output_replaces_whole_or_not_at_all(tmp_path):
    out = tmp_path / "result.bin"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with common.atomic_output(out) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".bin" and tmp.exists()
            tmp.write_bytes(b"half")
            raise RuntimeError("crash")
    assert out.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["result.bin"]

    with common.atomic_output(out) as tmp:
        tmp.write_bytes(b"new")
        assert out.read_bytes() == b"old"  # not visible until the block ends
    assert out.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["result.bin"]


def test_atomic_output_has_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        with common.atomic_output(tmp_path / "f.npz") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "f.npz").stat().st_mode) == 0o644  # not mkstemp's 0600


@pytest.mark.parametrize("exc, code", [
    (UncalibratedError("model 'm' has no calibrated threshold"), 2),
    (UnknownModelError("model", "x", ["sface"], []), 2),
    (UsageError("a usage error\nover two lines"), 2),
    (DataError("a broken data set"), 1),
    (PermissionError(13, "Permission denied", "/out.npz"), 1),
])
def test_main_reports_errors_in_one_line_with_the_right_code(monkeypatch, capsys, exc, code):
    def run(args):
        raise exc

    monkeypatch.setattr(verify, "run", run)
    assert main(["verify", "a.jpg", "b.jpg"]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("facenet: error: ") and "Traceback" not in err
    assert " ".join(str(exc).split()) in err
