"""Shared fixtures. Tests that need the real face data use ``data_dir``: it fails loudly under
CI (CI=true) when the data is missing, and skips (with the reason) on a developer machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    return Path(os.environ.get("FACENET_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session", autouse=True)
def facenet_home(tmp_path_factory: pytest.TempPathFactory):
    """Registered models and prepared-graph caches go to a folder of the test run, never to the
    user's ~/.cache/facenet (shared by the xdist workers: cache writes are atomic)."""
    home = tmp_path_factory.getbasetemp().parent / "facenet_home"
    old = os.environ.get("FACENET_HOME")
    os.environ["FACENET_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("FACENET_HOME", None)
    else:
        os.environ["FACENET_HOME"] = old


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared face data folder (holding lfw/, celeba-wild/, orl/)."""
    d = _data_dir()
    if not (d / "lfw").is_dir():
        msg = f"shared face data not found at {d} (set FACENET_DATA to the folder holding lfw/)"
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but " + msg, pytrace=False)
        pytest.skip(msg)
    return d


@pytest.fixture(scope="session")
def lfw_dir(data_dir: Path) -> Path:
    return data_dir / "lfw"


@pytest.fixture(scope="session")
def pipeline():
    """The default pipeline (YuNet + SFace), built once per session."""
    from facenet import FacePipeline

    return FacePipeline(detector="yunet", embedder="sface")
