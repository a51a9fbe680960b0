"""`facenet calibrate` as a user runs it: a labelled folder, a (tiny) LFW View 1 layout, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facenet.cli import main


def _synthetic_folder(root: Path, sizes: dict[str, int], suffix: str = ".png") -> Path:
    """Identity folders of random-texture images (no face in them: the fallback crop is used)."""
    rng = np.random.default_rng(1)
    for k, (name, n) in enumerate(sizes.items()):
        (root / name).mkdir(parents=True)
        base = rng.integers(0, 255, (3,), dtype=np.uint8)
        for j in range(n):
            img = np.clip(base + rng.normal(0, 40, (96, 96, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / name / f"{name}_{j + 1:04d}{suffix}")
    return root


def test_folder_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _synthetic_folder(tmp_path / "faces", {"ann": 3, "bob": 2, "cy": 2})
    rc = main(["calibrate", "--folder", str(root), "--json", "--no-progress"])
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert rc == 0
    assert out["n_pairs"] == 10 and out["n_same"] == out["n_diff"] == 5 and out["n_images"] == 7
    assert out["target"] == "accuracy" and 0.0 < out["threshold"] and 0.0 <= out["far"] <= 1.0
    assert out["no_face"] == 7 and "no face found in 7 of 7 images" in cap.err  # counted and said
    assert out["embedder"] == "sface" and out["detector"] == "yunet" and out["heldout"] == []


def test_folder_text_with_far(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _synthetic_folder(tmp_path / "faces", {"ann": 3, "bob": 3})
    rc = main(["calibrate", "--folder", str(root), "--far", "0.2", "--no-progress", "--max-pairs", "6"])
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert rc == 0
    assert first.startswith("threshold ") and "(squared L2): accuracy " in first and ", FAR " in first
    assert f"on 6 pairs from {root}" in first
    far = float(first.split(", FAR ")[1].split("%")[0])
    assert far <= 20.0 and "FAR at most 0.2" in out


def test_real_photos(lfw_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "mine"
    for name in ("George_W_Bush", "Colin_Powell", "Tony_Blair"):
        (root / name).mkdir(parents=True)
        for i in (1, 2):
            (root / name / f"{i}.jpg").write_bytes((lfw_dir / name / f"{name}_{i:04d}.jpg").read_bytes())
    rc = main(["calibrate", "--folder", str(root), "--json", "--no-progress"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["no_face"] == 0 and out["n_same"] == out["n_diff"] == 3
    assert out["accuracy"] == 1.0 and out["far"] == 0.0  # three easy people, well apart


def _tiny_view1(root: Path) -> Path:
    """An LFW-shaped folder with 2 + 2 pairs in each View 1 file (synthetic JPEGs)."""
    names = ["Ann_A", "Bob_B", "Cy_C", "Di_D"]
    _synthetic_folder(root, {n: 2 for n in names}, suffix=".jpg")
    (root / "pairsDevTrain.txt").write_text("2\nAnn_A 1 2\nBob_B 1 2\nAnn_A 1 Bob_B 2\nBob_B 1 Ann_A 2\n")
    (root / "pairsDevTest.txt").write_text("2\nCy_C 1 2\nDi_D 1 2\nCy_C 1 Di_D 1\nDi_D 2 Cy_C 2\n")
    return root


def test_lfw_view1_layout_with_heldout_halves(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _tiny_view1(tmp_path / "lfw")
    assert main(["calibrate", "--lfw-root", str(root), "--json", "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["source"] == "LFW View 1" and out["n_pairs"] == 8 and out["n_images"] == 8
    assert [(h["half"], h["fitted_on"], h["n_pairs"]) for h in out["heldout"]] == [
        ("pairsDevTrain", "pairsDevTest", 4), ("pairsDevTest", "pairsDevTrain", 4)]
    assert main(["calibrate", "--lfw-root", str(root), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "on 8 LFW View 1 pairs" in text.splitlines()[0]
    assert "held out     pairsDevTest (4 pairs) at pairsDevTrain's threshold" in text


def test_default_source_is_view1_under_facenet_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    _tiny_view1(tmp_path / "data" / "lfw")
    monkeypatch.setenv("FACENET_DATA", str(tmp_path / "data"))
    assert main(["calibrate", "--json", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["n_pairs"] == 8
    monkeypatch.setenv("FACENET_DATA", str(tmp_path / "nowhere"))
    assert main(["calibrate", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("facenet: error: LFW not found at ") and "--lfw-root" in err


@pytest.mark.parametrize("argv, code, message", [
    (["--target", "far"], 2, "The 'far' parameter of ThresholdCalibrator must be a float in [0, 1) when target='far'"),
    (["--far", "1.5"], 2, "The 'far' parameter of ThresholdCalibrator must be a float in [0, 1) or None. Got 1.5"),
    (["--target", "eer"], 2, "invalid choice: 'eer'"),
    (["--folder", "a", "--lfw-root", "b"], 2, "not allowed with argument"),
    (["--folder", "/nonexistent/faces"], 1, "facenet: error: Calibration folder not found: /nonexistent/faces"),
    (["--folder", ".", "--max-pairs", "1"], 2, "The 'max_pairs' parameter of folder_pairs must be an int in [2, inf)"),
])
def test_errors(argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["calibrate", *argv, "--no-progress"]) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_calibrate_an_uncalibrated_model(lfw_dir, tmp_path, capsys):
    """Calibration is how an uncalibrated model gets a threshold: it must not need one first."""
    import shutil

    from facenet.cli import main

    for person in ("Aaron_Peirsol", "Abdullah_Gul"):
        (tmp_path / person).mkdir()
        for p in sorted((lfw_dir / person).glob("*.jpg"))[:2]:
            shutil.copy(p, tmp_path / person / p.name)
    assert main(["calibrate", "--folder", str(tmp_path), "--embedder", "nns2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "threshold in use now none (the model is uncalibrated)" in out
    assert main(["calibrate", "--folder", str(tmp_path), "--embedder", "nns2", "--no-progress", "--json"]) == 0
    import json

    res = json.loads(capsys.readouterr().out)
    assert res["current_threshold"] is None and 0.0 <= res["threshold"] <= 4.0


def _people_folder(lfw_dir: Path, root: Path, n_people: int) -> Path:
    """n_people LFW people with two photos each, copied into root/<person>/."""
    taken = 0
    for person in sorted(p for p in lfw_dir.iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jpg"))[:2]
        if len(photos) < 2:
            continue
        (root / person.name).mkdir(parents=True)
        for p in photos:
            (root / person.name / p.name).write_bytes(p.read_bytes())
        taken += 1
        if taken == n_people:
            return root
    raise AssertionError("not enough LFW people with two photos")


def test_calibration_stored_with_a_gallery(lfw_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _people_folder(lfw_dir, tmp_path / "mine", 22)
    g = str(tmp_path / "g.gallery")
    rc = main(["calibrate", "--folder", str(root), "--far", "0.01", "--gallery", g, "--fpir", "0.001", "--json", "--no-progress"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    st = out["gallery"]
    assert st["verification_threshold"] == out["threshold"] and st["fpir_target"] == 0.001
    assert st["impostor_model"]["identities"] == 22 and st["impostor_model"]["photos"] == 44
    sizes = [st["identification_threshold_by_size"][k] for k in ("10", "100", "1000", "10000", "100000")]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] < 4.0  # stricter as the gallery grows
    assert "calibrated on" in st["identification_source"]
    a, b = sorted(root.glob("*/*.jpg"))[:2]  # two photos of the first person
    assert main(["verify", str(a), str(b), "--gallery", g, "--json"]) == 0
    v = json.loads(capsys.readouterr().out)
    assert v["threshold"] == pytest.approx(out["threshold"])  # the stored one, not the model's 1.34
    assert main(["gallery", g, "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["verification"]["far"] <= 0.01 and "calibrated on" in stats["threshold_source"]


def test_calibration_errors_with_a_gallery(lfw_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _people_folder(lfw_dir, tmp_path / "few", 3)
    assert main(["calibrate", "--folder", str(root), "--fpir", "0.01", "--no-progress"]) == 2  # --fpir needs --gallery
    assert "--gallery" in capsys.readouterr().err
    g = str(tmp_path / "g.gallery")
    assert main(["calibrate", "--folder", str(root), "--gallery", g, "--no-progress"]) == 0
    cap = capsys.readouterr()
    assert "too few for an identification model" in cap.err and f"stored with {g}" in cap.out
    empty = str(tmp_path / "empty.gallery")
    photo = str(next(root.glob("*/*.jpg")))
    assert main(["enroll", "--gallery", empty, "--name", "x", "--largest", photo]) == 0
    capsys.readouterr()
    assert main(["verify", photo, photo, "--gallery", empty]) == 2
    assert "no stored calibration" in capsys.readouterr().err


def test_preset_picks_the_embedder(lfw_dir: Path, capsys: pytest.CaptureFixture) -> None:
    from facenet.commands.common import PRESETS

    a = lfw_dir / "George_W_Bush" / "George_W_Bush_0001.jpg"
    b = lfw_dir / "George_W_Bush" / "George_W_Bush_0002.jpg"
    assert main(["verify", str(a), str(b), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == PRESETS["fast"] == "sface"
    assert main(["verify", str(a), str(b), "--preset", "accurate", "--embedder", "sface", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "sface"  # --embedder wins
    assert main(["verify", str(a), str(b), "--preset", "nope"]) == 2
