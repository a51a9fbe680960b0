"""Reliability of the SQLite gallery: SIGKILL in the middle of enrolling (bench/gallery_crash.py,
20 rounds here, 100 in the benchmark), and four processes enrolling and identifying at once."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facenet.gallery.index import FaceIndex, index_path_for
from facenet.gallery.sqlite_store import SQLiteStore
from facenet.gallery.store import ModelIdentity

REPO = Path(__file__).resolve().parents[2]
ROUNDS = 20

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the crash harness forks its workers (POSIX only)")


def _crash_module():
    spec = importlib.util.spec_from_file_location("gallery_crash", REPO / "bench" / "gallery_crash.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sigkill_while_enrolling_leaves_whole_subjects(tmp_path):
    crash = _crash_module()
    report = crash.run_rounds(tmp_path / "crash.gallery", ROUNDS, faces=200, seed=1)
    assert report["problems"] == []
    assert report["rounds"] == ROUNDS and sum(report["killed_where"].values()) == ROUNDS
    assert report["subjects_checked"] >= ROUNDS // 2, "every other round kills after a commit"
    assert report["faces"] == 200 * report["subjects"]
    assert sum(report["index_after_kill"].values()) == ROUNDS


def test_crash_check_finds_a_partial_subject(tmp_path):
    """The checker is not blind: a subject missing faces, or a committed one missing, is found."""
    crash = _crash_module()
    path = tmp_path / "g.gallery"
    store = SQLiteStore.create(path, crash.identity())
    from facenet.gallery.store import NewFace

    store.add_faces("r0-s0", [NewFace(e) for e in crash.expected_embeddings(0, 0, 10)[:7]])
    rounds = [{"round": 0, "began": {0, 1}, "committed": {0, 1}}]
    problems, _ = crash.check(path, 10, rounds)
    assert any("r0-s0 holds 7 of its 10 faces" in p for p in problems)
    assert any("committed subject r0-s1 is missing" in p for p in problems)
    store.close()


_WORKER = """
import json, sys
import numpy as np
from facenet.gallery.index import FaceIndex
from facenet.gallery.sqlite_store import SQLiteStore
from facenet.gallery.store import ModelIdentity, NewFace

path, worker, n_subjects, n_faces = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ident = ModelIdentity("multi", "", 32, False)
store = SQLiteStore.open(path, ident)
index = FaceIndex.build(store)
found = []
for i in range(n_subjects):
    x = np.random.default_rng([worker, i]).standard_normal((n_faces, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    before = store.generation()
    ids = store.add_faces(f"w{worker}-{i}", [NewFace(e, f"{worker:032x}{i:016x}{j:016x}") for j, e in enumerate(x)])
    index.add(ids, x, f"w{worker}-{i}", before=before, after=store.generation(), store=store)
    index.refresh(store)  # identify against everybody's faces, the other processes' included
    hits = index.search_subjects(x[:2], 1)
    found.append(all(h[0].subject == f"w{worker}-{i}" and h[0].distance < 1e-4 for h in hits))
print(json.dumps({"ids": [int(i) for i in store.all_embeddings()[0]], "found": found}))
"""


def test_four_processes_enrol_and_identify_at_once(tmp_path):
    path = tmp_path / "shared.gallery"
    SQLiteStore.create(path, ModelIdentity("multi", "", 32, False)).close()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(path), str(w), "25", "20"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for w in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outs]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert all(all(r["found"]) for r in results), "each process identified what it had just enrolled"
    store = SQLiteStore.open(path)
    subjects = {s.name: s.n_faces for s in store.subjects()}
    assert subjects == {f"w{w}-{i}": 20 for w in range(4) for i in range(25)}, "nothing lost"
    ids, emb, _ = store.all_embeddings()
    assert len(set(ids.tolist())) == 4 * 25 * 20
    index = FaceIndex.open(store, index_path_for(path))
    dist, got = index.search(emb, 1)
    np.testing.assert_array_equal(got[:, 0], ids)
    store.close()
