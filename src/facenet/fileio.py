"""Writing files so that no reader ever sees a partial one."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through ``<path>.<random>.tmp`` in the same folder, flushed to
    disk, then :func:`os.replace`: a reader sees the old file or the new one, never half of it,
    and a crash leaves at most a stray ``.tmp`` (removed here on any error). The file gets the
    permissions an ordinary ``open(path, "w")`` would (0666 less the umask), not mkstemp's 0600."""
    import tempfile

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process's umask, read without changing it (os.umask would set it, racing other
    threads); 0o022 where /proc is not there."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022
