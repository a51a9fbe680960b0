"""`facenet evaluate lfw` end to end on a tiny pairs file over a handful of real LFW photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facenet.cli import main

KEYS = ["protocol", "n_pairs", "n_images", "n_folds", "accuracy_mean", "accuracy_std", "threshold_mean", "thresholds",
        "val_mean", "val_std", "far_target", "far_actual", "auc", "eer", "no_face", "seconds", "images_per_second",
        "detector", "embedder", "flip", "folds"]

# "2 2": two folds, each 2 same-person lines then 2 different-person lines (the pairs.txt layout).
PAIRS = """2 2
George_W_Bush 1 2
Colin_Powell 1 2
George_W_Bush 1 Colin_Powell 1
Tony_Blair 1 Serena_Williams 1
Tony_Blair 1 2
Serena_Williams 1 2
George_W_Bush 2 Tony_Blair 2
No_Face 1 Serena_Williams 2
"""


@pytest.fixture(scope="module")
def tiny_lfw(lfw_dir: Path, tmp_path_factory) -> tuple[Path, Path]:
    """(root, pairs file): 8 real LFW photos (links) and one blank image where no face can be found."""
    root = tmp_path_factory.mktemp("lfw")
    for name in ("George_W_Bush", "Colin_Powell", "Tony_Blair", "Serena_Williams"):
        (root / name).mkdir()
        for i in (1, 2):
            f = f"{name}_{i:04d}.jpg"
            (root / name / f).symlink_to(lfw_dir / name / f)
    (root / "No_Face").mkdir()
    Image.fromarray(np.full((250, 250, 3), 128, np.uint8)).save(root / "No_Face" / "No_Face_0001.jpg")
    pairs = root / "tiny_pairs.txt"
    pairs.write_text(PAIRS)
    return root, pairs


def _evaluate(tiny_lfw, capsys, *extra: str) -> tuple[int, str, str]:
    root, pairs = tiny_lfw
    rc = main(["evaluate", "lfw", "--root", str(root), "--pairs", str(pairs), "--no-progress", *extra])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_two_folds_json(tiny_lfw, tmp_path, capsys):
    failures = tmp_path / "failures.txt"
    rc, out, _ = _evaluate(tiny_lfw, capsys, "--json", "--failures", str(failures))
    m = json.loads(out)
    assert rc == 0 and list(m) == KEYS
    assert (m["n_pairs"], m["n_folds"], m["n_images"], m["no_face"]) == (8, 2, 9, 1)
    assert m["protocol"].startswith("2-fold") and len(m["folds"]) == len(m["thresholds"]) == 2
    assert [row["n_pairs"] for row in m["folds"]] == [4, 4]
    assert m["accuracy_std"] is not None and 0.0 <= m["accuracy_mean"] <= 1.0
    assert (m["detector"], m["embedder"], m["flip"]) == ("yunet", "sface", False)
    assert m["images_per_second"] > 0
    assert failures.read_text().splitlines() == [str(tiny_lfw[0] / "No_Face" / "No_Face_0001.jpg")]


def test_one_fold_json_same_keys_at_the_calibrated_threshold(tiny_lfw, capsys):
    from facenet import model_config

    rc, out, _ = _evaluate(tiny_lfw, capsys, "--folds", "0", "--json")
    m = json.loads(out)
    calibrated = model_config("sface").verification_threshold(False)
    assert rc == 0 and list(m) == KEYS
    assert (m["n_pairs"], m["n_folds"], m["n_images"], m["no_face"]) == (4, 1, 6, 0)
    assert m["protocol"].startswith("calibrated threshold")
    assert m["thresholds"] == [pytest.approx(calibrated)] and m["accuracy_std"] is None and m["val_std"] is None
    # four clear pairs of well-known faces: all right at the View-1-calibrated threshold
    assert m["accuracy_mean"] == 1.0 and m["auc"] == 1.0


def test_text_output(tiny_lfw, capsys):
    rc, out, _ = _evaluate(tiny_lfw, capsys, "--folds", "1", "--threshold", "1.0")
    assert rc == 0
    assert "LFW 4 pairs, 1 fold, 6 images (yunet + sface)" in out
    assert "calibrated threshold: one fold, accuracy at the threshold 1 fixed beforehand" in out
    assert "no face      1 of 6 images" in out and "images/s" in out


def test_unknown_fold_is_one_error_line(tiny_lfw, capsys):
    rc, out, err = _evaluate(tiny_lfw, capsys, "--folds", "7", "--json")
    assert rc != 0 and out == ""
    assert err.startswith("facenet: error: --folds 7: no such fold") and "Traceback" not in err


def test_one_fold_with_an_uncalibrated_model_reports_no_accuracy(tiny_lfw, capsys):
    # nns2 is an untrained architecture: no calibrated threshold, so no one-fold accuracy is claimed
    rc, out, _ = _evaluate(tiny_lfw, capsys, "--folds", "0", "--embedder", "nns2", "--json")
    m = json.loads(out)
    assert rc == 0 and list(m) == KEYS and m["embedder"] == "nns2"
    assert m["protocol"].startswith("one fold, no calibrated threshold")
    assert m["accuracy_mean"] is None and m["thresholds"] == [None] and m["folds"][0]["accuracy"] is None
    assert m["auc"] is not None and m["val_mean"] is not None
