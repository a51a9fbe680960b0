"""Where facenet keeps things: the one place that reads the environment.

The library never reads environment variables or guesses paths deep inside; it takes a
:class:`Settings` (or explicit paths). :meth:`Settings.from_env` is called at the boundary: by the
command line, and by public entry points (``create_model``, ``FacePipeline``) when the caller
passes no settings.

========================  ===========================================================
``FACENET_HOME``          one folder for everything below (models/, cache/, galleries/)
``FACENET_DATA``          the shared face data (the folder holding ``lfw/``), for the CLI
(neither)                 platformdirs' user cache folder (``~/.cache/facenet``) for models
                          and caches, its user data folder (``~/.local/share/facenet``)
                          for galleries
========================  ===========================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

HOME_ENV = "FACENET_HOME"
DATA_ENV = "FACENET_DATA"
#: The CLI's default data folder (the shared data beside a checkout), used when FACENET_DATA is unset.
CLI_DEFAULT_DATA = "../shared/data"


@dataclass(frozen=True)
class Settings:
    """Folders facenet reads and writes.

    cache_dir: prepared model graphs and other derived files (safe to delete).
    models_dir: ONNX models registered with ``facenet export --register NAME``.
    data_dir: user data (galleries).
    face_data: the face data sets folder (holding ``lfw/``); None: not configured.
    """

    cache_dir: Path
    models_dir: Path
    data_dir: Path
    face_data: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Settings from ``FACENET_HOME`` / ``FACENET_DATA`` (default ``os.environ``) and
        platformdirs' per-user folders."""
        env = os.environ if environ is None else environ
        data = env.get(DATA_ENV)
        face_data = Path(data).expanduser() if data else None
        home = env.get(HOME_ENV)
        if home:
            h = Path(home).expanduser()
            return cls(cache_dir=h / "cache", models_dir=h / "models", data_dir=h / "galleries", face_data=face_data)
        import platformdirs

        cache = Path(platformdirs.user_cache_dir("facenet", appauthor=False))
        return cls(cache_dir=cache / "cache", models_dir=cache / "models",
                   data_dir=Path(platformdirs.user_data_dir("facenet", appauthor=False)), face_data=face_data)

    @classmethod
    def at(cls, home: str | Path, face_data: str | Path | None = None) -> "Settings":
        """Everything under one folder (tests, portable installs)."""
        h = Path(home)
        return cls(cache_dir=h / "cache", models_dir=h / "models", data_dir=h / "galleries",
                   face_data=Path(face_data) if face_data is not None else None)

    def face_data_or_default(self) -> Path:
        """The configured face data folder, else the CLI's default ``../shared/data``."""
        return self.face_data if self.face_data is not None else Path(CLI_DEFAULT_DATA)
