"""One registry shape for detectors, embedders and miners (timm's ``build_model_with_cfg`` idea).

A :class:`Registry` holds typed :class:`Entry` objects: a name, a config, and a builder named as
``"module:function"`` that is imported only when something is built (listing models or reading a
config never imports torch). Building goes through :meth:`Registry.build`, the one place where
keyword arguments are filtered: an option the builder does not take is dropped when it is one of
the registry's *shared* options (``backend`` for a PyTorch model, ``seed`` for a miner that draws
nothing), and refused with the list of accepted options otherwise.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterable, Mapping, TypeVar

from facenet.errors import lookup

C = TypeVar("C")
T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[C]):
    """One registered thing. builder: ``"package.module:callable"``, called as
    ``builder(config, **kwargs)``. aliases: older or shorter names that resolve to it (listed
    nowhere, accepted everywhere)."""

    name: str
    config: C
    builder: str
    aliases: tuple[str, ...] = ()
    #: Options bound to this entry (e.g. the file a user-registered model lives in), passed to
    #: the builder on every build.
    bound: tuple[tuple[str, Any], ...] = ()

    def load_builder(self) -> Callable[..., Any]:
        module, _, attr = self.builder.partition(":")
        return getattr(importlib.import_module(module), attr)


def filter_kwargs(fn: Callable[..., Any], kwargs: Mapping[str, Any], shared: Iterable[str] = (),
                  what: str = "") -> dict[str, Any]:
    """The keyword arguments ``fn`` accepts. Unaccepted keys in ``shared`` are dropped silently;
    any other unaccepted key raises ValueError listing what ``fn`` takes."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(kwargs)
    accepted = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    shared = set(shared)
    unknown = sorted(k for k in kwargs if k not in accepted and k not in shared)
    if unknown:
        takes = sorted(accepted - {"config", "self"})
        raise ValueError(f"Unknown options for {what or fn.__name__}: {', '.join(map(repr, unknown))}; "
                         f"it takes {', '.join(takes) or 'no options'}.")
    return {k: v for k, v in kwargs.items() if k in accepted}


class Registry(Generic[C, T]):
    """Named entries of one kind (``kind``: "detector", "model", "miner").

    entries: a function returning the built-in entries (called on each lookup: no import-time
    registration state). extra: an optional function returning more names at lookup time, each
    with a function that makes its entry (user-registered models: their config is read from the
    file only when that name is used). Built-in names win. shared: options every builder of this
    kind may be handed.
    """

    def __init__(self, kind: str, entries: Callable[[], Iterable[Entry[C]]],
                 extra: Callable[[], Mapping[str, Callable[[], Entry[C]]]] | None = None,
                 shared: Iterable[str] = ()) -> None:
        self.kind = kind
        self._entries = entries
        self._extra = extra
        self.shared = tuple(shared)

    def _builtin(self) -> dict[str, Entry[C]]:
        return {e.name: e for e in self._entries()}

    def _more(self, builtin: Mapping[str, Entry[C]]) -> dict[str, Callable[[], Entry[C]]]:
        if self._extra is None:
            return {}
        return {k: v for k, v in self._extra().items() if k not in builtin}

    def names(self, include_extra: bool = True) -> list[str]:
        """Canonical names, sorted (aliases are not listed)."""
        builtin = self._builtin()
        return sorted({*builtin, *(self._more(builtin) if include_extra else {})})

    def entry(self, name: str) -> Entry[C]:
        """The entry for ``name`` or one of its aliases (case-insensitive); UnknownModelError
        naming the closest names otherwise."""
        builtin = self._builtin()
        keyed: dict[str, Any] = dict(builtin)
        for e in builtin.values():
            for a in e.aliases:
                keyed.setdefault(a, e)
        key = name.lower() if isinstance(name, str) else name
        if key in keyed:
            return keyed[key]
        more = self._more(builtin)
        found = lookup(self.kind, name, {**more, **keyed})
        return found() if callable(found) else found

    def config(self, name: str) -> C:
        return self.entry(name).config

    def build(self, name: str, **kwargs: Any) -> T:
        """Build ``name`` with ``kwargs`` filtered against its builder's signature."""
        return self.build_entry(self.entry(name), **kwargs)

    def build_entry(self, entry: Entry[C], **kwargs: Any) -> T:
        """Build an entry (one from :meth:`entry`, or made by the caller)."""
        fn = entry.load_builder()
        options = filter_kwargs(fn, kwargs, self.shared, what=f"{self.kind} {entry.name!r}")
        return fn(entry.config, **options, **dict(entry.bound))
