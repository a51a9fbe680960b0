"""PostgresStore under concurrent writers (processes and threads on one gallery), and the embedded
server's recovery from killed runs (facenet.gallery.pg_server).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from facenet.gallery.pg_server import EmbeddedServerError, embedded_server, server_pid
from facenet.gallery.postgres_store import PostgresStore
from facenet.gallery.store import NewFace

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pg_common  # noqa: E402
from pg_common import REPO, _sql, sha, unit  # noqa: E402

store, gallery_name, pg_url, pg_server_url = pg_common.store, pg_common.gallery_name, pg_common.pg_url, pg_common.pg_server_url  # fixtures

# ---------------------------------------------------------------------------------- concurrency

CHILD = r"""
import hashlib, sys, time
from pathlib import Path
import numpy as np
from facenet.gallery.postgres_store import PostgresStore
from facenet.gallery.store import NewFace
url, name, tag, n, sync = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5])
store = PostgresStore.open(url, None, name)
(sync / ("ready-" + tag)).touch()
while not (sync / "go").exists():
    time.sleep(0.002)
rng = np.random.default_rng(int(hashlib.sha256(tag.encode()).hexdigest()[:8], 16))
for i in range(n):
    v = rng.normal(size=store.identity.embedding_size).astype(np.float32)
    v /= np.linalg.norm(v)
    store.add_faces("shared%d" % (i % 3), [NewFace(v, hashlib.sha256(("%s-%d" % (tag, i)).encode()).hexdigest())])
    store.add_faces("%s-%d" % (tag, i), [NewFace(v)])
store.close()
"""


def test_concurrent_writers_lose_nothing(store: PostgresStore, pg_url: str, gallery_name: str, tmp_path: Path) -> None:
    """Two processes and two threads (four connections) enrol at once; every face and every
    generation bump is there."""
    n, tags = 25, ["proc0", "proc1", "thread0", "thread1"]
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, pg_url, gallery_name, t, str(n), str(tmp_path)], cwd=REPO)
             for t in tags[:2]]

    def writer(tag: str) -> None:
        rng = np.random.default_rng(int(sha(tag)[:8], 16))
        with PostgresStore.open(pg_url, None, gallery_name) as s:
            (tmp_path / f"ready-{tag}").touch()
            while not (tmp_path / "go").exists():
                time.sleep(0.002)
            for i in range(n):
                v = unit(rng, 1)[0]
                s.add_faces(f"shared{i % 3}", [NewFace(v, sha(f"{tag}-{i}"))])
                s.add_faces(f"{tag}-{i}", [NewFace(v)])

    threads = [threading.Thread(target=writer, args=(t,)) for t in tags[2:]]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{t}").exists() for t in tags):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "the writers did not start"
        time.sleep(0.01)
    (tmp_path / "go").touch()  # all four start together
    for t in threads:
        t.join()
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    subjects = {s.name: s.n_faces for s in store.subjects()}
    assert sum(subjects[f"shared{j}"] for j in range(3)) == 4 * n
    assert all(subjects[f"{t}-{i}"] == 1 for t in tags for i in range(n))
    assert len(store.all_embeddings()[0]) == 8 * n and store.generation() == 8 * n  # one bump per write


# ---------------------------------------------------------------------------------- pg_server


def test_embedded_server_survives_killed_runs() -> None:
    """A user killed while the server ran (its entry stays; the server is adopted, then stopped by
    the last live user), and a server killed with SIGKILL (a stale postmaster.pid naming a live
    process that is not PostgreSQL): the next start works and the data is there."""
    base = Path(tempfile.mkdtemp(prefix="fnpg-"))  # short: the Unix socket goes in the data folder
    data = base / "pg"
    try:
        try:
            ctx = embedded_server(data)
            url = ctx.__enter__()
        except EmbeddedServerError as exc:
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI=true but the embedded PostgreSQL could not start: {exc}", pytrace=False)
            pytest.skip(f"the embedded PostgreSQL could not start: {exc}")
        _sql(url, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
        first = server_pid(data)
        dead = subprocess.Popen(["true"])
        dead.wait()
        lock = data.with_name("pg.lock")
        lock.write_text(json.dumps([{"pid": dead.pid, "started": 0.0, "token": "gone"}]))  # we "died"
        with embedded_server(data) as again:
            assert again == url and server_pid(data) == first  # adopted, not restarted
        assert server_pid(data) is None  # the last live user stopped it
        ctx.__exit__(None, None, None)

        with embedded_server(data) as url:
            pid = server_pid(data)
            os.kill(pid, signal.SIGKILL)
            sleeper = subprocess.Popen(["sleep", "60"])
            deadline = time.monotonic() + 10
            while server_pid(data) is not None and time.monotonic() < deadline:
                time.sleep(0.02)
            lines = (data / "postmaster.pid").read_text().splitlines()
            (data / "postmaster.pid").write_text("\n".join([str(sleeper.pid)] + lines[1:]) + "\n")
        try:
            with embedded_server(data) as url:
                assert _sql(url, "SELECT count(*) FROM t") == [(1,)]
        finally:
            sleeper.kill()
        assert server_pid(data) is None
        (base / "junk").mkdir()
        (base / "junk" / "file").write_text("x")
        with pytest.raises(EmbeddedServerError, match="not a PostgreSQL data folder"):
            with embedded_server(base / "junk"):
                pass
    finally:
        shutil.rmtree(base, ignore_errors=True)
