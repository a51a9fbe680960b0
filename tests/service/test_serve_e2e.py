"""`facenet serve` for real: a subprocess on a free loopback port, called over HTTP, then
stopped. Also the refusals at start-up (a non-loopback address without a key, a bad flag)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_helpers import MULTIPART_HEAD, PEOPLE  # noqa: E402

from facenet.cli import main

pytestmark = [pytest.mark.data, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    import httpx

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become healthy in time")


def test_serve_over_http(tmp_path, photo):
    import json

    import httpx

    keys = tmp_path / "keys.db"
    out = subprocess.run([sys.executable, "-m", "facenet", "keys", "create", "--scope", "enrol", "--keys", str(keys), "--json"],
                         capture_output=True, text=True, timeout=60, check=True)
    key = json.loads(out.stdout)["key"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "server.log", "wb")  # a file, not a pipe that could fill up and stall the server
    proc = subprocess.Popen([sys.executable, "-m", "facenet", "serve", "--gallery", str(tmp_path / "g.gallery"), "--keys", str(keys),
                             "--port", str(port), "--max-upload-mb", "1", "--workers-pool", "1", "--log-level", "warning"],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        wait_healthy(url, proc, tmp_path / "server.log")
        h = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, headers=h, timeout=30) as c:
            assert c.get("/api/v1/subjects").json() == []
            person = PEOPLE[0]
            r = c.post(f"/api/v1/subjects/{person}/faces", files={"image": ("a.jpg", photo(person, 1))})
            assert r.status_code == 201, r.text
            r = c.post("/api/v1/identify", files={"image": ("b.jpg", photo(person, 2))})
            assert r.status_code == 200 and r.json()["faces"][0]["name"] == person
            assert httpx.get(url + "/api/v1/subjects", timeout=10).status_code == 401
            r = c.delete(f"/api/v1/subjects/{person}")  # an enrol key cannot delete
            assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"

            def chunks():  # a 3 MB multipart upload with no Content-Length against a 1 MB limit
                yield MULTIPART_HEAD
                for _ in range(300):
                    yield b"x" * 10_000

            r = c.post("/api/v1/detect", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"})
            assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
            assert c.get("/health").status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    text = (tmp_path / "server.log").read_text(errors="replace")
    assert proc.returncode == 0, text[-2000:]
    assert "Traceback" not in text


def test_refuses_a_public_address_without_keys(tmp_path, capsys):
    code = main(["serve", "--gallery", str(tmp_path / "g.gallery"), "--keys", str(tmp_path / "none.db"), "--host", "0.0.0.0"])
    assert code == 2
    assert "non-loopback" in capsys.readouterr().err
    assert not (tmp_path / "g.gallery").exists()  # refused before anything was opened


def test_refuses_a_missing_photos_root(tmp_path, capsys):
    code = main(["serve", "--gallery", str(tmp_path / "g.gallery"), "--keys", str(tmp_path / "k.db"), "--photos", str(tmp_path / "nope")])
    assert code == 2 and "not a folder" in capsys.readouterr().err


def test_keys_cli(tmp_path, capsys):
    keys = str(tmp_path / "k.db")
    assert main(["keys", "create", "--scope", "admin", "--name", "ops", "--keys", keys]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("fn_")
    assert main(["keys", "list", "--keys", keys]) == 0
    listed = capsys.readouterr().out
    assert "admin" in listed and "ops" in listed and key not in listed and key[-4:] in listed
    assert main(["keys", "revoke", "1", "--keys", keys]) == 0
    assert main(["keys", "revoke", "1", "--keys", keys]) == 2
    assert main(["keys", "create", "--scope", "root", "--keys", keys]) == 2


def test_bad_limits_are_usage_errors(tmp_path, capsys):
    base = ["serve", "--gallery", str(tmp_path / "g.gallery"), "--keys", str(tmp_path / "k.db")]
    assert main([*base, "--workers-pool", "0"]) == 2
    assert "workers" in capsys.readouterr().err
    assert main([*base, "--max-upload-mb", "0"]) == 2
    assert main([*base, "--port", "70000"]) == 2
