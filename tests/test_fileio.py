"""write_atomic: whole files only, and the permissions an ordinary write would give."""

from __future__ import annotations

import os
import stat

from facenet.fileio import write_atomic


def test_write_atomic_replaces_and_keeps_ordinary_permissions(tmp_path):
    p = tmp_path / "out.json"
    write_atomic(p, b"one")
    write_atomic(p, b"two")
    assert p.read_bytes() == b"two" and list(tmp_path.iterdir()) == [p]  # no stray .tmp
    old = os.umask(0o022)
    try:
        write_atomic(p, b"three")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644  # not mkstemp's 0600
