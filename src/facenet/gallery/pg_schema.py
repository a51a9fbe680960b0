"""The PostgreSQL gallery's table layout, migrations, URLs, connections and the pgvector adapter
(the plumbing of :mod:`facenet.gallery.postgres_store`).

Gallery ``NAME`` is the schema ``facenet_NAME`` of its database; it holds:

- ``gallery``: one row: name, schema_version, identity (JSON of the ModelIdentity), generation
  (bumped in the transaction of every change of subjects or faces), created.
- ``meta``: key -> value text (``identity``, ``quantize``, ``gallery_uid``, ``created`` written at
  creation, read-only; the rest are user settings such as thresholds).
- ``subjects``: id, name (unique), created.
- ``faces``: id, subject_id (-> subjects, ON DELETE CASCADE), embedding ``vector(D)``,
  photo_sha256 (NULL for a bare embedding: never a duplicate), box ``real[4]`` (NaN: unknown),
  source, created, model_id (-> models); ``UNIQUE (subject_id, photo_sha256)``; an HNSW index
  (``vector_ip_ops``: the embeddings are unit vectors, so inner product orders like L2).
- ``models`` (v2): id, identity (canonical JSON, ModelIdentity.key, unique): every model that made
  a face; id 1 is the one the gallery was made with. v1 -> v2 adds it and ``faces.model_id``
  (default 1: every face of a v1 gallery is the gallery's model's).

Times are seconds since the epoch, by the server's clock. All values go as query parameters;
the schema name (checked against ``[a-z][a-z0-9_]*``) is composed with ``psycopg.sql.Identifier``.
"""

from __future__ import annotations

import re
import struct
from contextlib import contextmanager
from typing import Any, Callable, Iterator
from urllib.parse import unquote, urlsplit, urlunsplit

import numpy as np

from facenet.gallery.store import GalleryError
from facenet.validation import check_type

#: Version of this backend's table layout; older galleries are migrated forward when opened.
SCHEMA_VERSION = 2
SCHEMA_PREFIX = "facenet_"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
#: The server's clock, as the ``created`` columns store it.
NOW = "extract(epoch FROM transaction_timestamp())::double precision"


def psycopg() -> Any:
    """The psycopg module (GalleryError naming the extra to install when it is missing)."""
    try:
        import psycopg as pg
    except ImportError:
        raise GalleryError("A postgresql:// gallery needs psycopg (pip install 'facenet[postgres]').") from None
    return pg


#: pgvector HNSW build settings of new galleries' index (and of bulk_add's rebuilds): links per
#: node and the build beam. bench/gallery_pg.py measures what they cost (build time, size) and give
#: (recall@1 against exact search at each hnsw.ef_search, on tuning queries apart from the reported).
#: Chosen with it at 100,000 LFW-structured faces: pgvector's defaults (16, 64), and (16, 128),
#: stay under recall@1 0.99 up to ef_search 800; (24, 128) reaches it at a lower ef_search than
#: that, for about three times the build time of (16, 64).
HNSW_M = 24
HNSW_EF_CONSTRUCTION = 128
#: The search index of the current layout (also what PostgresStore.bulk_add rebuilds).
HNSW_INDEX = ("CREATE INDEX faces_embedding_hnsw ON {s}.faces USING hnsw (embedding vector_ip_ops) "
              f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})")


def _create_v1(conn: Any, schema: Any, dim: int) -> None:
    sql = psycopg().sql
    for stmt in (
        "CREATE TABLE {s}.gallery (id boolean PRIMARY KEY DEFAULT true CHECK (id), name text NOT NULL, "
        "schema_version integer NOT NULL, identity jsonb NOT NULL, generation bigint NOT NULL DEFAULT 0, "
        "created double precision NOT NULL)",
        "CREATE TABLE {s}.meta (key text PRIMARY KEY, value text NOT NULL)",
        "CREATE TABLE {s}.subjects (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL UNIQUE, "
        "created double precision NOT NULL)",
        "CREATE TABLE {s}.faces (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "subject_id bigint NOT NULL REFERENCES {s}.subjects (id) ON DELETE CASCADE, embedding vector({d}) NOT NULL, "
        "photo_sha256 text, box real[] NOT NULL CHECK (cardinality(box) = 4), source text NOT NULL DEFAULT '', "
        "created double precision NOT NULL, UNIQUE (subject_id, photo_sha256))",
        HNSW_INDEX,
    ):
        conn.execute(sql.SQL(stmt).format(s=schema, d=sql.Literal(int(dim))))


def _models_v2(conn: Any, schema: Any, dim: int) -> None:
    """Per-face model identity: the models table (the gallery's identity as id 1, when the gallery
    row exists already) and faces.model_id."""
    from facenet.gallery.store import ModelIdentity

    sql = psycopg().sql
    conn.execute(sql.SQL("CREATE TABLE {}.models (id integer PRIMARY KEY, identity text NOT NULL UNIQUE)").format(schema))
    row = conn.execute(sql.SQL("SELECT identity FROM {}.gallery").format(schema)).fetchone()
    if row is not None:
        conn.execute(sql.SQL("INSERT INTO {}.models (id, identity) VALUES (1, %s)").format(schema),
                     [ModelIdentity.from_dict(row[0]).key()])
    conn.execute(sql.SQL("ALTER TABLE {0}.faces ADD COLUMN model_id integer NOT NULL DEFAULT 1 "
                         "REFERENCES {0}.models (id)").format(schema))
    conn.execute(sql.SQL("CREATE INDEX faces_by_model ON {}.faces (model_id)").format(schema))


def model_ids(conn: Any, keys: Any) -> list[int]:
    """Inside a write transaction (the gallery row locked): the models-table id of each
    identity key (ModelIdentity.key()), added when new."""
    ids: dict[str, int] = {}
    for key in dict.fromkeys(keys):
        row = conn.execute("SELECT id FROM models WHERE identity = %s", [key]).fetchone()
        if row is None:
            row = conn.execute("INSERT INTO models (id, identity) SELECT coalesce(max(id), 0) + 1, %s FROM models "
                               "RETURNING id", [key]).fetchone()
        ids[key] = int(row[0])
    return [ids[k] for k in keys]


#: (version, step(conn, schema Identifier, embedding size)): the step that brings a gallery to it.
MIGRATIONS: tuple[tuple[int, Callable[[Any, Any, int], None]], ...] = ((1, _create_v1), (2, _models_v2))


def migrate(conn: Any, schema: Any, dim: int, version: int) -> int:
    """Apply every step of MIGRATIONS above ``version`` (in the caller's transaction); the new
    version. The steps name the gallery's tables by schema; pgvector's own schema (wherever the
    extension was installed) is the transaction's search_path, for ``vector`` and its operators."""
    conn.execute("SELECT set_config('search_path', quote_ident(n.nspname), true) FROM pg_extension e "
                 "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'")
    for v, step in MIGRATIONS:
        if v > version:
            step(conn, schema, dim)
            version = v
    return version


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def split_url(url: str, name: str | None, owner: str) -> tuple[str, str, str]:
    """(URL for the server, without ``gallery=``; the gallery name; the URL to show: password
    hidden, ``gallery=`` added). ValueError for a URL that is not postgresql:// or a bad name."""
    check_type(url, "url", str, owner=owner, what="a string")
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"The 'url' parameter of {owner} must be a postgresql:// URL. Got {url!r} instead.")
    # kept verbatim for libpq (which decodes %XX but not "+"), less our own gallery= parameter
    query = [item for item in parts.query.split("&") if item]
    in_url = [unquote(item.partition("=")[2]) for item in query if item.partition("=")[0] == "gallery"]
    query = [item for item in query if item.partition("=")[0] != "gallery"]
    if in_url and name is not None and name != in_url[-1]:
        raise ValueError(f"The 'name' parameter of {owner} must match the URL's gallery={in_url[-1]!r}. Got {name!r} instead.")
    name = in_url[-1] if in_url else (name if name is not None else "default")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValueError(f"The 'name' parameter of {owner} must be a gallery name (lowercase letters, digits and '_', "
                         f"starting with a letter, at most 48 characters). Got {name!r} instead.")
    server = urlunsplit(parts._replace(query="&".join(query)))
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(":" + parts.password + "@", ":***@", 1)
    query = [item for item in query if item.partition("=")[0] != "password"] + [f"gallery={name}"]
    shown = urlunsplit(parts._replace(netloc=netloc, query="&".join(query)))
    return server, name, shown


def connect(server_url: str, shown: str) -> Any:
    """An autocommit connection (explicit transactions); GalleryError (one line) when it fails."""
    pg = psycopg()
    try:
        return pg.connect(server_url, autocommit=True, connect_timeout=10, application_name="facenet")
    except pg.Error as exc:
        raise GalleryError(f"Cannot connect to the gallery database {shown}: {first_line(exc)}") from None


@contextmanager
def closing_on_error(conn: Any, what: str) -> Iterator[None]:
    """Close ``conn`` when the block fails; a psycopg error becomes a one-line GalleryError."""
    try:
        yield
    except psycopg().Error as exc:
        conn.close()
        raise GalleryError(f"{what}: {first_line(exc)}") from None
    except BaseException:
        conn.close()
        raise


def is_gallery(conn: Any, schema: str) -> bool:
    return bool(conn.execute("SELECT to_regclass(quote_ident(%s) || '.gallery') IS NOT NULL", [schema]).fetchone()[0])


def galleries(conn: Any) -> list[str]:
    """Names of the galleries in the database of ``conn``."""
    rows = conn.execute("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s) "
                        "AND to_regclass(quote_ident(nspname) || '.gallery') IS NOT NULL ORDER BY 1", [SCHEMA_PREFIX])
    return [r[0][len(SCHEMA_PREFIX):] for r in rows]


class Vec:
    """A (D,) float32 array sent as a pgvector ``vector`` (binary format)."""

    __slots__ = ("v",)

    def __init__(self, v: np.ndarray) -> None:
        self.v = v


def prepare(conn: Any, schema: str) -> None:
    """Set the session's search_path to the gallery's schema, then pgvector's; register binary
    adapters for ``vector`` (:class:`Vec` out, (D,) float32 arrays in)."""
    pg = psycopg()
    from psycopg.adapt import Dumper, Loader
    from psycopg.pq import Format

    row = conn.execute("SELECT t.oid, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                       "JOIN pg_type t ON t.typnamespace = e.extnamespace AND t.typname = 'vector' "
                       "WHERE e.extname = 'vector'").fetchone()
    if row is None:
        raise GalleryError("The pgvector extension ('vector') is not installed in the gallery's database.")
    oid, ext_schema = row
    conn.execute(pg.sql.SQL("SET search_path TO {}, {}").format(pg.sql.Identifier(schema), pg.sql.Identifier(ext_schema)))

    class VecDumper(Dumper):
        format = Format.BINARY

        def dump(self, obj: Vec) -> bytes:  # pgvector's binary format: dim, unused (uint16), float32 big-endian
            return struct.pack(">HH", obj.v.size, 0) + obj.v.astype(">f4").tobytes()

    class VecLoader(Loader):
        format = Format.BINARY

        def load(self, data: Any) -> np.ndarray:
            (dim,) = struct.unpack_from(">H", data)
            return np.frombuffer(data, ">f4", count=dim, offset=4).astype(np.float32)

    VecDumper.oid = oid
    conn.adapters.register_dumper(Vec, VecDumper)
    conn.adapters.register_loader(oid, VecLoader)
