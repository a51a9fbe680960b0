"""A gallery import into PostgreSQL (the body of
:meth:`facenet.gallery.postgres_store.PostgresStore.bulk_add`): the rows go with one binary COPY
into a temporary table, then two set-based INSERTs make the subjects and the faces (the
``UNIQUE (subject_id, photo_sha256)`` constraint skips photos already enrolled), optionally with
the HNSW index dropped first and built once afterwards."""

from __future__ import annotations

from typing import Any, Sequence

from facenet.gallery import pg_schema as schema_mod
from facenet.gallery.pg_schema import NOW

#: With rebuild_index None: rebuild when the batch is larger than the gallery and this many faces.
REBUILD_MIN_FACES = 10_000


def insert(conn: Any, schema: str, rows: Sequence[tuple[Any, ...]], rebuild_index: bool | None) -> tuple[int, int]:
    """Inside the caller's write transaction: insert ``rows`` (name, Vec, photo_sha256 or None,
    box [4 floats], source, model id). Returns (subjects made, faces added)."""
    psycopg = schema_mod.psycopg()
    n_before = conn.execute("SELECT count(*) FROM faces").fetchone()[0]
    rebuild = len(rows) > max(n_before, REBUILD_MIN_FACES) if rebuild_index is None else bool(rebuild_index)
    conn.execute("CREATE TEMP TABLE bulk_faces (ord serial, name text, embedding vector, photo_sha256 text, "
                 "box real[], source text, model_id integer) ON COMMIT DROP")
    vector_oid = int(conn.execute("SELECT 'vector'::regtype::oid").fetchone()[0])
    with conn.cursor().copy("COPY bulk_faces (name, embedding, photo_sha256, box, source, model_id) "
                            "FROM STDIN (FORMAT BINARY)") as cp:
        cp.set_types(["text", vector_oid, "text", "float4[]", "text", "int4"])
        for r in rows:
            cp.write_row(r)
    made = conn.execute("INSERT INTO subjects (name, created) SELECT DISTINCT name, " + NOW + " FROM bulk_faces "
                        "ON CONFLICT (name) DO NOTHING").rowcount
    if rebuild:
        conn.execute("DROP INDEX IF EXISTS faces_embedding_hnsw")
    added = conn.execute("INSERT INTO faces (subject_id, embedding, photo_sha256, box, source, created, model_id) "
                         "SELECT s.id, b.embedding, b.photo_sha256, b.box, b.source, " + NOW + ", b.model_id FROM bulk_faces b "
                         "JOIN subjects s ON s.name = b.name ORDER BY b.ord "
                         "ON CONFLICT (subject_id, photo_sha256) DO NOTHING").rowcount
    if rebuild:
        conn.execute("SELECT set_config('maintenance_work_mem', '1GB', true)")
        conn.execute(psycopg.sql.SQL(schema_mod.HNSW_INDEX).format(s=psycopg.sql.Identifier(schema)))
    return int(made), int(added)
