"""The shipped clustering settings: each method's threshold and options, per embedding model.

``cluster_thresholds.json`` (beside this module) is written by
``bench/cluster_lfw.py calibrate --write src/facenet/cluster`` from CelebA-wild only (the
identities also in LFW, the mixed identity 07312 and photos copied across identities left out,
07393 merged into 07392; subsampled to LFW's photos-per-person so most people have one photo),
never from LFW. The file says which split and grid each value was chosen on. Keys are model
names: ``"sface"`` (plain embeddings), ``"sface+flip"`` (flip test-time augmentation), and the
accurate presets' ``"fused"``, ``"fused+flip"``, ``"fused-casia"``, ``"fused-casia+flip"`` (their
entries also say where their impostor model comes from, ``impostor_model``, and that their heads
were fitted without labels on CelebA-wild photos, ``held_out``).
Each graph entry says which ``rule`` it is: ``fixed`` (one threshold), or a size-aware rule
capped at the fixed threshold (``size_detach``: the fixed rule's clusters, then faces over the
size-aware limit leave them; ``size_capped``: the capped limit decides every merge), with
``pair_fpir``, ``size_power``, ``size_limit`` and ``size_rule``. The rules not chosen are stored
beside it by name (``fixed``, ``size_aware``: the uncapped opt-in rule, ``size_capped``,
``size_detach``), each with its CelebA scores; pass an entry's settings to
:func:`facenet.cluster.methods.cluster_embeddings` to use it. A graph entry may carry an
``attach_limit`` (the attach step, :func:`facenet.cluster.graph.attach`); none does: on CelebA-wild
it helped, at 1M synthetic faces it over-merged (``bench/cluster_attach.py``), so it is opt-in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from facenet.errors import UncalibratedError

SHIPPED = "cluster_thresholds.json"


def _table() -> dict[str, Any]:
    path = Path(__file__).with_name(SHIPPED)
    if not path.exists():  # a checkout before the first calibration
        return {"models": {}, "source": ""}
    return json.loads(path.read_text())


def calibrated_models() -> list[str]:
    """The model names that have shipped settings."""
    return sorted(_table()["models"])


def default_options(model: str, method: str) -> dict[str, Any]:
    """The calibrated settings of ``method`` for ``model`` (e.g. ``{"threshold": 1.1,
    "neighbors": 32, "partition": "average"}`` for graph), plus ``"source"``: where they came
    from. Raises :class:`~facenet.errors.UncalibratedError` for a model without shipped settings."""
    table = _table()
    entry = table["models"].get(model, {}).get(method)
    if entry is None:
        known = ", ".join(calibrated_models())
        raise UncalibratedError(f"no calibrated clustering settings for model {model!r} and method {method!r} "
                                f"(calibrated: {known}); give --threshold (squared L2) / --k explicitly")
    return {**entry, "source": f"{table['source']} for {model}"}


def default_threshold(model: str, method: str = "graph") -> tuple[float, str]:
    """(squared-L2 threshold, where it came from) calibrated for ``model`` and ``method``.

    Raises :class:`~facenet.errors.UncalibratedError` when there is none (unknown model, or
    kmeans, which takes ``k`` instead)."""
    opts = default_options(model, method)
    if opts.get("threshold") is None:
        raise UncalibratedError(f"method {method!r} takes no distance threshold")
    return float(opts["threshold"]), str(opts["source"])
