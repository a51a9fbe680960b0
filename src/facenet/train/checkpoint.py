"""Checkpoints: everything needed for a bit-identical continuation on CPU."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from facenet.errors import DataError
from facenet.validation import check_type


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (a dict of tensors, numbers, strings, ...) atomically at ``path``
    (temporary file, then rename); parent folders are created. Returns the path."""
    import torch

    check_type(state, "state", dict, owner="save_checkpoint", what="a dict")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, on the CPU.

    Raises :class:`facenet.errors.DataError` when the file is missing, unreadable, not a
    checkpoint (corrupt, truncated, another format) or does not hold a dict.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise DataError(f"Checkpoint {path} does not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch.load fails in many ways (pickle, zip, EOF, OS): a bad file
        raise DataError(f"Checkpoint {path} could not be read: {exc}") from None
    if not isinstance(state, dict):
        raise DataError(f"Checkpoint {path} holds a {type(state).__name__}, not a facenet checkpoint (a dict).")
    return state
