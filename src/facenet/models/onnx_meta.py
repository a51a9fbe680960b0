"""The model config that ``facenet export`` stores inside an ONNX file, and reading it back."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from facenet.errors import WeightsError
from facenet.models.config import ModelConfig

#: Key of the ONNX ``metadata_props`` entry that holds the JSON :class:`ModelConfig`.
METADATA_KEY = "facenet_model_config"


def config_json(config: dict[str, Any]) -> str:
    """The metadata value for a config dict (:meth:`ModelConfig.to_dict` plus overrides)."""
    return json.dumps(config)


def config_from_onnx(path: str | Path) -> ModelConfig:
    """The :class:`ModelConfig` stored in an exported file.

    Raises :class:`WeightsError` when the file is missing or unreadable, ValueError when it is an
    ONNX model without a facenet config (it was not made by ``facenet export``)."""
    import onnx

    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"ONNX model {p} does not exist.")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types for a bad file
        raise WeightsError(f"{p} is not a readable ONNX model: {exc}") from None
    meta = {m.key: m.value for m in model.metadata_props}
    if METADATA_KEY not in meta:
        raise ValueError(f"{p} has no facenet model config in its metadata; export it with `facenet export`.")
    raw = json.loads(meta[METADATA_KEY])
    names = {f.name for f in fields(ModelConfig)}
    raw = {k: v for k, v in raw.items() if k in names}
    raw.update(weights=None, input_size=tuple(raw["input_size"]), mean=tuple(raw["mean"]), std=tuple(raw["std"]))
    return ModelConfig(**raw)
