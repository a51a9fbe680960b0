"""Nearest-neighbour search in a PostgreSQL gallery with pgvector's HNSW index (the search half of
:class:`facenet.gallery.postgres_store.PostgresStore`).

Each query is one ``ORDER BY embedding <#> q LIMIT k`` statement (``<#>``: the negative inner
product; on unit vectors the squared L2 distance is 2 + 2 (q <#> x)). Several queries go in one
pipeline (one round trip). The connection's ``hnsw.ef_search`` is raised to k when k is larger
(at most 1000), and ``hnsw.iterative_scan = strict_order`` lets the index return more than
ef_search rows in exact distance order.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np

from facenet.gallery.index import SubjectHit
from facenet.gallery.pg_schema import Vec

#: The padding of a missing hit (face id -1), as FaceIndex's: the largest squared L2 distance.
PAD_DISTANCE = 4.0
SEARCH_SQL = "SELECT id, embedding <#> %(q)b AS d FROM faces ORDER BY d LIMIT %(k)s"
SUBJECT_SQL = ("SELECT f.id, s.name, f.d FROM (SELECT id, subject_id, embedding <#> %(q)b AS d FROM faces "
               "ORDER BY d LIMIT %(k)s) f JOIN subjects s ON s.id = f.subject_id ORDER BY f.d, f.id")


def check_queries(queries: Any, dim: int, owner: str) -> np.ndarray:
    """(Q, D) finite float32 queries (a (D,) vector is one query); ValueError otherwise."""
    q = np.asarray(queries, np.float32)
    q = q.reshape(1, -1) if q.ndim == 1 else q
    if q.ndim != 2 or q.shape[1] != dim or not np.all(np.isfinite(q)):
        raise ValueError(f"The 'queries' parameter of {owner} must be a finite array of shape (Q, {dim}). "
                         f"Got shape {q.shape} instead.")
    return q


def run_queries(conn: Any, q: np.ndarray, k: int, sql: str, session_ef: int, ef_search: int) -> tuple[list[list[tuple]], int]:
    """Rows of ``sql`` for each query (k rows at most); and the connection's hnsw.ef_search now."""
    ef = min(max(ef_search, k), 1000)
    if session_ef != ef:  # a session setting: later searches need no statement of their own
        conn.execute("SELECT set_config('hnsw.ef_search', %s, false), set_config('hnsw.iterative_scan', 'strict_order', false)",
                     [str(ef)])
    curs = [conn.cursor(binary=True) for _ in range(len(q))]
    with conn.pipeline() if len(q) > 1 else nullcontext():
        for cur, v in zip(curs, q):
            cur.execute(sql, {"q": Vec(np.ascontiguousarray(v)), "k": k})
    rows = []
    for cur in curs:
        rows.append(cur.fetchall())
        cur.close()
    return rows, ef


def to_distance(neg_ip: Any) -> np.ndarray:
    """pgvector's ``<#>`` values of unit vectors -> squared L2 distances in [0, 4]."""
    return np.clip(2.0 + 2.0 * np.asarray(neg_ip, np.float64), 0.0, 4.0).astype(np.float32)


def face_arrays(rows: list[list[tuple]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """(distances (Q, k) float32, face ids (Q, k) int64), padded with id -1 at PAD_DISTANCE."""
    dist = np.full((len(rows), k), PAD_DISTANCE, np.float32)
    ids = np.full((len(rows), k), -1, np.int64)
    for i, r in enumerate(rows):
        if r:
            ids[i, :len(r)] = [x[0] for x in r]
            dist[i, :len(r)] = to_distance([x[1] for x in r])
    return dist, ids


def best_subjects(rows: list[tuple], k: int) -> list[SubjectHit]:
    """(face id, name, <#>) rows by distance -> each subject's best face, the k nearest subjects."""
    out: dict[str, SubjectHit] = {}
    for fid, name, d in rows:
        if name not in out:
            out[name] = SubjectHit(name, float(to_distance(d)), int(fid))
            if len(out) == k:
                break
    return list(out.values())


def search_faces(conn: Any, q: np.ndarray, k: int, session_ef: int, ef_search: int) -> tuple[tuple[np.ndarray, np.ndarray], int]:
    """PostgresStore.search on ``conn``: ((distances, face ids), the connection's ef_search)."""
    if len(q) == 0:
        return face_arrays([], k), session_ef
    rows, session_ef = run_queries(conn, q, k, SEARCH_SQL, session_ef, ef_search)
    return face_arrays(rows, k), session_ef


def search_subjects(conn: Any, q: np.ndarray, k: int, session_ef: int, ef_search: int) -> tuple[list[list[SubjectHit]], int]:
    """PostgresStore.search_subjects on ``conn``: (hits per query, the connection's ef_search).
    Fetches 4 k faces per query (16 at least), four times more for a query whose faces came from
    fewer than k people while the index gave every face asked for (so more may be there): no
    count of the table per search."""
    out: list[list[SubjectHit]] = [[] for _ in range(len(q))]
    todo, fetch = list(range(len(q))), max(4 * k, 16)
    while todo:
        rows, session_ef = run_queries(conn, q[todo], fetch, SUBJECT_SQL, session_ef, ef_search)
        again = []
        for i, r in zip(todo, rows):
            out[i] = best_subjects(r, k)
            if len(out[i]) < k and len(r) == fetch:
                again.append(i)
        todo, fetch = again, fetch * 4
    return out, session_ef
