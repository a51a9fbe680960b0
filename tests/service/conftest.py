"""Service fixtures: an app over a fresh gallery in tmp_path with one key per scope, driven by
FastAPI's TestClient; LFW photos as upload bytes; crafted bad uploads (bomb PNG, text)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_helpers import encode  # noqa: E402


@pytest.fixture(scope="session")
def photo(lfw_dir: Path) -> Callable[[str, int], bytes]:
    """photo(person, i) -> the bytes of LFW's <person>_<i:04d>.jpg (i from 1)."""

    def get(person: str, i: int = 1) -> bytes:
        return (lfw_dir / person / f"{person}_{i:04d}.jpg").read_bytes()

    return get


@pytest.fixture(scope="session")
def group_photo(photo: Callable[[str, int], bytes]) -> bytes:
    """Two LFW photos side by side (PNG): Aaron Peirsol on the left, Al Gore on the right."""
    from facenet.data.images import load_image

    a, b = load_image(photo("Aaron_Peirsol", 1)), load_image(photo("Al_Gore", 1))
    return encode(np.concatenate([a, b], axis=1))


class Api:
    """A TestClient with the keys of each scope: ``api.post(url, scope="enrol", ...)``."""

    def __init__(self, client: Any, keys: dict[str, str], app: Any) -> None:
        self.client, self.keys, self.app = client, keys, app
        self.closed = False

    def close(self) -> None:
        """Shut the app down (its lifespan closes the gallery); once."""
        if not self.closed:
            self.closed = True
            self.client.__exit__(None, None, None)

    @property
    def service(self) -> Any:
        return self.app.state.service

    def _h(self, scope: str | None, headers: dict | None) -> dict:
        h = dict(headers or {})
        if scope is not None:
            h["Authorization"] = f"Bearer {self.keys[scope]}"
        return h

    def get(self, url: str, scope: str | None = "read", headers: dict | None = None, **kw: Any) -> Any:
        return self.client.get(url, headers=self._h(scope, headers), **kw)

    def post(self, url: str, scope: str | None = "read", headers: dict | None = None, **kw: Any) -> Any:
        return self.client.post(url, headers=self._h(scope, headers), **kw)

    def patch(self, url: str, scope: str | None = "enrol", headers: dict | None = None, **kw: Any) -> Any:
        return self.client.patch(url, headers=self._h(scope, headers), **kw)

    def delete(self, url: str, scope: str | None = "admin", headers: dict | None = None, **kw: Any) -> Any:
        return self.client.delete(url, headers=self._h(scope, headers), **kw)


@pytest.fixture
def make_api(tmp_path: Path, pipeline: Any):
    """make_api(factory=None, **config overrides) -> Api over a new gallery (by default one
    inference thread using the session pipeline; give a factory of new pipelines for more
    workers). Every client made is closed after the test."""
    from fastapi.testclient import TestClient

    from facenet.service.app import create_app
    from facenet.service.config import ServiceConfig
    from facenet.service.keys import KeyStore

    made = []

    def make(factory: Callable[[], Any] | None = None, **overrides: Any) -> Api:
        n = len(made)
        folder = tmp_path / f"svc{n}"
        folder.mkdir()
        keys = KeyStore(folder / "keys.db")
        secrets = {s: keys.create(s, f"test {s}")[1] for s in ("read", "enrol", "admin")}
        cfg = {"gallery": str(folder / "people.gallery"), "keys": folder / "keys.db", "work_dir": folder / "jobs",
               "workers": 1, "queue": 16, **overrides}
        app = create_app(ServiceConfig(**cfg), pipeline_factory=factory or (lambda: pipeline))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        made.append(Api(client, secrets, app))
        return made[-1]

    yield make
    for a in made:
        a.close()


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()
