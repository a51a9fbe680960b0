"""API keys: created and revoked from the command line, stored only as SHA-256 hashes in a
small SQLite file, checked with :func:`hmac.compare_digest`.

A key is ``fn_`` + 43 URL-safe characters (32 random bytes); it is shown once, when created.
Scopes are ordered: ``read`` < ``enrol`` < ``admin`` (a key of a higher scope can do all the
lower ones can).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facenet.validation import check_option

SCOPES = ("read", "enrol", "admin")
KEY_PREFIX = "fn_"

_SCHEMA = ("CREATE TABLE IF NOT EXISTS api_keys (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, "
           "scope TEXT NOT NULL, sha256 TEXT NOT NULL UNIQUE, hint TEXT NOT NULL, created REAL NOT NULL, "
           "revoked REAL)")


def scope_allows(have: str, need: str) -> bool:
    """Whether a key of scope ``have`` may do what needs ``need``."""
    return SCOPES.index(have) >= SCOPES.index(need)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never the key itself): id, name, scope, the last 4 characters as a hint,
    when it was created and revoked (None while valid)."""

    id: int
    name: str
    scope: str
    hint: str
    created: float
    revoked: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "scope": self.scope, "hint": "..." + self.hint,
                "created": self.created, "revoked": self.revoked}


class KeyStore:
    """The API keys of a service, in the SQLite file ``path`` (created on first write, mode 0600).

    Every call opens its own connection, so a key revoked from the command line is refused by a
    running server at its next request.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _connect(self, create: bool) -> sqlite3.Connection:
        if create and not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        conn = sqlite3.connect(f"file:{self.path}?mode={'rwc' if create else 'ro'}", uri=True, timeout=10.0)
        if create:
            conn.execute(_SCHEMA)
        return conn

    def create(self, scope: str, name: str = "") -> tuple[ApiKey, str]:
        """A new key of ``scope``; returns (its record, the key). The key is not stored."""
        scope = check_option(scope, "scope", SCOPES, owner="KeyStore.create")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        with closing(self._connect(True)) as conn, conn:
            cur = conn.execute("INSERT INTO api_keys (name, scope, sha256, hint, created) VALUES (?, ?, ?, ?, ?)",
                               (str(name), scope, hash_key(key), key[-4:], now))
            kid = int(cur.lastrowid)
        return ApiKey(kid, str(name), scope, key[-4:], now, None), key

    def list(self, include_revoked: bool = True) -> list[ApiKey]:
        if not self.path.exists():
            return []
        with closing(self._connect(False)) as conn:
            rows = conn.execute("SELECT id, name, scope, hint, created, revoked FROM api_keys ORDER BY id").fetchall()
        keys = [ApiKey(int(r[0]), r[1], r[2], r[3], float(r[4]), r[5]) for r in rows]
        return [k for k in keys if include_revoked or k.revoked is None]

    def revoke(self, key_id: int) -> bool:
        """Revoke key ``key_id``; False when there is no such valid key."""
        if not self.path.exists():
            return False
        with closing(self._connect(True)) as conn, conn:
            cur = conn.execute("UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL", (time.time(), int(key_id)))
            return cur.rowcount == 1

    def has_keys(self) -> bool:
        """Whether at least one valid key exists."""
        return bool(self.list(include_revoked=False))

    def check(self, presented: str) -> ApiKey | None:
        """The valid key whose hash matches ``presented`` (compared in constant time), else None."""
        if not presented or not self.path.exists():
            return None
        digest = hash_key(presented)
        with closing(self._connect(False)) as conn:
            rows = conn.execute("SELECT id, name, scope, hint, created, sha256 FROM api_keys WHERE revoked IS NULL").fetchall()
        found = None
        for r in rows:  # every row compared, so the time does not say which one matched
            if hmac.compare_digest(digest, r[5]):
                found = ApiKey(int(r[0]), r[1], r[2], r[3], float(r[4]), None)
        return found
