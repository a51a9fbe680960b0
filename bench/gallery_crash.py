"""Issue 9's reliability check: SIGKILL a process in the middle of enrolling, again and again.

Each round forks a worker that opens the SQLite gallery and enrols subjects of ``--faces``
faces each (one transaction per subject), saving the FAISS index after every third one; after a
random delay (counted from its start in even rounds, from its first commit in odd ones) the
worker is killed with SIGKILL, wherever it is (inside a transaction, writing the index file,
opening the gallery). Subjects of older rounds are then removed, so the gallery stays small.
After every kill this process checks that:

- the gallery opens;
- every subject is whole (all its faces, with the exact embeddings written, or absent), every
  enrolment the worker saw committed is there, none it never began is;
- a FaceIndex loaded or rebuilt afterwards holds exactly the database's faces and finds each of
  them at distance 0 (``FaceIndex.open``: a stale or half-written index file is rebuilt).

Workers are forked by a small single-threaded helper process that imported everything once (a
fork per round costs milliseconds, not a Python start-up). ``tests/gallery/test_crash.py`` runs
20 rounds of this; the issue's figure is 100::

    .venv/bin/python bench/gallery_crash.py --count 100 [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

DIM = 32


def expected_embeddings(rnd: int, i: int, faces: int) -> np.ndarray:
    """The (faces, DIM) unit embeddings of subject ``r{rnd}-s{i}`` (the same in every process)."""
    x = np.random.default_rng([rnd, i]).standard_normal((faces, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def identity() -> Any:
    from facenet.gallery.store import ModelIdentity

    return ModelIdentity("crash-test", "", DIM, False)


# ------------------------------------------------------------------ the helper and its workers
def _emit(line: str) -> None:
    os.write(1, (line + "\n").encode())


def _worker(gallery: Path, rnd: int, faces: int) -> None:
    from facenet.gallery.index import FaceIndex, index_path_for
    from facenet.gallery.sqlite_store import SQLiteStore
    from facenet.gallery.store import NewFace

    _emit(f"ready {rnd}")
    store = SQLiteStore.open(gallery, identity())
    for i in range(10**6):
        new = [NewFace(e, f"{rnd:08x}{i:08x}{j:048x}", (0.0, 0.0, 1.0, 1.0), "crash")
               for j, e in enumerate(expected_embeddings(rnd, i, faces))]
        _emit(f"begin {rnd} {i}")
        store.add_faces(f"r{rnd}-s{i}", new)
        _emit(f"commit {rnd} {i}")
        if i % 3 == 2:
            FaceIndex.open(store, index_path_for(gallery))  # stale after the commits: rebuilt and saved
            _emit(f"saved {rnd} {i}")


def _serve(gallery: Path, faces: int) -> None:
    """Read "go ROUND" lines; fork a worker for each, report its pid and how it ended."""
    import faiss  # noqa: F401  (imported once, before any fork; this process stays single-threaded)

    import facenet.gallery.index  # noqa: F401
    import facenet.gallery.sqlite_store  # noqa: F401

    for line in sys.stdin:
        rnd = int(line.split()[1])
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _worker(gallery, rnd, faces)
            except BaseException as exc:  # reported to the parent, which counts it as a problem
                _emit(f"error {rnd} {type(exc).__name__}: {exc}".replace("\n", " "))
                code = 1
            os._exit(code)
        _emit(f"pid {rnd} {pid}")
        _, status = os.waitpid(pid, 0)
        _emit(f"dead {rnd} {status}")


class _Helper:
    def __init__(self, gallery: Path, faces: int) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", str(gallery),
                                      "--faces", str(faces)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self._buf = b""
        self._pending: list[str] = []

    def push_back(self, lines: list[str]) -> None:
        self._pending = lines + self._pending

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def lines(self, timeout: float = 60.0) -> list[str]:
        """The complete lines available now (waiting up to ``timeout`` for at least one)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        if self._pending:
            out, self._pending = self._pending, []
            return out
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            if timeout == 0.0:
                return []
            raise TimeoutError("the crash helper said nothing for a minute")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise RuntimeError("the crash helper exited: " + self.proc.stderr.read().decode(errors="replace"))
        self._buf += chunk
        *done, self._buf = self._buf.split(b"\n")
        return [d.decode() for d in done]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


# ------------------------------------------------------------------ one round and its check
def _one_round(helper: _Helper, rnd: int, delay: float, start: str) -> dict[str, Any]:
    """Fork a worker; ``delay`` s after its ``start`` line ("ready": it is about to open the
    gallery; "commit": its first enrolment is in), SIGKILL it."""
    helper.send(f"go {rnd}")
    pid, ready, killed, status, seen, errors = None, False, False, None, [], []
    while status is None:
        for line in helper.lines(timeout=0.0 if ready and not killed else 60.0):
            kind, args = line.split(" ", 1)[0], line.split()[1:]
            ready = ready or kind == start
            if kind == "pid":
                pid = int(args[1])
            elif kind == "dead":
                status = int(args[1])
            elif kind == "error":
                errors.append(line)
            elif kind in ("begin", "commit", "saved"):
                seen.append((kind, int(args[1])))
        if pid is not None and ready and not killed and status is None:
            time.sleep(delay)
            pending = helper.lines(timeout=0.0)  # a worker that already died is not killed (its pid may be reused)
            if not any(ln.startswith(("dead", "error")) for ln in pending):
                os.kill(pid, signal.SIGKILL)
            killed = True
            helper.push_back(pending)
    began = {i for kind, i in seen if kind == "begin"}
    committed = {i for kind, i in seen if kind == "commit"}
    last, i = seen[-1] if seen else ("opening", 0)
    if last == "commit":
        last = "index" if i % 3 == 2 else "saved"
    where = {"begin": "in add_faces", "index": "saving the index", "saved": "between enrolments",
             "opening": "before enrolling"}[last]
    by_signal = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    return {"round": rnd, "began": began, "committed": committed, "where": where, "errors": errors,
            "killed": by_signal}


def check(gallery: Path, faces: int, rounds: list[dict[str, Any]], removed: set[str] | frozenset[str] = frozenset()
          ) -> tuple[list[str], dict[str, Any]]:
    """Problems found in the gallery after the rounds so far (empty: all is well), and facts.
    ``removed``: subjects this process deleted since (they are not missing)."""
    from facenet.gallery.index import FaceIndex, index_path_for
    from facenet.gallery.sqlite_store import SQLiteStore

    problems: list[str] = []
    try:
        store = SQLiteStore.open(gallery, identity())
    except Exception as exc:  # the one thing that must never happen: reported, not raised
        return [f"the gallery did not open: {type(exc).__name__}: {exc}"], {}
    try:
        counts = {s.name: s.n_faces for s in store.subjects()}
        ids, emb, names = store.all_embeddings()
        for r in rounds:
            for i in r["committed"]:
                if f"r{r['round']}-s{i}" not in counts and f"r{r['round']}-s{i}" not in removed:
                    problems.append(f"round {r['round']}: committed subject r{r['round']}-s{i} is missing")
        known = {f"r{r['round']}-s{i}" for r in rounds for i in r["began"]}
        names_arr = np.array(names, dtype=object)
        for name, n in counts.items():
            if name not in known:
                problems.append(f"subject {name} exists but was never enrolled")
            if n != faces:
                problems.append(f"subject {name} holds {n} of its {faces} faces")
                continue
            rnd, i = (int(p[1:]) for p in name.split("-"))
            if not np.array_equal(emb[names_arr == name], expected_embeddings(rnd, i, faces)):
                problems.append(f"subject {name}: embeddings differ from those written")
        index = FaceIndex.open(store, index_path_for(gallery))
        if not np.array_equal(index.face_ids(), ids):
            problems.append(f"the index ({index.source}) holds other faces than the database")
        elif len(ids):
            sample = np.random.default_rng(len(ids)).choice(len(ids), size=min(64, len(ids)), replace=False)
            dist, found = index.search(emb[sample], 1)
            if not (np.array_equal(found[:, 0], ids[sample]) and np.all(dist[:, 0] < 1e-4)):
                problems.append(f"the index ({index.source}) does not find the database's faces")
            if index.subject_of(ids[sample]) != [names[j] for j in sample]:
                problems.append(f"the index ({index.source}) names faces differently from the database")
        facts = {"subjects": len(counts), "faces": int(len(ids)), "index": index.source}
    finally:
        store.close()
    return problems, facts


def _prune(gallery: Path, keep_from: int) -> set[str]:
    """Remove the subjects of rounds before ``keep_from`` (keeps the gallery small, so a round
    stays fast; the removals are changes the next index must notice too)."""
    from facenet.gallery.sqlite_store import SQLiteStore

    with SQLiteStore.open(gallery, identity()) as store:
        old = [s.name for s in store.subjects() if int(s.name.split("-")[0][1:]) < keep_from]
        for name in old:
            store.remove_subject(name)
    return set(old)


def run_rounds(gallery: Path, count: int, faces: int = 1000, seed: int = 0, max_delay: float = 0.3,
               log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``count`` kill-and-check rounds on ``gallery`` (created when missing). Returns a report
    with every problem found (an empty list when the gallery survived every kill)."""
    from facenet.gallery.sqlite_store import SQLiteStore

    if not gallery.exists():
        SQLiteStore.create(gallery, identity()).close()
    rng = np.random.default_rng(seed)
    helper = _Helper(gallery, faces)
    rounds: list[dict[str, Any]] = []
    problems: list[str] = []
    where: dict[str, int] = {}
    index_from: dict[str, int] = {}
    start = time.perf_counter()
    facts: dict[str, Any] = {}
    removed: set[str] = set()
    checked = 0
    try:
        for rnd in range(count):
            # odd rounds: counted from the first commit, so a slow machine still kills mid-enrolment
            r = _one_round(helper, rnd, float(rng.uniform(0.0, max_delay)), "commit" if rnd % 2 else "ready")
            rounds.append(r)
            problems += [f"round {rnd}: worker failed: {e}" for e in r["errors"]]
            if not r["killed"]:
                problems.append(f"round {rnd}: the worker was not killed by SIGKILL")
            found, facts = check(gallery, faces, rounds, removed)
            removed |= _prune(gallery, keep_from=rnd)
            problems += [f"round {rnd} (killed {r['where']}): {p}" for p in found]
            checked += facts.get("subjects", 0)
            where[r["where"]] = where.get(r["where"], 0) + 1
            index_from[facts.get("index", "?")] = index_from.get(facts.get("index", "?"), 0) + 1
            if log:
                log(f"round {rnd:3d}: killed {r['where']:<20} subjects {facts.get('subjects')}, "
                    f"index {facts.get('index')}, problems {len(found)}")
    finally:
        helper.close()
    return {"rounds": count, "faces_per_subject": faces, "killed_where": where, "index_after_kill": index_from,
            "subjects": facts.get("subjects", 0), "faces": facts.get("faces", 0), "subjects_checked": checked,
            "problems": problems,
            "seconds": round(time.perf_counter() - start, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100, help="kill-and-check rounds (default 100)")
    ap.add_argument("--faces", type=int, default=1000, help="faces per subject (one transaction each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", type=Path, help="folder for the gallery (default: a temporary one)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        _serve(args.serve, args.faces)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        report = run_rounds(folder / "crash.gallery", args.count, args.faces, args.seed,
                            log=None if args.json else print)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"{report['rounds']} SIGKILLs in {report['seconds']} s ({report['faces_per_subject']} faces per "
              f"enrolment); killed: {report['killed_where']}; index after each kill: {report['index_after_kill']}; "
              f"{report['subjects_checked']} subjects checked whole in all; problems: {len(report['problems'])}")
        for p in report["problems"]:
            print("  " + p)
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
