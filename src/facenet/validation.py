"""Parameter checks with one message format (scikit-learn's ``check_scalar`` idea).

Every public constructor and function checks its parameters here, so a user always reads the
same sentence shape::

    The 'k' parameter of identify must be an int in [1, inf). Got 0 instead.

Only parameters are checked here (``ValueError``/``TypeError``); bad files and images raise the
project's own errors (:mod:`facenet.errors`).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Sequence, TypeVar

T = TypeVar("T")

_INCLUSIVE = {"both": ("[", "]"), "left": ("[", ")"), "right": ("(", "]"), "neither": ("(", ")")}


def _where(name: str, owner: str | None) -> str:
    return f"The {name!r} parameter" + (f" of {owner}" if owner else "")


def _kind(target: type | tuple[type, ...]) -> str:
    types = target if isinstance(target, tuple) else (target,)
    if all(t in (int, numbers.Integral) for t in types):
        return "an int"
    if any(t in (float, numbers.Real) for t in types):
        return "a float"
    return " or ".join(t.__name__ for t in types)


def check_scalar(value: Any, name: str, target: type | tuple[type, ...], *, min_val: float | None = None,
                 max_val: float | None = None, include: str = "both", owner: str | None = None,
                 allow_none: bool = False) -> Any:
    """Check that ``value`` is a ``target`` (``int`` or ``float``; bools are refused) inside
    ``[min_val, max_val]`` (``include``: "both", "left", "right" or "neither" bound included).

    Returns the value (an ``int`` stays an int; a ``float`` target turns ints into floats).
    Raises ValueError with the project's message, e.g.
    "The 'k' parameter of identify must be an int in [1, inf). Got 0 instead."
    """
    if include not in _INCLUSIVE:
        raise ValueError(f"include must be one of {sorted(_INCLUSIVE)}. Got {include!r} instead.")
    if value is None and allow_none:
        return None
    lo_b, hi_b = _INCLUSIVE[include]
    lo = "-inf" if min_val is None else f"{min_val:g}"
    hi = "inf" if max_val is None else f"{max_val:g}"
    if min_val is None:
        lo_b = "("
    if max_val is None:
        hi_b = ")"
    expected = f"{_kind(target)} in {lo_b}{lo}, {hi}{hi_b}" + (" or None" if allow_none else "")
    msg = f"{_where(name, owner)} must be {expected}. Got {_show(value)} instead."
    wants_float = _kind(target) == "a float"
    ok_type = isinstance(value, numbers.Real) if wants_float else isinstance(value, numbers.Integral)
    if isinstance(value, bool) or not ok_type:
        raise ValueError(msg)
    v = float(value) if wants_float else int(value)
    if wants_float and not math.isfinite(v) and not (math.isinf(v) and _allows_inf(v, min_val, max_val, include)):
        raise ValueError(msg)
    if min_val is not None and (v < min_val or (v == min_val and include in ("right", "neither"))):
        raise ValueError(msg)
    if max_val is not None and (v > max_val or (v == max_val and include in ("left", "neither"))):
        raise ValueError(msg)
    return v


def _allows_inf(v: float, min_val: float | None, max_val: float | None, include: str) -> bool:
    """An infinite value passes only when a bound is itself infinite and included."""
    if v > 0:
        return max_val is not None and math.isinf(max_val) and include in ("both", "right")
    return min_val is not None and math.isinf(min_val) and include in ("both", "left")


def _show(value: Any) -> str:
    """``repr`` for messages, numpy scalars as the plain number they hold."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        try:
            return repr(item())
        except (TypeError, ValueError):
            pass
    return repr(value)


def check_option(value: Any, name: str, options: Iterable[T], *, owner: str | None = None) -> T:
    """``value`` must be one of ``options``. Returns it.

    "The 'policy' parameter must be one of 'central', 'largest', 'score'. Got 'big' instead."
    """
    opts = tuple(options)
    if value not in opts:
        listed = ", ".join(repr(o) for o in opts)
        raise ValueError(f"{_where(name, owner)} must be one of {listed}. Got {value!r} instead.")
    return value


def check_unit_interval(value: Any, name: str, *, owner: str | None = None, include: str = "neither") -> float:
    """A float in (0, 1) (or with ``include`` the closed ends)."""
    return check_scalar(value, name, float, min_val=0.0, max_val=1.0, include=include, owner=owner)


def check_floats(value: Any, name: str, length: int, *, min_val: float | None = None, max_val: float | None = None,
                 include: str = "both", owner: str | None = None) -> tuple[float, ...]:
    """A sequence of exactly ``length`` floats, each in range. Returns them as a tuple.

    "The 'thresholds' parameter of MTCNN must be a sequence of 3 floats in [0, 1]. Got (0.6, 0.7) instead."
    """
    lo_b, hi_b = _INCLUSIVE[include]
    rng = ""
    if min_val is not None or max_val is not None:
        lo = "-inf" if min_val is None else f"{min_val:g}"
        hi = "inf" if max_val is None else f"{max_val:g}"
        rng = f" in {lo_b if min_val is not None else '('}{lo}, {hi}{hi_b if max_val is not None else ')'}"
    msg = f"{_where(name, owner)} must be a sequence of {length} floats{rng}. Got {value!r} instead."
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np_ndarray())) or len(value) != length:
        raise ValueError(msg)
    try:
        return tuple(check_scalar(v, name, float, min_val=min_val, max_val=max_val, include=include) for v in value)
    except ValueError:
        raise ValueError(msg) from None


def check_ints(value: Any, name: str, length: int, *, min_val: int | None = None, owner: str | None = None) -> tuple[int, ...]:
    """A sequence of exactly ``length`` ints, each at least ``min_val`` (e.g. an (H, W) size).

    "The 'input_size' parameter of FaceFolder must be a sequence of 2 ints in [8, inf). Got (112,) instead."
    """
    rng = f" in [{min_val}, inf)" if min_val is not None else ""
    msg = f"{_where(name, owner)} must be a sequence of {length} ints{rng}. Got {value!r} instead."
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np_ndarray())) or len(value) != length:
        raise ValueError(msg)
    try:
        return tuple(check_scalar(v, name, int, min_val=min_val) for v in value)
    except ValueError:
        raise ValueError(msg) from None


def np_ndarray() -> type:
    """numpy's array type (imported lazily: this module is at the bottom of the package)."""
    import numpy as np

    return np.ndarray


def check_type(value: Any, name: str, target: type | tuple[type, ...], *, owner: str | None = None,
               what: str | None = None) -> Any:
    """``isinstance(value, target)`` or a ValueError naming what was expected."""
    if not isinstance(value, target):
        expected = what or _kind(target)
        raise ValueError(f"{_where(name, owner)} must be {expected}. Got {type(value).__name__} {value!r} instead."
                         if not hasattr(value, "shape") else
                         f"{_where(name, owner)} must be {expected}. Got {type(value).__name__} instead.")
    return value
