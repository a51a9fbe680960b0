"""`facenet detect`: drawings never overwrite each other; failures in the uniform JSON shape."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from facenet.cli import main
from facenet.commands.detect import draw_targets


def test_draw_targets_are_unique():
    assert draw_targets("d.png", ["a/img.jpg"]) == [Path("d.png")]
    assert draw_targets("out/d", ["a/img.jpg"]) == [Path("out/d.png")]
    t = draw_targets("d.png", ["a/img.jpg", "b/img.jpg", "c/img_2.jpg", "x.jpg"])
    assert len(set(t)) == 4
    assert t[0] == Path("d_img.png") and t[1] == Path("d_img_2.png") and t[3] == Path("d_x.png")


def test_detect_two_images_with_one_name_draws_both(lfw_dir, tmp_path, capsys):
    src = lfw_dir / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        shutil.copy(src, tmp_path / d / "img.jpg")
    out = tmp_path / "draw" / "d.png"
    code = main(["detect", str(tmp_path / "a" / "img.jpg"), str(tmp_path / "b" / "img.jpg"), "--draw", str(out), "--json"])
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    drawings = [Path(r["drawing"]) for r in res["images"]]
    assert len(set(drawings)) == 2 and all(p.is_file() and p.stat().st_size > 0 for p in drawings)
    assert res["failed"] == []


def test_detect_reports_bad_inputs_and_keeps_the_rest(lfw_dir, tmp_path, capsys):
    bad = tmp_path / "empty.jpg"
    bad.write_bytes(b"")
    good = lfw_dir / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"
    assert main(["detect", str(good), str(bad), "--json"]) == 1
    captured = capsys.readouterr()
    res = json.loads(captured.out)
    assert len(res["images"]) == 1 and len(res["images"][0]["faces"]) == 1
    assert res["failed"] == [{"index": 1, "path": str(bad), "error": res["failed"][0]["error"]}]
    assert "empty" in res["failed"][0]["error"] and f"facenet: error: {bad}" in captured.err


def test_unknown_detector_is_a_usage_error(lfw_dir, capsys):
    assert main(["detect", str(lfw_dir / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"), "--detector", "yunett"]) == 2
    assert "Did you mean 'yunet'" in capsys.readouterr().err
