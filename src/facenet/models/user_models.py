"""Models you trained, registered by name: ``facenet export RUN/best.pt --onnx m.onnx --register
NAME`` copies the file into the user model folder, after which ``create_model("NAME")``,
``--embedder NAME`` and ``facenet models`` know it like a built-in.

The folder is ``$FACENET_HOME/models`` when FACENET_HOME is set, else
``$XDG_CACHE_HOME/facenet/models`` (``~/.cache/facenet/models``). It is read when a name is
looked up (never at import); built-in names always win and cannot be registered over.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def user_models_dir() -> Path:
    """The folder that holds registered ONNX models (it may not exist yet)."""
    home = os.environ.get("FACENET_HOME")
    if home:
        return Path(home) / "models"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "facenet" / "models"


def user_models(folder: str | Path | None = None) -> dict[str, Path]:
    """Registered name -> ONNX file, from ``folder`` (default :func:`user_models_dir`)."""
    d = Path(folder) if folder is not None else user_models_dir()
    if not d.is_dir():
        return {}
    return {p.stem: p for p in sorted(d.glob("*.onnx")) if _NAME.match(p.stem)}


def register_onnx(path: str | Path, name: str, builtin: list[str], overwrite: bool = False,
                  folder: str | Path | None = None) -> Path:
    """Copy an exported model (``facenet export``) into the user folder under ``name``.

    builtin: names that may not be taken (the built-in registry). Returns the registered file.
    Raises ValueError for a bad or taken name, or a file without a facenet config.
    """
    from facenet.models.export import config_from_onnx

    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"The 'name' parameter must be 1-64 characters of a-z, 0-9, '.', '_', '-', "
                         f"starting with a letter or digit. Got {name!r} instead.")
    if name in builtin:
        raise ValueError(f"{name!r} is a built-in model; register under another name.")
    config_from_onnx(path)  # raises when the file carries no facenet config
    d = Path(folder) if folder is not None else user_models_dir()
    target = d / f"{name}.onnx"
    if target.exists() and not overwrite:
        raise ValueError(f"a model named {name!r} is already registered ({target}); pass overwrite=True (--force) to replace it.")
    d.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".onnx.part")
    shutil.copyfile(path, tmp)
    tmp.replace(target)
    return target
