"""Models you trained, registered by name: ``facenet export RUN/best.pt --onnx m.onnx --register
NAME`` copies the file into the user model folder (``Settings.models_dir``), after which
``create_model("NAME")``, ``--embedder NAME`` and ``facenet models`` know it like a built-in.

The folder is passed in explicitly; :class:`facenet.settings.Settings` says where it is
(``$FACENET_HOME/models``, else ``~/.cache/facenet/models``). It is read when a name is looked up
(never at import); built-in names always win and cannot be registered over.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def user_models(folder: str | Path) -> dict[str, Path]:
    """Registered name -> ONNX file in ``folder`` (empty when the folder does not exist)."""
    d = Path(folder)
    if not d.is_dir():
        return {}
    return {p.stem: p for p in sorted(d.glob("*.onnx")) if _NAME.match(p.stem)}


def register_onnx(path: str | Path, name: str, builtin: list[str], folder: str | Path, overwrite: bool = False) -> Path:
    """Copy an exported model (``facenet export``) into ``folder`` under ``name``.

    builtin: names that may not be taken (the built-in registry). Returns the registered file.
    Raises ValueError for a bad or taken name, or a file without a facenet config.
    """
    from facenet.models.onnx_meta import config_from_onnx

    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"The 'name' parameter must be 1-64 characters of a-z, 0-9, '.', '_', '-', "
                         f"starting with a letter or digit. Got {name!r} instead.")
    if name in builtin:
        raise ValueError(f"{name!r} is a built-in model; register under another name.")
    config_from_onnx(path)  # raises when the file carries no facenet config
    d = Path(folder)
    target = d / f"{name}.onnx"
    if target.exists() and not overwrite:
        raise ValueError(f"a model named {name!r} is already registered ({target}); pass overwrite=True (--force) to replace it.")
    d.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".onnx.part")
    shutil.copyfile(path, tmp)
    tmp.replace(target)
    return target
