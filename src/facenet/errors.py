"""Exceptions raised by facenet. Every user-facing failure is a :class:`FacenetError`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, TypeVar

T = TypeVar("T")


class FacenetError(Exception):
    """Base class of every error facenet raises on purpose."""


class UsageError(FacenetError):
    """A mistake in how facenet was asked (an unknown name, a missing required setting): the
    command line reports it as a usage error (exit code 2)."""


class InvalidImageError(FacenetError, ValueError):
    """An input could not be read as an image (missing, empty, corrupt, too large, ...)."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class UnknownModelError(UsageError, KeyError):
    """A model or detector name that is not registered."""

    def __init__(self, kind: str, name: str, known: list[str], close: list[str]) -> None:
        self.name = name
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        self.message = f"Unknown {kind} {name!r}.{hint} Known {kind}s: {', '.join(known)}."
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class WeightsError(FacenetError, RuntimeError):
    """A weight file is missing or does not match its recorded SHA-256."""


class DataError(FacenetError, ValueError):
    """A data set, protocol file, training folder or checkpoint is missing or malformed."""


class UncalibratedError(UsageError, ValueError):
    """Verification was asked of a model that has no calibrated threshold, and none was given."""


@dataclass(frozen=True)
class ItemError:
    """One input of a batch that could not be used: its position, a description of the input and
    the reason (the other items of the batch are still processed)."""

    index: int
    source: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"index": self.index, "path": self.source, "error": self.reason}


def lookup(kind: str, name: object, table: Mapping[str, T]) -> T:
    """``table[name]`` case-insensitively, or :class:`UnknownModelError` naming the closest keys."""
    import difflib

    key = name.lower() if isinstance(name, str) else name
    if key not in table:
        known = sorted(table)
        close = difflib.get_close_matches(str(name).lower(), known, n=3, cutoff=0.4)
        raise UnknownModelError(kind, str(name), known, close)
    return table[key]
