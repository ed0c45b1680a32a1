"""The one registry of log sources, and format sniffing."""

from __future__ import annotations

from winnow.errors import WinnowError
from winnow.sources.base import Source

_SOURCES: dict[str, Source] = {}
_LOADED: list[bool] = []


def register(cls: type[Source]) -> type[Source]:
    """Class decorator adding a source to the registry under ``cls.name``."""
    if cls.name in _SOURCES:
        raise ValueError(f"source {cls.name!r} registered twice")
    _SOURCES[cls.name] = cls()
    return cls


def _load_builtin() -> None:
    """Import every module of this package; sources register themselves with ``@register`` on import.

    Modules must import heavy or optional libraries (evtx, ...) inside their functions, never at the top.
    """
    import importlib
    import pkgutil

    import winnow.sources as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        importlib.import_module(f"winnow.sources.{info.name}")


def sources() -> dict[str, Source]:
    """All registered sources by name."""
    if not _LOADED:
        _load_builtin()
        _LOADED.append(True)
    return dict(_SOURCES)


def get_source(name: str) -> Source:
    """Return the source called ``name`` or raise a user error listing the known ones."""
    known = sources()
    if name not in known:
        raise WinnowError(f"unknown format {name!r}; known formats: {', '.join(sorted(known))}")
    return known[name]


def sniff(head: bytes, filename: str) -> Source | None:
    """Return the first source whose sniff accepts ``head``, or None."""
    for source in sources().values():
        if source.sniff(head, filename):
            return source
    return None
