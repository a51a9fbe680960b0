"""The CLI tried as a new user would: the path --out names is the file written (whole or not at
all), usage errors exit 2 with one line, and every --json reports failed inputs the same way."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facenet.cli import main


def _photo(lfw_dir, name, i=1):
    return str(lfw_dir / name / f"{name}_{i:04d}.jpg")


def _one_error_line(err: str) -> str:
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("facenet: error: ") and "Traceback" not in err, err
    return lines[0]


# --- --out: exactly the named path, atomically ------------------------------------------------

@pytest.mark.parametrize("name", ["emb.txt", "emb"])
def test_embed_writes_exactly_the_named_path(lfw_dir, tmp_path, capsys, name):
    out = tmp_path / name
    rc = main(["embed", _photo(lfw_dir, "Tony_Blair"), "--out", str(out), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert rc == 0 and summary["out"] == str(out) and summary["failed"] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no .npz added, no temporary left
    z = np.load(out)
    assert z["embeddings"].shape == (1, 128) and str(z["model"]) == "sface"


def test_embed_text_output_names_the_written_file(lfw_dir, tmp_path, capsys):
    out = tmp_path / "emb.txt"
    assert main(["embed", _photo(lfw_dir, "Tony_Blair"), "--out", str(out)]) == 0
    assert f"to {out};" in capsys.readouterr().out and out.is_file()


def test_embed_crash_while_writing_leaves_the_old_file(lfw_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "emb.npz"
    out.write_bytes(b"previous run")

    def half_then_fail(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", half_then_fail)
    rc = main(["embed", _photo(lfw_dir, "Tony_Blair"), "--out", str(out)])
    assert rc == 1 and "No space left on device" in _one_error_line(capsys.readouterr().err)
    assert out.read_bytes() == b"previous run" and [p.name for p in tmp_path.iterdir()] == ["emb.npz"]


def test_matrix_writes_exactly_the_named_path(lfw_dir, tmp_path, capsys):
    fig = tmp_path / "fig.pdf"
    imgs = [_photo(lfw_dir, "Tony_Blair"), _photo(lfw_dir, "Colin_Powell")]
    rc = main(["matrix", *imgs, "--out", str(fig), "--json"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["out"] == str(fig)
    assert [p.name for p in tmp_path.iterdir()] == ["fig.pdf"] and fig.read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize("out", ["fig", "fig.txt"])
def test_matrix_refuses_an_unknown_figure_format_before_any_work(tmp_path, capsys, out):
    # the images do not exist: the usage error comes first, so nothing was loaded
    rc = main(["matrix", "a.jpg", "b.jpg", "--out", str(tmp_path / out)])
    line = _one_error_line(capsys.readouterr().err)
    assert rc == 2 and ".png" in line and not any(tmp_path.iterdir())


def test_out_is_a_folder_is_a_usage_error(tmp_path, capsys):
    assert main(["embed", "a.jpg", "--out", str(tmp_path)]) == 2
    assert "is a folder" in _one_error_line(capsys.readouterr().err)


def test_unwritable_output_is_one_line_not_a_traceback(lfw_dir, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = main(["embed", _photo(lfw_dir, "Tony_Blair"), "--out", str(blocker / "emb.npz")])
    assert rc == 1 and str(blocker) in _one_error_line(capsys.readouterr().err)


# --- usage errors: exit 2, one line -----------------------------------------------------------

def test_missing_list_file_is_a_usage_error(tmp_path, capsys):
    assert main(["embed", "--list", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "e.npz")]) == 2
    assert "nope.txt" in _one_error_line(capsys.readouterr().err)


def test_embed_without_images_is_a_usage_error(tmp_path, capsys):
    assert main(["embed", "--out", str(tmp_path / "e.npz")]) == 2
    assert "no images given" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("command", ["verify", "matrix"])
def test_uncalibrated_model_is_refused_without_a_threshold(tmp_path, capsys, command):
    """nns2 ships no weights and no calibrated threshold: no verdict at a silent default. The
    refusal comes before any image is read (these do not exist)."""
    argv = [command, "a.jpg", "b.jpg", "--embedder", "nns2", "--json"]
    if command == "matrix":
        argv += ["--out", str(tmp_path / "m.png")]
    rc = main(argv)
    cap = capsys.readouterr()
    line = _one_error_line(cap.err)
    assert rc == 2 and cap.out == "" and not any(tmp_path.iterdir())
    assert "'nns2'" in line and "no calibrated" in line and "--threshold T" in line and "facenet calibrate" in line


# --- one failure shape in every --json --------------------------------------------------------

def test_verify_json_with_a_bad_input_reports_it(lfw_dir, tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    good = _photo(lfw_dir, "Tony_Blair")
    rc = main(["verify", good, str(bad), "--json"])
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert rc == 1
    assert out["failed"] == [{"index": 1, "path": str(bad), "error": out["failed"][0]["error"]}]
    assert "image" in out["failed"][0]["error"]
    assert out["distance"] is None and out["same"] is None and out["face_found"] is None
    assert out["image_a"] == good and out["image_b"] == str(bad) and out["model"] == "sface"
    assert isinstance(out["threshold"], float)
    assert _one_error_line(cap.err) == f"facenet: error: {bad}: {out['failed'][0]['error']}"


def test_matrix_json_with_bad_inputs(lfw_dir, tmp_path, capsys):
    fig = tmp_path / "m.png"
    good = [_photo(lfw_dir, "Tony_Blair"), _photo(lfw_dir, "Colin_Powell")]
    missing = str(tmp_path / "missing.jpg")
    rc = main(["matrix", good[0], missing, good[1], "--out", str(fig), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and fig.is_file() and out["paths"] == good and np.array(out["distances"]).shape == (2, 2)
    assert [(f["index"], f["path"]) for f in out["failed"]] == [(1, missing)]

    rc = main(["matrix", good[0], missing, "--out", str(tmp_path / "none.png"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and out["out"] is None and out["distances"] is None and out["paths"] == good[:1]
    assert [f["path"] for f in out["failed"]] == [missing] and not (tmp_path / "none.png").exists()
