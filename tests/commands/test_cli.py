"""The CLI as a user runs it: main(argv) -> exit code, JSON on stdout, one clear line per bad file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from facenet import model_config
from facenet.cli import main


def _photo(lfw_dir, name, i=1):
    return str(lfw_dir / name / f"{name}_{i:04d}.jpg")


@pytest.fixture
def bad_files(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "text.jpg"
    text.write_text("not an image")
    return [str(empty), str(text), str(tmp_path / "missing.png")]


def _verify_json(capsys, *argv):
    rc = main(["verify", *argv, "--json"])
    return rc, json.loads(capsys.readouterr().out)


def test_verify_json(lfw_dir, capsys):
    bush1, bush2 = _photo(lfw_dir, "George_W_Bush", 1), _photo(lfw_dir, "George_W_Bush", 2)
    rc_same, same = _verify_json(capsys, bush1, bush2)
    rc_diff, diff = _verify_json(capsys, bush1, _photo(lfw_dir, "Serena_Williams"))
    assert rc_same == rc_diff == 0 and same["failed"] == diff["failed"] == []
    assert same["threshold"] == diff["threshold"] == model_config("sface").threshold  # the calibrated one
    assert same["same"] is True and diff["same"] is False
    assert same["distance"] < same["threshold"] < diff["distance"]
    assert same["face_found"] == [True, True] and same["model"] == "sface" and same["image_b"] == bush2


def test_verify_text_different(lfw_dir, capsys):
    rc = main(["verify", _photo(lfw_dir, "George_W_Bush"), _photo(lfw_dir, "Serena_Williams")])
    assert rc == 0 and "different people" in capsys.readouterr().out


def test_detect_json_and_draw(lfw_dir, tmp_path, capsys, bad_files):
    draw = tmp_path / "drawn.png"
    rc = main(["detect", _photo(lfw_dir, "Tony_Blair"), *bad_files, "--json", "--draw", str(draw)])
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert rc == 1  # some inputs failed, the good one still succeeded
    assert len(out["images"]) == 1 and len(out["images"][0]["faces"]) >= 1
    x1, y1, x2, y2 = out["images"][0]["faces"][0]["box"]  # highest score first: the central face
    assert x1 < 125 < x2 and y1 < 125 < y2
    assert [f["path"] for f in out["failed"]] == bad_files  # the uniform failure shape, in input order
    assert [f["index"] for f in out["failed"]] == [1, 2, 3] and all(f["error"] for f in out["failed"])
    err_lines = [l for l in cap.err.splitlines() if l.strip()]
    assert len(err_lines) == 3 and all(l.startswith("facenet: error: ") for l in err_lines)
    assert "Traceback" not in cap.err
    assert len(list(tmp_path.glob("drawn*.png"))) == 1  # one drawing: the one image that loaded


def test_embed_npz_with_list_and_no_face(lfw_dir, tmp_path, capsys, bad_files):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((120, 120, 3), 200, np.uint8)).save(blank)
    lst = tmp_path / "list.txt"
    lst.write_text(f"# two photos\n{_photo(lfw_dir, 'Colin_Powell')}\n{blank}\n")
    out = tmp_path / "emb.npz"
    rc = main(["embed", _photo(lfw_dir, "Tony_Blair"), bad_files[0], "--list", str(lst), "--out", str(out), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert rc == 1 and [sorted(f) for f in summary["failed"]] == [["error", "index", "path"]]
    assert summary["failed"][0]["index"] == 1 and summary["failed"][0]["path"] == bad_files[0]
    assert "empty" in summary["failed"][0]["error"]
    z = np.load(out)
    assert z["embeddings"].shape == (3, 128) and z["embeddings"].dtype == np.float32
    assert list(z["face_found"]) == [True, True, False]
    assert z["paths"][2] == str(blank) and summary["no_face"] == [str(blank)]


def test_matrix_figure(lfw_dir, tmp_path, capsys):
    fig = tmp_path / "m.png"
    imgs = [_photo(lfw_dir, n, i) for n in ("George_W_Bush", "Colin_Powell") for i in (1, 2)]
    rc = main(["matrix", *imgs, "--out", str(fig), "--json"])
    out = json.loads(capsys.readouterr().out)
    d = np.array(out["distances"])
    assert rc == 0 and fig.stat().st_size > 10_000 and d.shape == (4, 4) and out["failed"] == []
    assert d[0, 1] < out["threshold"] < d[0, 2]


def test_models_lists_everything(capsys):
    assert main(["models", "--json", "--check"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {(r["kind"], r["name"]) for r in rows}
    assert {("detector", "yunet"), ("detector", "mtcnn"), ("embedder", "sface")} <= names
    assert all(r["weights_ok"] for r in rows)


@pytest.mark.parametrize("option, name, hint", [("--embedder", "sfac", "sface"), ("--detector", "yunett", "yunet")])
def test_unknown_model_is_a_one_line_usage_error(lfw_dir, capsys, option, name, hint):
    rc = main(["verify", _photo(lfw_dir, "Tony_Blair"), _photo(lfw_dir, "Tony_Blair", 2), option, name, "--json"])
    cap = capsys.readouterr()
    assert rc == 2  # a usage error, as the README says
    assert cap.err.splitlines() == [cap.err.strip()] and cap.err.startswith("facenet: error: ")
    assert f"Did you mean {hint!r}" in cap.err and cap.out == ""


def test_usage_error_exit_code(capsys):
    assert main(["verify", "only-one.jpg"]) == 2
    assert main([]) == 2


def test_evaluate_one_fold_json(lfw_dir, tmp_path, capsys):
    roc = tmp_path / "roc.png"
    rc = main(["evaluate", "lfw", "--root", str(lfw_dir), "--folds", "0", "--json", "--plot", str(roc), "--no-progress"])
    m = json.loads(capsys.readouterr().out)
    assert rc == 0 and m["n_pairs"] == 600 and roc.exists()
    # stated accuracy floor for one fold at the View-1-calibrated threshold
    assert m["accuracy_mean"] >= 0.985 and m["auc"] > 0.995
    for key in ("accuracy_std", "eer", "no_face", "images_per_second"):
        assert key in m


def test_verify_with_a_pytorch_embedder(lfw_dir, capsys):
    """The ported CASIA-WebFace Inception-ResNet-v1 (PyTorch) through the CLI, at a threshold the
    user gives: a same-person pair falls below it and a different-person pair above it."""
    model = ["--embedder", "facenet-casia-irv1", "--detector", "mtcnn", "--threshold", "1.0"]
    bush1 = _photo(lfw_dir, "George_W_Bush", 1)
    rc_same, same = _verify_json(capsys, bush1, _photo(lfw_dir, "George_W_Bush", 2), *model)
    rc_diff, diff = _verify_json(capsys, bush1, _photo(lfw_dir, "Serena_Williams"), *model)
    assert rc_same == rc_diff == 0 and same["model"] == diff["model"] == model_config("facenet-casia-irv1").name
    assert same["threshold"] == diff["threshold"] == 1.0
    assert same["distance"] < 1.0 < diff["distance"] and same["same"] and not diff["same"]


def test_given_threshold_verifies_with_an_uncalibrated_model(lfw_dir, capsys):
    rc, out = _verify_json(capsys, _photo(lfw_dir, "Tony_Blair"), _photo(lfw_dir, "Tony_Blair", 2),
                           "--embedder", "nns2", "--threshold", "0.5")
    assert rc == 0 and out["model"] == "nns2" and out["threshold"] == 0.5 and out["failed"] == []
    assert out["same"] is (out["distance"] < 0.5)
