"""The contact sheet: clusters largest first, names escaped, every src/href resolves from disk."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

from facenet.cluster.results import Cluster, ClusterFace, ClusterRun
from facenet.cluster.sheet import ROW_LIMIT, render, write_sheet
from facenet.errors import ItemError


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.headings: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        self._in_h2 = self._in_h2 or tag == "h2"
        if tag == "h2":
            self.headings.append("")
        self.refs += [v for k, v in attrs if k in ("src", "href")]

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2:
            self.headings[-1] += data


def make_run(out: Path, sizes: dict[tuple[int, str | None, str], int]) -> ClusterRun:
    """A run whose faces have real thumbnail and link files under ``out``."""
    clusters = []
    for (cid, name, folder), n in sizes.items():
        (out / folder).mkdir(parents=True, exist_ok=True)
        faces = []
        for i in range(n):
            photo = f"photo {cid}-{i} é.jpg"
            (out / folder / photo).write_bytes(b"jpg")
            thumb = f"thumbs/{cid}_{i}.jpg"
            (out / "thumbs").mkdir(exist_ok=True)
            (out / thumb).write_bytes(b"jpg")
            faces.append(ClusterFace(f"/src/{photo}", (0, 0, 1, 1), 0, 0.1, thumb, "s", f"{cid}:{i}", 1.0, f"{folder}/{photo}"))
        clusters.append(Cluster(cid, name, faces, folder))
    return ClusterRun(clusters=clusters, unclustered=[], n_photos=9, n_faces=sum(sizes.values()),
                      settings={"method": "graph", "threshold": 1.1, "threshold_source": "calibrated"},
                      model={"model": "sface"}, no_face=["/src/<grey>.png"], failed=[ItemError(0, "/src/bad.jpg", "corrupt")])


def test_rows_largest_first_and_every_link_resolves(tmp_path):
    run = make_run(tmp_path, {(1, None, "cluster_0001"): 2, (2, 'Ada <"&> Lovelace', "Ada Lovelace #1"): 5,
                              (3, "Zoë", "Zoë"): 3})
    path = write_sheet(tmp_path, run)
    page = _Page()
    html = path.read_text(encoding="utf-8")
    page.feed(html)
    titles = [h.split(" ")[0] for h in page.headings[:3]]
    assert titles == ["Ada", "Zoë", "Cluster"]  # 5, 3, 2 faces
    assert 'Ada &lt;&quot;&amp;&gt; Lovelace' in html and "<grey>" not in html  # names and paths escaped
    assert "No face found" in html and "Could not be read" in html
    assert len([r for r in page.refs if r.startswith("thumbs/")]) == 10
    missing = [r for r in page.refs if not (tmp_path / unquote(r)).exists()]
    assert page.refs and missing == []
    assert all(" " not in r and "#" not in r for r in page.refs)  # percent-encoded: safe as relative URLs
    assert "<script" not in html and "http" not in html  # nothing from outside, opens from disk


def test_clusters_of_one_face_share_one_section(tmp_path):
    run = make_run(tmp_path, {(1, None, "cluster_0001"): 2, (2, None, "cluster_0002"): 1, (3, None, "cluster_0003"): 1,
                              (4, "Bo", "Bo"): 1})
    page = _Page()
    page.feed(render(run))
    assert [h.split(" ")[0] for h in page.headings[:3]] == ["Cluster", "Bo", "2"]  # a named one keeps its row
    assert page.headings[2].startswith("2 clusters of one face")
    assert {unquote(r) for r in page.refs} >= {"cluster_0002/photo 2-0 é.jpg", "cluster_0003/photo 3-0 é.jpg"}
    assert not any(r in ("cluster_0002/", "cluster_0003/") for r in page.refs)  # no row heading of their own


def test_long_rows_are_cut_with_a_count(tmp_path):
    run = make_run(tmp_path, {(1, None, "cluster_0001"): ROW_LIMIT + 3})
    html = render(run)
    assert html.count("<img ") == ROW_LIMIT and "... and 3 more" in html


def test_a_face_without_a_thumbnail_shows_no_broken_image(tmp_path):
    f = ClusterFace("/src/a.jpg", (0, 0, 1, 1), 0, None, None, "s", "k", 1.0, None)
    html = render(ClusterRun(clusters=[], unclustered=[f], n_faces=1))
    page = _Page()
    page.feed(html)
    assert page.refs == ["unclustered/"] and "<img" not in html


def test_check_first_links_to_the_rows_and_is_left_out_when_empty(tmp_path):
    run = make_run(tmp_path, {(1, None, "cluster_0001"): 4, (2, "Ada", "Ada"): 6})
    from dataclasses import replace

    html = render(replace(run, check_first=[{"cluster": 2, "gap": 0.5841}, {"cluster": 1, "gap": 0.12},
                                            {"cluster": 9, "gap": 0.1}]))  # 9: gone since (a stale entry is skipped)
    page = _Page()
    page.feed(html)
    assert page.headings[0].startswith("Check first")
    assert [r for r in page.refs if r.startswith("#")] == ["#cluster-2", "#cluster-1"]
    assert 'id="cluster-2"' in html and 'id="cluster-1"' in html and "facenet cluster split OUT 2" in html
    assert "0.584 apart" in html
    assert "Check first" not in render(run)

