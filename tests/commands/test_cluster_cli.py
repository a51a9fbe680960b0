"""`facenet cluster` as a user runs it: one clear line per bad photo and the rest clustered
(exit 1, as every command with failed inputs), --json with the uniform "failed" list, `name` and
`enroll`, `split`, usage errors in one line with exit 2."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from facenet.cli import main

THRESHOLD = "1.2"


@pytest.fixture(scope="module")
def photos(tmp_path_factory, lfw_dir):
    root = tmp_path_factory.mktemp("photos")
    for who, idx in [("George_W_Bush", (1, 2)), ("Colin_Powell", (1, 2))]:
        for i in idx:
            shutil.copy(lfw_dir / who / f"{who}_{i:04d}.jpg", root)
    return root


@pytest.fixture
def messy(tmp_path, photos):
    root = tmp_path / "messy"
    shutil.copytree(photos, root)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    Image.fromarray(np.zeros((120, 120, 3), np.uint8)).save(root / "black.png")
    return root


def _cluster(capsys, *argv):
    rc = main(["cluster", *argv, "--threshold", THRESHOLD, "--no-progress"])
    out, err = capsys.readouterr()
    return rc, out, err


def test_clean_folder_exits_0_with_a_summary(photos, tmp_path, capsys):
    rc, out, err = _cluster(capsys, str(photos), "--out", str(tmp_path / "out"))
    assert rc == 0 and err == "" and "4 face(s) of 4 photo(s) in 2 cluster(s)" in out
    assert (tmp_path / "out" / "index.html").is_file() and (tmp_path / "out" / "cluster_0002").is_dir()


def test_bad_photos_get_one_line_each_and_the_rest_is_clustered(messy, tmp_path, capsys):
    rc, out, err = _cluster(capsys, str(messy), "--out", str(tmp_path / "out"), "--json")
    d = json.loads(out)
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 1 and "Traceback" not in err
    assert [line.split(": ")[0] for line in lines] == ["facenet", "facenet"] and len(lines) == 2
    assert lines[0].startswith(f"facenet: error: {messy / 'broken.jpg'}: ")
    assert lines[1] == f"facenet: warning: {messy / 'black.png'}: no face found; not clustered"
    assert [f["path"] for f in d["failed"]] == [str(messy / "broken.jpg")] and d["no_face"] == [str(messy / "black.png")]
    assert d["n_faces"] == 4 and d["n_clusters"] == 2 and d["threshold"] == float(THRESHOLD)
    assert d["threshold_source"] == "given" and d["n_embedded_now"] == 5  # the no-face photo is cached too


def test_name_and_enroll(photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert _cluster(capsys, str(photos), "--out", str(out))[0] == 0
    assert main(["cluster", "name", str(out), "1", "George Bush", "--json"]) == 0
    named = json.loads(capsys.readouterr().out)
    assert named == {"cluster": 1, "name": "George Bush", "folder": "George Bush", "faces": 2}
    gallery = tmp_path / "g.gallery"
    assert main(["cluster", "enroll", str(out), "2", "--gallery", str(gallery), "--name", "Colin", "--json"]) == 0
    enrolled = json.loads(capsys.readouterr().out)
    assert enrolled["name"] == "Colin" and enrolled["faces_added"] == 2 and enrolled["faces_now"] == 2
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["Colin", "George Bush", "thumbs", "unclustered"]
    # a later run keeps both names
    rc, text, _ = _cluster(capsys, str(photos), "--out", str(out), "--json")
    assert rc == 0 and sorted(c["name"] for c in json.loads(text)["clusters"]) == ["Colin", "George Bush"]
    assert main(["gallery", str(gallery), "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["subjects"] == [{"name": "Colin", "faces": 2}]


def test_split_a_cluster_that_holds_two_people(photos, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["cluster", str(photos), "--out", str(out), "--threshold", "3.9", "--no-progress"])  # all in one
    text = capsys.readouterr().out
    assert rc == 0 and "in 1 cluster(s)" in text and "check first: 1 (two groups " in text
    run = json.loads((out / "assignments.json").read_text())
    assert [c["cluster"] for c in run["check_first"]] == [1]
    assert run["check_first"][0]["gap"] > 0.3 and "Check first" in (out / "index.html").read_text(encoding="utf-8")
    assert main(["cluster", "split", str(out), "1", "--min-size", "3"]) == 2
    assert "has 4 face(s)" in capsys.readouterr().err
    assert main(["cluster", "split", str(out), "1", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["kept"]["id"] == 1 and d["new"]["id"] == 2 and d["kept"]["size"] == d["new"]["size"] == 2 and d["gap"] > 0.3
    people = {c: {p.name.rsplit("_", 1)[0] for p in (out / f"cluster_000{c}").iterdir()} for c in (1, 2)}
    assert sorted(map(sorted, people.values())) == [["Colin_Powell"], ["George_W_Bush"]]
    assert json.loads((out / "assignments.json").read_text())["check_first"] == []  # nothing of four faces is left
    assert main(["cluster", "split", str(out), "2"]) == 2  # two faces cannot make two groups of two
    assert main(["cluster", "split", str(out), "1", "--min-size", "1"]) == 0
    assert "split: 1 face(s) stay in" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["cluster", "{photos}"], "--out OUT is required"),
    (["cluster", "{photos}", "--out", "{tmp}/o", "--method", "kmeans"], "--k"),
    (["cluster", "{photos}", "--out", "{tmp}/o", "--k", "3"], "--k is for method 'kmeans'"),
    (["cluster", "{photos}", "--out", "{tmp}/o", "--threshold", "9"], "'threshold' parameter"),
    (["cluster", "{photos}", "--out", "{photos}", "--threshold", "1"], "photo folder"),
    (["cluster", "{tmp}/missing", "--out", "{tmp}/o", "--threshold", "1"], "no such folder"),
    (["cluster", "name", "{tmp}/nothing", "1", "Ada"], "no clustering run"),
    (["cluster", "name", "{tmp}"], "give OUT CLUSTER NAME"),
    (["cluster", "split", "{tmp}"], "give OUT CLUSTER"),
    (["cluster", "split", "{tmp}/nothing", "1"], "no clustering run"),
])
def test_usage_errors_are_one_line(photos, tmp_path, capsys, argv, message):
    rc = main([a.format(photos=photos, tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc in (1, 2) and len(lines) == 1 and lines[0].startswith("facenet: error: ") and message in lines[0], err
    assert not (tmp_path / "o").exists()


def test_unknown_cluster_is_a_usage_error(photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert _cluster(capsys, str(photos), "--out", str(out))[0] == 0
    assert main(["cluster", "name", str(out), "17", "Ada"]) == 2
    assert "No cluster 17" in capsys.readouterr().err


def test_every_method_runs_from_the_command_line(photos, tmp_path, capsys):
    for method, extra in (("graph", []), ("agglomerative", []), ("dbscan", []), ("hdbscan", []), ("kmeans", ["--k", "2"])):
        out = tmp_path / method
        rc = main(["cluster", str(photos), "--out", str(out), "--method", method, *extra, "--no-progress", "--json"])
        cap = capsys.readouterr()
        assert rc == 0, (method, cap.err)
        assert (out / "index.html").is_file() and json.loads(cap.out)["settings"]["method"] == method
    assert main(["cluster", str(photos), "--out", str(tmp_path / "h"), "--method", "hdbscan", "--threshold", "1.0"]) == 2
    assert "hdbscan takes no distance threshold" in capsys.readouterr().err


@pytest.mark.parametrize("argv, embedder", [([], "sface"), (["--preset", "fast"], "sface"), (["--preset", "accurate"], "fused"),
                                            (["--preset", "accurate", "--embedder", "sface"], "sface")])
def test_preset_picks_the_embedder_and_its_calibrated_settings(photos, tmp_path, capsys, monkeypatch, argv, embedder):
    from facenet.cluster.methods import impostor_model
    from facenet.cluster.threshold import default_options
    from facenet.commands import cluster
    from facenet.models.registry import create_model, model_config
    from facenet.pipeline import FacePipeline

    asked = []

    def pipeline(detector, name, flip, backend):  # SFace's network under the asked model's identity: no dlib run here
        asked.append(name)
        stand_in = create_model("sface")
        stand_in.config = model_config(name)
        return FacePipeline(detector, stand_in, flip=flip)

    monkeypatch.setattr(cluster, "_pipeline", pipeline)
    rc = main(["cluster", str(photos), "--out", str(tmp_path / "o"), *argv, "--no-progress", "--json"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    d = json.loads(cap.out)
    assert asked == [embedder] and d["model"]["model"] == embedder
    assert d["settings"]["threshold_source"].startswith("calibrated on CelebA-wild") and d["settings"]["threshold_source"].endswith(
        f"for {embedder}")
    g = default_options(embedder, "graph")
    if g.get("size_rule") == "detach":  # the detach limit: the impostor model a gallery of that model uses (fused: SFace's rescaled)
        want = min(g["threshold"], impostor_model(embedder).threshold(d["n_faces"] - 1, g["pair_fpir"]))
        assert d["settings"]["options"]["single_threshold"] == pytest.approx(want, abs=1e-6)
