"""The harmonic gallery from the command line, with the real models (SFace, fused) on a few LFW
photos: an SFace gallery queried with fused, a lazy fused enrolment, per-model stats, refusals,
`facenet gallery G upgrade` with photos missing then present."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from facenet.cli import main

PEOPLE = {"Aaron_Peirsol": 3, "George_W_Bush": 2, "Serena_Williams": 2}


@pytest.fixture(scope="module")
def photos(lfw_dir: Path) -> dict[str, list[Path]]:
    return {p: sorted((lfw_dir / p).glob("*.jpg"))[:n] for p, n in PEOPLE.items()}


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_sface_gallery_with_fused_queries_then_upgraded(photos, tmp_path, capsys):
    G = str(tmp_path / "g.gallery")
    a, b, s = photos["Aaron_Peirsol"], photos["George_W_Bush"], photos["Serena_Williams"]
    assert main(["enroll", "--gallery", G, "--name", "Aaron", str(a[0]), str(a[1])]) == 0
    assert main(["enroll", "--gallery", G, "--name", "Bush", str(b[0])]) == 0
    capsys.readouterr()
    # fused queries against SFace faces: mixed pairs at the declared threshold
    assert main(["identify", "--gallery", G, "--embedder", "fused", str(a[2]), str(s[0]), "--json"]) == 0
    out = _json(capsys)
    assert [im["faces"][0]["name"] for im in out["images"]] == ["Aaron", "unknown"]
    assert "fused queries vs sface faces" in out["threshold_source"] and "declared by fused" in out["threshold_source"]
    # the lazy path: a fused enrolment adds a fused face
    assert main(["enroll", "--gallery", G, "--name", "Serena", str(s[0]), "--embedder", "fused"]) == 0
    capsys.readouterr()
    assert main(["gallery", G, "stats", "--json"]) == 0
    st = _json(capsys)
    assert {m["model"]: m["faces"] for m in st["faces_by_model"]} == {"sface": 3, "fused": 1}
    assert st["model"]["model"] == "sface"
    assert main(["gallery", G, "stats"]) == 0
    assert "faces by fused" in capsys.readouterr().out
    assert main(["identify", "--gallery", G, "--embedder", "fused", str(s[1]), str(b[1]), "--json"]) == 0
    assert [im["faces"][0]["name"] for im in _json(capsys)["images"]] == ["Serena", "Bush"]  # across kinds
    assert main(["identify", "--gallery", G, str(s[1]), "--json"]) == 0  # SFace queries meet the fused face too
    assert _json(capsys)["images"][0]["faces"][0]["name"] == "Serena"
    # undeclared: flip is not covered by the declaration; one line naming both models, exit 2
    assert main(["identify", "--gallery", G, "--embedder", "fused", "--flip", str(a[2])]) == 2
    err = capsys.readouterr().err
    assert "sface" in err and "fused" in err and "flip on" in err and "Traceback" not in err
    # upgrade with some photos missing: Bush's photo is not under the folder
    some = tmp_path / "photos_some"
    some.mkdir()
    for p in a[:2]:
        shutil.copy(p, some / p.name)
    assert main(["gallery", G, "upgrade", "--model", "fused", "--photos", str(some), "--json"]) == 0
    r = _json(capsys)
    assert (r["upgraded"], r["already"], r["left"], r["complete"]) == (2, 1, 1, False)
    assert r["left_by_reason"] == {"photo not found": 1}
    # all the photos: every face is fused, so the gallery becomes fused
    every = tmp_path / "photos_all"
    shutil.copytree(some, every / "aaron")
    (every / "bush").mkdir()
    shutil.copy(b[0], every / "bush" / b[0].name)
    assert main(["gallery", G, "upgrade", "--model", "fused", "--photos", str(every)]) == 0
    text = capsys.readouterr().out
    assert "upgraded 1 face(s) to fused; 3 already" in text and "now fused" in text
    assert main(["gallery", G, "stats", "--json"]) == 0
    st = _json(capsys)
    assert st["model"]["model"] == "fused" and {m["model"]: m["faces"] for m in st["faces_by_model"]} == {"fused": 4}
    assert main(["identify", "--gallery", G, str(a[2]), str(b[1]), "--json"]) == 0  # its own model now: fused
    assert [im["faces"][0]["name"] for im in _json(capsys)["images"]] == ["Aaron", "Bush"]
    assert main(["gallery", G, "upgrade", "--model", "sface", "--photos", str(tmp_path / "nowhere")]) == 1
    assert "no such folder" in capsys.readouterr().err


def test_undeclared_model_and_foreign_calibration(photos, tmp_path, capsys):
    from facenet.gallery.gallery import Gallery

    G = str(tmp_path / "g.gallery")
    a = photos["Aaron_Peirsol"]
    with Gallery.open(G, model="sface") as g:
        g.enroll("Aaron", a[0])
        g.store_calibration({"threshold": 1.3, "far": 0.001, "model": g.identity.to_dict(), "source": "test pairs"})
    assert main(["gallery", G, "upgrade", "--model", "sface", "--photos", str(tmp_path)]) == 0  # nothing to do
    assert "0 face(s) to sface; 1 already" in capsys.readouterr().out
    # verify --gallery with a harmonic model: the stored calibration is SFace's, not fused's
    assert main(["verify", str(a[0]), str(a[1]), "--gallery", G, "--preset", "accurate"]) == 2
    err = capsys.readouterr().err
    assert "calibration stored" in err and "fused" in err
    assert main(["verify", str(a[0]), str(a[1]), "--gallery", G, "--json"]) == 0
    assert _json(capsys)["threshold"] == 1.3


def test_preset_makes_a_fused_gallery_and_embedder_wins(photos, tmp_path, capsys):
    a = photos["Aaron_Peirsol"]
    G, H = str(tmp_path / "acc.gallery"), str(tmp_path / "fast.gallery")
    assert main(["enroll", "--gallery", G, "--name", "Aaron", str(a[0]), "--preset", "accurate", "--flip"]) == 0
    assert main(["enroll", "--gallery", H, "--name", "Aaron", str(a[0]), "--preset", "accurate", "--embedder", "sface"]) == 0
    capsys.readouterr()
    for loc, model in ((G, "fused"), (H, "sface")):
        assert main(["gallery", loc, "stats", "--json"]) == 0
        stats = _json(capsys)
        assert stats["model"]["model"] == model, stats
    assert main(["gallery", G, "stats", "--json"]) == 0
    stats = _json(capsys)
    assert stats["model"]["flip"] is True
    assert "verification threshold" not in stats["threshold_source"]  # a flip fused gallery borrows SFace+flip's model
    assert main(["identify", "--gallery", G, str(a[1]), "--json"]) == 0  # the gallery's own model, no flag needed
    assert _json(capsys)["images"][0]["faces"][0]["name"] == "Aaron"
