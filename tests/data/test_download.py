"""download_lfw against a tiny archive served from a local HTTP server (no internet needed)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
from PIL import Image

from facenet.data.download import Checksum, download_lfw, safe_extract
from facenet.data.lfw import read_pairs
from facenet.errors import DataError

PAIRS = "1\t1\nAnn_A\t1\t2\nAnn_A\t1\tBob_B\t1\n"
DEV = "1\nAnn_A\t1\t2\nAnn_A\t2\tBob_B\t1\n"


def _jpeg(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buf, "JPEG")
    return buf.getvalue()


def _tar(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def _lfw_tar(top: str = "lfw") -> bytes:
    return _tar({
        f"{top}/Ann_A/Ann_A_0001.jpg": _jpeg((200, 10, 10)),
        f"{top}/Ann_A/Ann_A_0002.jpg": _jpeg((10, 200, 10)),
        f"{top}/Bob_B/Bob_B_0001.jpg": _jpeg((10, 10, 200)),
    })


def _sum(data: bytes, alg: str = "sha256") -> Checksum:
    return Checksum(alg, hashlib.new(alg, data).hexdigest())


@dataclass
class Server:
    base: str
    files: dict[str, bytes]
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    honor_range: bool = True
    truncate_once: bool = False  # send half the body, then drop the connection (once)

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(base="", files={})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            name = self.path.lstrip("/")
            rng = self.headers.get("Range")
            state.requests.append((name, rng))
            if name not in state.files:
                self.send_error(404)
                return
            data = state.files[name]
            start = 0
            if rng and state.honor_range and rng.startswith("bytes=") and rng.endswith("-"):
                start = int(rng[6:-1])
                if start >= len(data):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            if state.truncate_once:
                state.truncate_once = False
                self.wfile.write(data[start : start + (len(data) - start) // 2])
                self.close_connection = True
                return
            self.wfile.write(data[start:])

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _serve_lfw(server: Server, top: str = "lfw") -> bytes:
    archive = _lfw_tar(top)
    server.files.update({"lfw-test.tgz": archive, "pairs.txt": PAIRS.encode(), "pairsDevTest.txt": DEV.encode()})
    return archive


def _get(server: Server, dest: Path, archive: bytes, **kw) -> Path:
    args = dict(
        url=server.url("lfw-test.tgz"), checksum=_sum(archive), pairs_url=server.url("pairs.txt"),
        pairs_checksum=_sum(PAIRS.encode(), "md5"), extra_pairs=(), progress=False,
    )
    args.update(kw)
    return download_lfw(dest, **args)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("top", ["lfw", "lfw-deepfunneled"])
def test_download_verifies_extracts_and_fetches_pairs(server: Server, tmp_path: Path, top: str) -> None:
    archive = _serve_lfw(server, top)
    dest = tmp_path / "data"
    dev = (server.url("pairsDevTest.txt"), "md5:" + hashlib.md5(DEV.encode()).hexdigest())
    root = _get(server, dest, archive, extra_pairs=(dev,))
    assert root == dest / "lfw"
    assert (root / "Ann_A" / "Ann_A_0002.jpg").is_file() and (root / "Bob_B" / "Bob_B_0001.jpg").is_file()
    assert (root / "pairs.txt").read_text() == PAIRS
    assert (root / "pairsDevTest.txt").read_text() == DEV
    assert _files(dest) == sorted([
        "lfw", "lfw/.facenet-download.json", "lfw/Ann_A", "lfw/Ann_A/Ann_A_0001.jpg",
        "lfw/Ann_A/Ann_A_0002.jpg", "lfw/Bob_B", "lfw/Bob_B/Bob_B_0001.jpg", "lfw/pairs.txt",
        "lfw/pairsDevTest.txt",
    ])  # archive removed, no .part or staging folder left
    pairs = read_pairs(root / "pairs.txt", root)
    assert len(pairs) == 2 and pairs.same.tolist() == [True, False]
    with Image.open(root / "Ann_A" / "Ann_A_0001.jpg") as im:
        assert im.size == (16, 16)


def test_second_call_is_idempotent(server: Server, tmp_path: Path) -> None:
    archive = _serve_lfw(server)
    dest = tmp_path / "data"
    _get(server, dest, archive)
    n = len(server.requests)
    before = {p: p.stat().st_mtime_ns for p in dest.rglob("*")}
    assert _get(server, dest, archive) == dest / "lfw"
    assert _get(server, dest, archive, checksum=None, pairs_checksum=None) == dest / "lfw"
    assert len(server.requests) == n  # nothing fetched again
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*")} == before
    # a corrupted pairs file is detected and fetched again
    (dest / "lfw" / "pairs.txt").write_text("garbage")
    _get(server, dest, archive)
    assert server.requests[n:] == [("pairs.txt", None)]
    assert (dest / "lfw" / "pairs.txt").read_text() == PAIRS


def test_wrong_checksum_leaves_nothing(server: Server, tmp_path: Path) -> None:
    archive = _serve_lfw(server)
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="Checksum mismatch"):
        _get(server, dest, archive, checksum=Checksum("sha256", "0" * 64))
    assert _files(dest) == []
    with pytest.raises(DataError, match="Checksum mismatch"):
        _get(server, dest, archive, checksum="md5:" + "f" * 32)
    assert _files(dest) == []
    with pytest.raises(DataError, match="Checksum mismatch"):  # the CLI's --sha256 shorthand
        _get(server, dest, archive, checksum=None, sha256="a" * 64)
    assert _files(dest) == []
    assert _get(server, dest, archive, checksum=None, sha256=hashlib.sha256(archive).hexdigest()).is_dir()


def test_wrong_pairs_checksum(server: Server, tmp_path: Path) -> None:
    archive = _serve_lfw(server)
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="Checksum mismatch"):
        _get(server, dest, archive, pairs_checksum=Checksum("md5", "9f1ba174e4e1c508ff7cdf10ac338a7d"))
    assert not any(p.name.startswith("pairs.txt") for p in dest.rglob("*"))


@pytest.mark.parametrize(
    "members,symlinks",
    [
        ({"lfw/Ann_A/Ann_A_0001.jpg": b"x", "../evil": b"pwned"}, None),
        ({"lfw/../../evil": b"pwned"}, None),
        ({"/tmp/facenet-test-evil-abs": b"pwned"}, None),
        ({"lfw/Ann_A/Ann_A_0001.jpg": b"x"}, {"lfw/link": "../../evil"}),
    ],
)
def test_malicious_archive_is_refused(server: Server, tmp_path: Path, members, symlinks) -> None:
    archive = _tar(members, symlinks)
    server.files.update({"lfw-test.tgz": archive, "pairs.txt": PAIRS.encode()})
    dest = tmp_path / "a" / "data"
    with pytest.raises(DataError, match="Refusing to extract"):
        _get(server, dest, archive)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "a" / "evil").exists()
    assert not Path("/tmp/facenet-test-evil-abs").exists()
    assert _files(dest) == []  # no lfw/, no staging folder, bad archive deleted


@pytest.mark.parametrize("honor_range", [True, False])
def test_resumes_partial_download(server: Server, tmp_path: Path, honor_range: bool) -> None:
    archive = _serve_lfw(server)
    server.honor_range = honor_range
    dest = tmp_path / "data"
    dest.mkdir()
    half = len(archive) // 2
    (dest / "lfw-test.tgz.part").write_bytes(archive[:half])
    root = _get(server, dest, archive)
    assert (root / "Bob_B" / "Bob_B_0001.jpg").is_file()
    assert server.requests[0] == ("lfw-test.tgz", f"bytes={half}-")
    assert not (dest / "lfw-test.tgz.part").exists()


def test_interrupted_download_resumes_on_next_call(server: Server, tmp_path: Path) -> None:
    archive = _serve_lfw(server)
    server.truncate_once = True
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="run again to resume"):
        _get(server, dest, archive)
    part = dest / "lfw-test.tgz.part"
    assert 0 < part.stat().st_size < len(archive) and not (dest / "lfw").exists()
    root = _get(server, dest, archive)
    assert server.requests[-2] == ("lfw-test.tgz", f"bytes={len(archive) // 2}-")
    assert (root / "Ann_A" / "Ann_A_0001.jpg").is_file() and not part.exists()


def test_unpinned_checksum_prints_digest(server: Server, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    archive = _serve_lfw(server)
    _get(server, tmp_path / "data", archive, checksum=None)
    err = capsys.readouterr().err
    assert f"sha256:{hashlib.sha256(archive).hexdigest()}" in err


def test_http_error_and_foreign_folder(server: Server, tmp_path: Path) -> None:
    archive = _serve_lfw(server)
    with pytest.raises(DataError, match="HTTP 404"):
        _get(server, tmp_path / "d1", archive, url=server.url("missing.tgz"))
    (tmp_path / "d2" / "lfw").mkdir(parents=True)
    with pytest.raises(DataError, match="not made by a verified download"):
        _get(server, tmp_path / "d2", archive)
    assert server.requests == [("missing.tgz", None)]


def test_checksum_parsing() -> None:
    md5 = "9f1ba174e4e1c508ff7cdf10ac338a7d"
    assert Checksum.parse(md5) == Checksum("md5", md5)
    assert Checksum.parse("SHA256:" + "A" * 64) == Checksum("sha256", "a" * 64)
    assert str(Checksum("md5", md5.upper())) == f"md5:{md5}"
    for bad in ("crc32:1234", "md5:xyz", "abc"):
        with pytest.raises(ValueError):
            Checksum.parse(bad)


def test_safe_extract_plain(tmp_path: Path) -> None:
    (tmp_path / "a.tgz").write_bytes(_lfw_tar())
    safe_extract(tmp_path / "a.tgz", tmp_path / "out")
    assert (tmp_path / "out" / "lfw" / "Ann_A" / "Ann_A_0001.jpg").is_file()
    (tmp_path / "bad.tgz").write_bytes(b"not a tar")
    with pytest.raises(DataError, match="Cannot extract"):
        safe_extract(tmp_path / "bad.tgz", tmp_path / "out2")


def test_cli_data_lfw_download(server: Server, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from facenet.cli import main

    archive = _serve_lfw(server)
    argv = ["data", "lfw", "--download", str(tmp_path / "d"), "--url", server.url("lfw-test.tgz"),
            "--checksum", str(_sum(archive)), "--pairs-url", server.url("pairs.txt"),
            "--pairs-checksum", str(_sum(PAIRS.encode(), "md5")), "--no-dev-pairs", "--no-progress"]
    assert main(argv) == 0
    assert (tmp_path / "d" / "lfw" / "pairs.txt").read_text() == PAIRS
    assert "LFW ready" in capsys.readouterr().out
    bad = argv[:]
    bad[bad.index("--checksum") + 1] = "sha256:" + "0" * 64
    bad[bad.index("--download") + 1] = str(tmp_path / "e")
    assert main(bad) == 1
    err = capsys.readouterr().err
    assert err.startswith("facenet: error:") and "Traceback" not in err
