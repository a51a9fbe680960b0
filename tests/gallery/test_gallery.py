"""The gallery as a user meets it: enrol from photos, identify with an honest unknown, manage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from facenet.cli import main
from facenet.gallery.open import open_gallery
from facenet.gallery.store import GalleryError, ModelMismatchError

PEOPLE = {"Aaron_Peirsol": 4, "George_W_Bush": 3, "Serena_Williams": 3}


@pytest.fixture(scope="module")
def photos(lfw_dir: Path) -> dict[str, list[Path]]:
    return {p: sorted((lfw_dir / p).glob("*.jpg"))[:n] for p, n in PEOPLE.items()}


def test_enrol_from_one_photo_and_identify(pipeline, photos, tmp_path):
    g = open_gallery(tmp_path / "g.gallery", pipeline)
    r = g.enroll("Aaron", photos["Aaron_Peirsol"][0])
    assert len(r.added) == 1 and r.errors == ()
    g.enroll("Bush", photos["George_W_Bush"][0])
    res = g.identify([photos["Aaron_Peirsol"][1], photos["George_W_Bush"][1], photos["Serena_Williams"][0]])
    names = [img.faces[0].name for img in res]
    assert names == ["Aaron", "Bush", "unknown"]  # Serena is not enrolled: an honest unknown
    top = res[0].faces[0]
    assert top.candidates[0].name == "Aaron" and top.distance < top.threshold < res[2].faces[0].distance
    assert [c.name for c in top.candidates] == ["Aaron", "Bush"]  # one entry per person
    g.close()


def test_enrol_rules(pipeline, photos, tmp_path):
    g = open_gallery(tmp_path / "g.gallery", pipeline)
    a = photos["Aaron_Peirsol"]
    assert len(g.enroll("Aaron", [a[0], a[1]]).added) == 2  # several photos kept, not averaged
    again = g.enroll("Aaron", [a[0]])
    assert again.added == () and len(again.already_enrolled) == 1  # same SHA-256: a no-op
    assert len(g.faces("Aaron")) == 2
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 127, np.uint8))
    group = tmp_path / "group.png"
    imgs = [cv2.imread(str(p)) for p in (a[2], photos["Serena_Williams"][0])]
    cv2.imwrite(str(group), np.concatenate(imgs, axis=1))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    r = g.enroll("Aaron", [blank, group, bad])
    assert r.added == () and [e.index for e in r.errors] == [0, 1, 2]
    assert "no face" in r.errors[0].reason and "2 faces" in r.errors[1].reason and "--largest" in r.errors[1].reason
    assert len(g.enroll("Mixed", [group], face="largest").added) == 1
    assert len(g.enroll("Second", [group], face=1).added) == 1
    assert "asked for" in g.enroll("Third", [group], face=5).errors[0].reason
    g.close()


def test_model_identity_is_enforced(pipeline, photos, tmp_path):
    from facenet import FacePipeline

    g = open_gallery(tmp_path / "g.gallery", pipeline)
    g.enroll("Aaron", photos["Aaron_Peirsol"][0])
    g.close()
    with pytest.raises(ModelMismatchError, match="sface.*flip on|flip off.*flip on"):
        open_gallery(tmp_path / "g.gallery", FacePipeline(flip=True))
    not_a_gallery = tmp_path / "x.gallery"
    not_a_gallery.write_bytes(b"hello, I am a text file")
    with pytest.raises(GalleryError):
        open_gallery(not_a_gallery, pipeline)
    with pytest.raises(GalleryError, match="No gallery"):
        open_gallery(tmp_path / "missing.gallery", pipeline, create=False)


def test_management_and_export_import(pipeline, photos, tmp_path):
    g = open_gallery(tmp_path / "g.gallery", pipeline)
    g.enroll("Aaron", photos["Aaron_Peirsol"][:2])
    g.enroll("GWB", photos["George_W_Bush"][:1])
    g.enroll("Bush", photos["George_W_Bush"][1:2])
    assert g.merge("GWB", "Bush") == 1 and [s.name for s in g.subjects()] == ["Aaron", "Bush"]
    g.rename("Bush", "George W Bush")
    from facenet.gallery.transfer import export_gallery, import_gallery

    assert export_gallery(g.store, tmp_path / "out.npz") == 4
    assert g.remove("Aaron") == 2
    res = import_gallery(g.store, tmp_path / "out.npz")
    assert res["faces_added"] == 2 and sorted(s.name for s in g.subjects()) == ["Aaron", "George W Bush"]
    st = g.stats()
    assert st["subjects"] == 2 and st["faces"] == 4 and st["model"]["model"] == "sface"
    g.set_threshold(1.0)
    assert g.threshold() == (1.0, "set by the user")
    g.close()


def test_cli_enrol_identify_gallery(photos, tmp_path, capsys):
    G = str(tmp_path / "cli.gallery")
    a, b, s = photos["Aaron_Peirsol"], photos["George_W_Bush"], photos["Serena_Williams"]
    assert main(["enroll", "--gallery", G, "--name", "Aaron", str(a[0]), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["added"]) == 1 and out["failed"] == [] and out["faces_now"] == 1
    assert main(["enroll", "--gallery", G, "--name", "Bush", str(b[0])]) == 0
    capsys.readouterr()
    assert main(["identify", "--gallery", G, str(a[1]), str(s[0]), "--json", "--k", "2", "--draw", str(tmp_path / "d.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [im["faces"][0]["name"] for im in out["images"]] == ["Aaron", "unknown"]
    assert len(out["images"][0]["faces"][0]["candidates"]) == 2 and out["threshold"] > 0
    assert all(Path(im["drawing"]).is_file() for im in out["images"])
    assert main(["gallery", G, "list", "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)["subjects"]] == ["Aaron", "Bush"]
    assert main(["gallery", G, "rename", "Bush", "George"]) == 0
    assert main(["gallery", G, "export", str(tmp_path / "e.npz")]) == 0
    assert main(["gallery", G, "stats"]) == 0
    assert "threshold" in capsys.readouterr().out
    assert main(["gallery", G, "threshold", "--auto", "--fpir", "0.001", "--json"]) == 0
    auto = json.loads(capsys.readouterr().out)
    assert "FPIR 0.001 for 2 enrolled people" in auto["threshold_source"]
    assert main(["gallery", G, "threshold", "1.0", "--fpir", "0.001"]) == 2  # a fixed value has no FPIR target
    # errors: one line, the right exit code, no traceback
    assert main(["gallery", G, "show", "Arron"]) == 2
    err = capsys.readouterr().err
    assert "Aaron" in err and "Traceback" not in err
    assert main(["identify", "--gallery", str(tmp_path / "none.gallery"), str(a[1])]) == 1
    assert "No gallery" in capsys.readouterr().err
    assert main(["identify", "--gallery", G, str(a[1]), "--k", "0"]) == 2
    assert main(["enroll", "--gallery", G, "--name", "X", str(a[1]), "--embedder", "nns2"]) == 2
    assert "cannot be compared" in capsys.readouterr().err
    text = tmp_path / "g.txt"
    text.write_text("not a gallery")
    assert main(["gallery", str(text), "list"]) == 1
    assert "Traceback" not in capsys.readouterr().err
    shutil.rmtree(tmp_path / "missing", ignore_errors=True)


def test_the_same_gallery_on_postgresql(pipeline, photos, pg_url):
    """Enrol and identify through a postgresql:// URL on the embedded PostgreSQL + pgvector server."""
    url = pg_url + "&gallery=g" + __import__("secrets").token_hex(4) if "?" in pg_url else pg_url
    g = open_gallery(url, pipeline)
    g.enroll("Aaron", photos["Aaron_Peirsol"][0])
    g.enroll("Bush", photos["George_W_Bush"][0])
    res = g.identify([photos["Aaron_Peirsol"][1], photos["Serena_Williams"][0]])
    assert [im.faces[0].name for im in res] == ["Aaron", "unknown"]
    assert g.stats()["subjects"] == 2
    g.close()


def test_gallery_open_by_model_name(photos, tmp_path):
    from facenet.gallery.gallery import Gallery

    with Gallery.open(tmp_path / "g.gallery", model="sface") as g:
        g.enroll("Aaron", photos["Aaron_Peirsol"][0])
        assert g.identity.model == "sface" and not g.identity.flip
    with Gallery.open(tmp_path / "g.gallery", create=False) as g:  # its own model, read from the file
        assert g.identify(photos["Aaron_Peirsol"][1])[0].faces[0].name == "Aaron"
    with pytest.raises(ModelMismatchError, match="sface"):
        Gallery.open(tmp_path / "g.gallery", model="sface", flip=True)
    with pytest.raises(TypeError, match="model name, a FacePipeline or None"):
        Gallery.open(tmp_path / "g.gallery", model=3)
    with pytest.raises(GalleryError, match="No gallery"):
        Gallery.open(tmp_path / "none.gallery", create=False)
