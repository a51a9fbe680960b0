"""`facenet align`: folder in, aligned crops out, resumable, with a report."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from facenet.align.folder import align_folder
from facenet.cli import main


@pytest.fixture
def raw_tree(tmp_path, lfw_dir):
    src = tmp_path / "raw"
    for name in ("Colin_Powell", "Serena_Williams"):
        (src / name).mkdir(parents=True)
        for i in (1, 2):
            shutil.copy(lfw_dir / name / f"{name}_{i:04d}.jpg", src / name)
    odd = src / "odd"
    odd.mkdir()
    Image.fromarray(np.full((100, 100, 3), 128, np.uint8)).save(odd / "blank.png")
    (odd / "broken.jpg").write_text("not an image")
    a = np.asarray(Image.open(lfw_dir / "Hugo_Chavez" / "Hugo_Chavez_0001.jpg"))
    b = np.asarray(Image.open(lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"))
    Image.fromarray(np.concatenate([a, b], 1)).save(odd / "two.jpg")
    return src


def test_align_folder_report_and_resume(raw_tree, tmp_path):
    dst = tmp_path / "aligned"
    r = align_folder(raw_tree, dst, detector="yunet", size=96, progress=False)
    assert r.aligned == 5 and r.already_done == 0
    assert r.no_face == ["odd/blank.png"] and r.several_faces == ["odd/two.jpg"]
    assert len(r.failed) == 1 and r.failed[0].startswith("odd/broken.jpg: not a recognised image")
    crops = sorted(dst.glob("*/*.png"))
    assert len(crops) == 5 and not list(dst.glob("*/*.part*"))
    assert all(Image.open(c).size == (96, 96) for c in crops)
    assert json.loads((dst / "align_report.json").read_text())["counts"]["aligned"] == 5
    again = align_folder(raw_tree, dst, detector="yunet", size=96, progress=False)
    assert again.aligned == 0 and again.already_done == 5


def test_policy_skip_and_workers(raw_tree, tmp_path):
    dst = tmp_path / "aligned"
    r = align_folder(raw_tree, dst, detector="yunet", policy="skip", workers=2, progress=False)
    assert r.skipped_several == ["odd/two.jpg"] and r.aligned == 4
    assert not (dst / "odd" / "two.png").exists()


def test_cli_align(raw_tree, tmp_path, capsys):
    rc = main(["align", str(raw_tree), str(tmp_path / "out"), "--detector", "yunet", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and out["counts"]["aligned"] == 5 and out["counts"]["failed"] == 1


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        align_folder(tmp_path / "missing", tmp_path / "o")
    with pytest.raises(ValueError, match="'policy' parameter"):
        align_folder(tmp_path, tmp_path / "o", policy="biggest")


def test_face_folder_dataset_and_exclusion(raw_tree, tmp_path):
    from facenet.data.folder import FaceFolder

    dst = tmp_path / "aligned"
    align_folder(raw_tree, dst, detector="yunet", size=64, progress=False)
    ds = FaceFolder(dst, (64, 64), (127.5,) * 3, (128.0,) * 3, min_images=2)
    assert ds.classes == ["Colin_Powell", "Serena_Williams"] and len(ds) == 4
    x, y = ds[0]
    assert x.shape == (3, 64, 64) and y == 0 and float(x.abs().max()) <= 1.0
    assert FaceFolder(dst, (64, 64), (127.5,) * 3, (128.0,) * 3, min_images=2, exclude=["Colin_Powell"]).classes == ["Serena_Williams"]
    with pytest.raises(ValueError, match="not folders"):
        FaceFolder(dst, (64, 64), (127.5,) * 3, (128.0,) * 3, exclude=["Nobody"])
