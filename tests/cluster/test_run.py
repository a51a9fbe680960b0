"""cluster_folder end to end on real photos (YuNet + SFace): every face found and clustered with
the cannot-link rule, bad inputs reported one by one while the rest is clustered, the originals
untouched, the incremental run embedding only new photos and keeping names, --update, enrolment."""

from __future__ import annotations

import hashlib
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from facenet.cluster.run import cluster_folder, enroll_cluster, load_run, name_cluster
from facenet.errors import DataError, UsageError

#: A squared-L2 clustering threshold for these tests (the runs record it with source "given").
THRESHOLD = 1.2


def lfw(lfw_dir: Path, name: str, i: int) -> Path:
    return lfw_dir / name / f"{name}_{i:04d}.jpg"


def group_photo(lfw_dir: Path, target: Path, n: int = 20) -> Path:
    """n LFW faces (central crops of n different people) tiled on one canvas."""
    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir())[100:100 + n]
    cols = 5
    canvas = Image.new("RGB", (cols * 160, -(-n // cols) * 160), "white")
    for i, p in enumerate(people):
        im = Image.open(sorted(p.iterdir())[0]).convert("RGB").crop((55, 55, 195, 195))
        canvas.paste(im, ((i % cols) * 160 + 10, (i // cols) * 160 + 10))
    canvas.save(target, quality=92)
    return target


@pytest.fixture(scope="module")
def folder(tmp_path_factory, lfw_dir):
    """Photos of three people in sub-folders, plus a text file named .jpg, an empty file, a grey
    image (no face), a 20-face group photo, a non-image and a hidden file."""
    root = tmp_path_factory.mktemp("photos")
    for sub, who, idx in [("a", "George_W_Bush", (1, 2, 3)), ("b", "Colin_Powell", (1, 2, 3)),
                          ("c/deeper", "Tony_Blair", (2, 3))]:
        (root / sub).mkdir(parents=True)
        for i in idx:
            shutil.copy(lfw(lfw_dir, who, i), root / sub)
    (root / "bad.jpg").write_text("this is not an image")
    (root / "empty.jpg").write_bytes(b"")
    Image.fromarray(np.full((160, 200, 3), 128, np.uint8)).save(root / "grey.png")
    group_photo(lfw_dir, root / "group20.jpg")
    (root / "notes.txt").write_text("not a photo")
    shutil.copy(lfw(lfw_dir, "George_W_Bush", 4), root / ".hidden.jpg")
    return root


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache") / "faces.sqlite"


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("src", "href") and v is not None:
                self.refs.append(v)
            if k == "id" and v is not None:
                self.ids.add(v)


def sheet_refs(out: Path) -> list[str]:
    """The sheet's links to files (relative to OUT); its in-page links must name an element."""
    p = _Links()
    p.feed((out / "index.html").read_text(encoding="utf-8"))
    anchors = [r for r in p.refs if r.startswith("#")]
    assert [a for a in anchors if a[1:] not in p.ids] == []
    return [r for r in p.refs if not r.startswith("#")]


def review_links(out: Path) -> list[str]:
    """The clusters the sheet's "Check first" section links to, in order."""
    p = _Links()
    p.feed((out / "index.html").read_text(encoding="utf-8"))
    return [r[1:] for r in p.refs if r.startswith("#")]


def main_face(run, photo: str):
    """(cluster id or None, face) of the photo's largest face."""
    faces = [(cid, f) for cid, f in run.all_faces() if f.photo == photo]
    return max(faces, key=lambda cf: (cf[1].box[2] - cf[1].box[0]) * (cf[1].box[3] - cf[1].box[1]))


def test_folder_end_to_end(folder, tmp_path, pipeline, shared_cache):
    before = snapshot(folder)
    out = tmp_path / "people"
    seen = []
    run = cluster_folder(folder, out, pipeline, threshold=THRESHOLD, cache=shared_cache,
                         progress=lambda done, total: seen.append((done, total)))
    # bad inputs: one entry each, the rest clustered
    assert sorted(Path(p).name for p, _ in run.errors) == ["bad.jpg", "empty.jpg"]
    reasons = dict((Path(p).name, m) for p, m in run.errors)
    assert "empty" in reasons["empty.jpg"] and "image" in reasons["bad.jpg"]
    assert run.no_face == [str(folder / "grey.png")]
    notes = {Path(p).name: m for p, m in run.warnings}
    assert "no face" in notes["grey.png"] and notes["group20.jpg"].startswith("20 faces")
    assert run.n_photos == 10 and run.n_ignored == 1  # 8 portraits + grey + group; notes.txt ignored, hidden skipped
    assert not any(".hidden" in f.photo for _, f in run.all_faces())
    group = [(cid, f) for cid, f in run.all_faces() if f.photo.endswith("group20.jpg")]
    assert len(group) == 20  # every face of the group photo, none from a fallback crop
    assert all(Path(f.photo).name != "grey.png" for _, f in run.all_faces())
    # cannot-link: no cluster holds two faces of one photo
    for c in run.clusters:
        assert len({f.photo for f in c.faces}) == c.size
    group_ids = [cid for cid, _ in group if cid is not None]
    assert len(group_ids) == len(set(group_ids))
    # same person together, different people apart
    bush = {main_face(run, str(p))[0] for p in sorted((folder / "a").iterdir())}
    powell = {main_face(run, str(p))[0] for p in sorted((folder / "b").iterdir())}
    blair = {main_face(run, str(p))[0] for p in sorted((folder / "c" / "deeper").iterdir())}
    assert len(bush) == len(powell) == len(blair) == 1 and None not in bush | powell | blair
    assert len(bush | powell | blair) == 3
    # clusters largest first, ids match folders, distances to the centre present
    assert [c.size for c in run.clusters] == sorted((c.size for c in run.clusters), reverse=True)
    for c in run.clusters:
        assert c.folder == f"cluster_{c.id:04d}" and all(f.distance_to_centre >= 0 for f in c.faces)
        links = sorted((out / c.folder).iterdir())
        assert len(links) == c.size and all(p.is_symlink() for p in links)
        assert {p.resolve() for p in links} == {Path(f.photo).resolve() for f in c.faces}
    # assignments.json is the run, and load_run reads it back
    d = json.loads((out / "assignments.json").read_text())
    assert d == json.loads(json.dumps(run.to_dict()))
    assert d["threshold"] == THRESHOLD and d["threshold_source"] == "given" and d["model"]["model"] == "sface"
    assert {e["path"] for e in d["failed"]} == {str(folder / "bad.jpg"), str(folder / "empty.jpg")}
    assert load_run(out).to_dict() == run.to_dict()
    # the sheet: one thumbnail per face, every link resolves from disk
    refs = sheet_refs(out)
    assert sum(r.startswith("thumbs/") for r in refs) == run.n_faces
    missing = [r for r in refs if not (out / unquote(r)).exists()]
    assert refs and missing == []
    # progress reached the end; the originals were only read
    assert seen[0] == (0, 13) and seen[-1] == (13, 13) and seen[-2] == (12, 13)
    assert snapshot(folder) == before


def test_incremental_run_embeds_only_new_photos_and_keeps_names(tmp_path, lfw_dir, pipeline, monkeypatch):
    root, out = tmp_path / "photos", tmp_path / "out"
    root.mkdir()
    for who, i in [("George_W_Bush", 1), ("George_W_Bush", 2), ("Colin_Powell", 1), ("Colin_Powell", 2)]:
        shutil.copy(lfw(lfw_dir, who, i), root)
    calls = []
    original = pipeline.embed_faces
    monkeypatch.setattr(pipeline, "embed_faces", lambda crops: calls.append(len(crops)) or original(crops))

    first = cluster_folder(root, out, pipeline, threshold=THRESHOLD, progress=False)
    assert first.n_embedded_now == 4 and len(calls) == 4
    bush_id = main_face(first, str(root / "George_W_Bush_0001.jpg"))[0]
    named = name_cluster(out, bush_id, "George")
    assert named.folder == "George" and (out / "George").is_dir() and not (out / f"cluster_{bush_id:04d}").exists()
    assert load_run(out).cluster("George").id == bush_id

    for who, i in [("George_W_Bush", 3), ("Tony_Blair", 2)]:
        shutil.copy(lfw(lfw_dir, who, i), root)
    calls.clear()
    second = cluster_folder(root, out, pipeline, threshold=THRESHOLD, progress=False)
    assert second.n_embedded_now == 2 and len(calls) == 2  # only the two new photos
    george = second.cluster("George")
    assert {Path(f.photo).name for f in george.faces} >= {f"George_W_Bush_000{i}.jpg" for i in (1, 2, 3)}
    assert george.folder == "George" and len(list((out / "George").iterdir())) == george.size
    assert sum(c.name == "George" for c in second.clusters) == 1
    powell_first = main_face(first, str(root / "Colin_Powell_0001.jpg"))[0]
    assert main_face(second, str(root / "Colin_Powell_0001.jpg"))[0] == powell_first  # the same id run to run
    assert (out / f"cluster_{powell_first:04d}").is_dir()

    # --update: the existing clusters keep their ids; the new face joins its person
    shutil.copy(lfw(lfw_dir, "Colin_Powell", 3), root)
    ids_before = {f.key: cid for cid, f in second.all_faces()}
    calls.clear()
    third = cluster_folder(root, out, pipeline, threshold=THRESHOLD, update=True, progress=False)
    assert third.n_embedded_now == 1 and len(calls) == 1 and third.settings["update"] is True
    assert all(ids_before[f.key] == cid for cid, f in third.all_faces() if f.key in ids_before)
    powell = main_face(third, str(root / "Colin_Powell_0001.jpg"))[0]
    assert main_face(third, str(root / "Colin_Powell_0003.jpg"))[0] == powell
    assert third.cluster("George").folder == "George"
    missing = [r for r in sheet_refs(out) if not (out / unquote(r)).exists()]
    assert missing == []


def test_unchanged_photos_are_not_read_again_and_copies_are_clustered_once(tmp_path, lfw_dir, pipeline, monkeypatch):
    import facenet.cluster.collect as collect

    root, out = tmp_path / "photos", tmp_path / "out"
    root.mkdir()
    for i in (1, 2):
        shutil.copy(lfw(lfw_dir, "Tony_Blair", i), root)
    shutil.copy(lfw(lfw_dir, "Tony_Blair", 1), root / "copy of blair.jpg")
    Image.fromarray(np.full((90, 90, 3), 40, np.uint8)).save(root / "dark.png")
    shutil.copy(root / "dark.png", root / "dark copy.png")  # a copy of a photo without a face
    reads = []
    original = collect._read
    monkeypatch.setattr(collect, "_read", lambda p: reads.append(p.name) or original(p))
    first = cluster_folder(root, out, pipeline, threshold=THRESHOLD, progress=False)
    assert first.n_photos == 3 and first.n_embedded_now == 3 and len(reads) == 5
    assert first.duplicates == {str(root / "Tony_Blair_0001.jpg"): [str(root / "copy of blair.jpg")],
                                str(root / "dark copy.png"): [str(root / "dark.png")]}  # the first in name order
    reads.clear()
    again = cluster_folder(root, out, pipeline, threshold=THRESHOLD, progress=False)
    assert reads == [] and again.n_embedded_now == 0 and again.to_dict()["clusters"] == first.to_dict()["clusters"]
    p = root / "Tony_Blair_0002.jpg"  # rewritten in place: read (and hashed) again, same bytes so not re-embedded
    p.write_bytes(p.read_bytes())
    reads.clear()
    third = cluster_folder(root, out, pipeline, threshold=THRESHOLD, progress=False)
    assert reads == ["Tony_Blair_0002.jpg"] and third.n_embedded_now == 0


def test_a_run_stopped_half_way_resumes_from_the_cache(tmp_path, lfw_dir, pipeline, monkeypatch):
    root, out = tmp_path / "photos", tmp_path / "out"
    root.mkdir()
    for i in (1, 2, 3):
        shutil.copy(lfw(lfw_dir, "Colin_Powell", i), root)
    calls = []
    original = pipeline.embed_faces

    def stop_at_the_third(crops):
        calls.append(len(crops))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(crops)

    monkeypatch.setattr(pipeline, "embed_faces", stop_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        cluster_folder(root, out, pipeline, threshold=THRESHOLD, progress=False)
    assert not (out / "assignments.json").exists()
    monkeypatch.setattr(pipeline, "embed_faces", original)
    run = cluster_folder(root, out, pipeline, threshold=THRESHOLD, progress=False)
    assert run.n_embedded_now == 1 and run.n_clusters == 1  # the two embedded before the stop were kept


def test_enroll_cluster_into_a_gallery(folder, tmp_path, pipeline):
    from facenet.gallery.open import open_gallery

    first = tmp_path / "first"
    run = cluster_folder(folder / "a", first, pipeline, threshold=THRESHOLD, progress=False)
    assert run.settings["cache"] == ".facenet-cache.sqlite"  # relative to OUT: OUT can be moved whole
    out = first.rename(tmp_path / "moved")
    cid = run.clusters[0].id
    with open_gallery(tmp_path / "people.gallery", pipeline) as g:
        with pytest.raises(UsageError, match="no name"):
            enroll_cluster(out, cid, g)
        c, added = enroll_cluster(out, cid, g, name="Bush")
        assert added == run.clusters[0].size == 3 and c.name == "Bush" and c.folder == "Bush"
        assert enroll_cluster(out, "Bush", g)[1] == 0  # the same photos again: nothing added
        faces = g.faces("Bush")
        assert len(faces) == 3 and {f.photo_sha256 for f in faces} == {f.sha256 for f in run.clusters[0].faces}
        who = g.identify(str(folder / "a" / "George_W_Bush_0001.jpg"))[0].faces
        assert any(f.name == "Bush" for f in who)
    names = json.loads((out / "names.json").read_text())["names"]
    assert names[0]["name"] == "Bush" and names[0]["gallery"] == str(tmp_path / "people.gallery")


def test_parameters_are_checked_before_any_work(folder, tmp_path, pipeline):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="'link' parameter of cluster_folder"):
        cluster_folder(folder, out, pipeline, link="move", threshold=THRESHOLD)
    with pytest.raises(ValueError, match="'method' parameter"):
        cluster_folder(folder, out, pipeline, method="spectral", threshold=THRESHOLD)
    with pytest.raises(UsageError, match="--k"):
        cluster_folder(folder, out, pipeline, method="kmeans")
    with pytest.raises(UsageError, match="outside"):
        cluster_folder(folder, folder, pipeline, threshold=THRESHOLD)
    with pytest.raises(DataError, match="no clustering run"):
        load_run(tmp_path)
    assert not out.exists()


def test_out_inside_the_photo_folder_is_not_clustered_again(tmp_path, lfw_dir, pipeline):
    root = tmp_path / "photos"
    root.mkdir()
    shutil.copy(lfw(lfw_dir, "Colin_Powell", 1), root)
    out = root / "clusters"
    cluster_folder(root, out, pipeline, threshold=THRESHOLD, progress=False, link="copy")
    again = cluster_folder(root, out, pipeline, threshold=THRESHOLD, progress=False, link="copy")
    assert again.n_photos == 1 and again.n_embedded_now == 0  # the copies under OUT are not photos to cluster


def test_stable_ids_follow_the_faces():
    from facenet.cluster.results import Cluster, ClusterFace, ClusterRun
    from facenet.cluster.run import stable_ids

    def cl(cid, keys):
        return Cluster(cid, None, [ClusterFace("p", (0, 0, 1, 1), 0, 0.0, None, "", k) for k in keys])

    previous = ClusterRun(clusters=[cl(1, "abc"), cl(2, "de"), cl(5, "f")], unclustered=[])
    keys = list("abcdefgh")
    labels = np.array([2, 2, 1, 1, 1, 3, 3, 0])  # new clusters: {a, b}, {c, d, e}, {f, g}; h unclustered
    # {a,b} shares 2 with old 1; {c,d,e} shares 2 with old 2 (and 1 with old 1, taken); {f,g} shares f with old 5
    assert stable_ids(labels, keys, previous).tolist() == [1, 1, 2, 2, 2, 5, 5, 0]
    brand_new = np.array([1, 0, 0, 0, 0, 0, 2, 2])  # {a} -> old 1; {g, h} is new: the smallest free id, 2
    assert stable_ids(brand_new, keys, previous).tolist() == [1, 0, 0, 0, 0, 0, 2, 2]


def test_merge_and_move_out(folder, tmp_path, pipeline, shared_cache):
    from facenet.cluster.edit import CannotLinkError, merge_clusters, move_face_out

    out = tmp_path / "out"
    run = cluster_folder(folder, out, pipeline, threshold=THRESHOLD, cache=shared_cache, progress=False)
    bush = main_face(run, str(folder / "a" / "George_W_Bush_0001.jpg"))[0]
    powell = main_face(run, str(folder / "b" / "Colin_Powell_0001.jpg"))[0]
    name_cluster(out, powell, "Colin")
    merged = merge_clusters(out, "Colin", bush)  # the name comes along to the unnamed target
    assert merged.id == bush and merged.name == "Colin" and merged.folder == "Colin" and merged.size == 6
    assert sorted(p.name for p in (out / "Colin").iterdir()) == sorted(Path(f.photo).name for f in merged.faces)
    assert not (out / f"cluster_{bush:04d}").exists()
    assert [f.distance_to_centre for f in merged.faces] == sorted(f.distance_to_centre for f in merged.faces)
    group = [cid for cid, f in load_run(out).all_faces() if f.photo.endswith("group20.jpg") and cid is not None]
    with pytest.raises(CannotLinkError, match="group20.jpg"):
        merge_clusters(out, group[0], group[1])
    key = next(f.key for f in merged.faces if f.photo.endswith("George_W_Bush_0002.jpg"))
    after = move_face_out(out, key)
    assert after.cluster("Colin").size == 5 and any(f.key == key for f in after.unclustered)
    assert (out / "unclustered" / "George_W_Bush_0002.jpg").resolve() == (folder / "a" / "George_W_Bush_0002.jpg").resolve()
    assert key not in json.loads((out / "names.json").read_text())["names"][0]["faces"]
    assert load_run(out).to_dict() == after.to_dict()
    missing = [r for r in sheet_refs(out) if not (out / unquote(r)).exists()]
    assert missing == []


def test_split_undoes_a_merge_of_two_people(folder, tmp_path, pipeline, shared_cache):
    from facenet.cluster.edit import merge_clusters, split_cluster

    out = tmp_path / "out"
    run = cluster_folder(folder, out, pipeline, threshold=THRESHOLD, cache=shared_cache, progress=False)
    bush = main_face(run, str(folder / "a" / "George_W_Bush_0001.jpg"))[0]
    powell = main_face(run, str(folder / "b" / "Colin_Powell_0001.jpg"))[0]
    bush_keys, powell_keys = run.cluster(bush).keys, run.cluster(powell).keys
    name_cluster(out, bush, "Both")
    merge_clusters(out, powell, "Both")
    assert review_links(out)[0] == f"cluster-{bush}"  # the merged pair is the one to check first
    with pytest.raises(UsageError, match="needs 8"):
        split_cluster(out, "Both", 4)
    r = split_cluster(out, "Both")
    assert {frozenset(r.kept.keys), frozenset(r.new.keys)} == {frozenset(bush_keys), frozenset(powell_keys)}
    assert r.kept.name == "Both" and r.kept.folder == "Both" and r.new.name is None and r.gap > 0.3
    assert r.new.id == max(c.id for c in run.clusters) + 1 and r.new.folder == f"cluster_{r.new.id:04d}"
    for c in (r.kept, r.new):
        assert sorted(p.name for p in (out / c.folder).iterdir()) == sorted(Path(f.photo).name for f in c.faces)
    assert set(json.loads((out / "names.json").read_text())["names"][0]["faces"]) == r.kept.keys
    assert load_run(out).to_dict()["clusters"] == [c.to_dict() for c in load_run(out).clusters]
    assert [r2 for r2 in sheet_refs(out) if not (out / unquote(r2)).exists()] == []
    assert r.to_dict() == {"kept": {"id": r.kept.id, "name": "Both", "folder": "Both", "size": 3},
                           "new": {"id": r.new.id, "name": None, "folder": r.new.folder, "size": 3}, "gap": round(r.gap, 4)}
    again = cluster_folder(folder, out, pipeline, threshold=THRESHOLD, cache=shared_cache, update=True, progress=False)
    assert again.cluster("Both").keys == r.kept.keys and again.cluster(r.new.id).keys == r.new.keys  # --update keeps the split
    own = tmp_path / "own"  # a run whose cache is then lost: the split says what to do
    cluster_folder([folder / "a", folder / "b"], own, pipeline, threshold=3.9, cache=tmp_path / "own.sqlite", progress=False)
    (tmp_path / "own.sqlite").unlink()
    with pytest.raises(DataError, match="embedding cache .* run the clustering again"):
        split_cluster(own, 1, 1)


def test_update_uses_the_shipped_detach_limits_unless_a_threshold_is_given():
    from facenet.cluster.methods import single_threshold
    from facenet.cluster.run import _join_limits
    from facenet.cluster.threshold import default_options

    lab = np.array([0, 0, 0, 1, -1])
    opts = default_options("sface", "graph")
    assert opts["size_rule"] == "detach"
    got = _join_limits("sface", "graph", opts["source"], 5000, lab, 2, opts["threshold"])
    single = single_threshold("sface", 5000, opts["pair_fpir"], opts["threshold"])
    t, p = opts["size_limit"], opts["size_power"]
    want = [min(opts["threshold"], t + (single - t) * n ** -p) for n in (3, 1)]
    np.testing.assert_allclose(got, want)
    assert got[1] < got[0] <= opts["threshold"]  # a lone face is harder to join than a group
    assert _join_limits("sface", "graph", "given", 5000, lab, 2, 1.1) is None
    assert _join_limits("sface", "dbscan", opts["source"], 5000, lab, 2, 1.1) is None
