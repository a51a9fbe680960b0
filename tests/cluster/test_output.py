"""The output folder: refused when it would hold or overwrite something else, links that only
read the originals, a rerun that removes only what it made, assignments.json round trip."""

from __future__ import annotations

import json
import os

import pytest

from facenet.cluster.output import (
    OutputFolderError,
    check_out,
    make_links,
    place,
    read_run,
    remove_links,
    write_run,
)
from facenet.cluster.results import Cluster, ClusterFace, ClusterRun, UnknownClusterError
from facenet.errors import DataError, ItemError


def face(photo, i=0, key=None, dist=0.1):
    return ClusterFace(str(photo), (1.0, 2.0, 30.0, 40.0), i, dist, None, "f" * 64, key or f"{photo}:{i}", 0.9)


@pytest.fixture
def photos(tmp_path):
    src = tmp_path / "photos"
    (src / "x").mkdir(parents=True)
    paths = [src / "a.jpg", src / "x" / "a.jpg", src / "b.jpg"]
    for i, p in enumerate(paths):
        p.write_bytes(bytes([i]) * 10)
    return paths


def test_check_out(tmp_path, photos):
    root = photos[0].parent
    assert check_out(tmp_path / "new" / "out", [root]) == tmp_path / "new" / "out"
    assert not (tmp_path / "new").exists()  # checked, not made
    for bad in (root, tmp_path):  # the photo folder itself, or a folder holding it
        with pytest.raises(OutputFolderError, match="photo folder"):
            check_out(bad, [root])
    other = tmp_path / "other"
    other.mkdir()
    (other / "precious.txt").write_text("keep")
    with pytest.raises(OutputFolderError, match="not empty"):
        check_out(other, [root])
    with pytest.raises(OutputFolderError, match="is a file"):
        check_out(photos[0], [tmp_path / "elsewhere"])
    (other / "assignments.json").write_text("{}")  # an earlier run: accepted
    assert check_out(other, [root]) == other
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    (stopped / ".facenet-cache.sqlite").write_bytes(b"")  # a first run stopped before the end: resumed
    assert check_out(stopped, [root]) == stopped


@pytest.mark.parametrize("link", ["symlink", "hardlink", "copy"])
def test_place_only_reads_the_original(tmp_path, photos, link):
    src = photos[0]
    before = (src.read_bytes(), src.stat().st_mtime_ns)
    dst = tmp_path / f"out_{link}.jpg"
    place(src, dst, link)
    assert dst.read_bytes() == before[0] and (src.read_bytes(), src.stat().st_mtime_ns) == before
    assert dst.is_symlink() == (link == "symlink")
    if link == "symlink":
        assert os.readlink(dst) == str(src.resolve())
    if link == "hardlink":
        assert os.path.samefile(src, dst)


def test_links_with_the_same_file_name_and_a_rerun(tmp_path, photos):
    out = tmp_path / "out"
    out.mkdir()
    clusters = [Cluster(1, None, [face(photos[0]), face(photos[1])], "cluster_0001")]
    unclustered = [face(photos[2], 0), face(photos[2], 1), face(photos[0], 1)]
    cl, un = make_links(out, clusters, unclustered, "symlink")
    assert [f.link for f in cl[0].faces] == ["cluster_0001/a.jpg", "cluster_0001/a_2.jpg"]
    assert [f.link for f in un] == ["unclustered/b.jpg", "unclustered/b.jpg", "unclustered/a.jpg"]  # once per photo
    assert all((out / f.link).resolve() == photos[i].resolve() for f, i in zip(cl[0].faces, (0, 1)))
    (out / "cluster_0001" / "mine.txt").write_text("a note the user left")
    first = ClusterRun(clusters=cl, unclustered=un, settings={"link": "symlink"})
    kept_inode = (out / "cluster_0001" / "a.jpg").lstat().st_ino
    # a rerun: photos[0] stays in cluster 1, photos[1] moves to a new cluster 2, nothing unclustered
    again = [Cluster(1, None, [face(photos[0])], "cluster_0001"), Cluster(2, None, [face(photos[1])], "cluster_0002")]
    cl2, un2 = make_links(out, again, [], "symlink", first)
    assert [f.link for c in cl2 for f in c.faces] == ["cluster_0001/a.jpg", "cluster_0002/a.jpg"]
    assert (out / "cluster_0001" / "a.jpg").lstat().st_ino == kept_inode  # kept, not made again
    assert sorted(p.name for p in (out / "cluster_0001").iterdir()) == ["a.jpg", "mine.txt"]  # a_2.jpg went
    assert list((out / "unclustered").iterdir()) == []  # emptied, and there
    remove_links(out, [f.link for c in cl2 for f in c.faces])
    assert [p.name for p in (out / "cluster_0001").iterdir()] == ["mine.txt"]  # only what the runs made went
    assert not (out / "cluster_0002").exists()
    # links in a damaged assignments.json that point elsewhere are never removed
    outside = tmp_path / "precious.jpg"
    outside.write_bytes(b"keep")
    remove_links(out, ["../precious.jpg", str(outside), "cluster_0001/../../precious.jpg", "a/b/../../../precious.jpg"])
    assert outside.read_bytes() == b"keep"
    # another --link than the earlier run's: nothing kept
    cl3, _ = make_links(out, again[:1], [], "copy", ClusterRun(clusters=cl2, unclustered=[], settings={"link": "symlink"}))
    assert not (out / cl3[0].faces[0].link).is_symlink()
    assert all(p.read_bytes() for p in photos)
    with pytest.raises(ValueError, match="'link' parameter"):
        make_links(out, clusters, [], "move")


def test_run_round_trip_and_cluster_lookup(tmp_path):
    run = ClusterRun(clusters=[Cluster(2, "Ada", [face("p.jpg")], "Ada"), Cluster(1, None, [face("q.jpg")], "cluster_0001")],
                     unclustered=[face("r.jpg", dist=None)], failed=[ItemError(3, "bad.jpg", "not an image")],
                     n_photos=3, n_faces=3, settings={"method": "graph", "threshold": 1.1, "threshold_source": "given"},
                     model={"model": "sface"}, no_face=["grey.png"], warnings=[("grey.png", "no face found")], out=str(tmp_path))
    assert read_run(tmp_path) is None
    write_run(tmp_path, run)
    back = read_run(tmp_path)
    assert back.to_dict() == run.to_dict() and back.errors == [("bad.jpg", "not an image")]
    d = json.loads((tmp_path / "assignments.json").read_text())
    assert d["clusters"][0]["faces"][0]["cluster"] == 2 and d["unclustered"][0]["cluster"] is None
    assert d["failed"] == [{"index": 3, "path": "bad.jpg", "error": "not an image"}]
    assert (tmp_path / "assignments.json").stat().st_mode & 0o777 == 0o644
    assert back.cluster("Ada").id == back.cluster(2).id == back.cluster("2").id == back.cluster("cluster_0001").id + 1
    with pytest.raises(UnknownClusterError, match="No cluster 9 .*ids 2, 1"):
        back.cluster(9)
    (tmp_path / "assignments.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="not a clustering run"):
        read_run(tmp_path)
