"""The one registry of detectors."""

from __future__ import annotations

from winnow.detections.base import Detector
from winnow.errors import WinnowError

_DETECTORS: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator adding a detector under ``cls.name``."""
    if cls.name in _DETECTORS:
        raise ValueError(f"detector {cls.name!r} registered twice")
    _DETECTORS[cls.name] = cls
    return cls


_NOT_DETECTORS = {"base", "registry"}


def _load_builtin() -> None:
    """Import every module of this package; detector modules register themselves on import."""
    import importlib
    import pkgutil

    import winnow.detections as package

    for module in sorted(m.name for m in pkgutil.iter_modules(package.__path__)):
        if module not in _NOT_DETECTORS and not module.startswith("_"):
            importlib.import_module(f"winnow.detections.{module}")


_LOADED: list[bool] = []


def detectors() -> dict[str, type[Detector]]:
    """All registered detector classes by name (importing one detector module first must not hide the rest)."""
    if not _LOADED:
        _load_builtin()
        _LOADED.append(True)
    return dict(_DETECTORS)


def get_detector(name: str, **params: object) -> Detector:
    """An instance of the detector ``name``; user error listing the known ones."""
    known = detectors()
    if name not in known:
        raise WinnowError(f"unknown detector {name!r}; known detectors: {', '.join(sorted(known))}")
    return known[name](**params)  # type: ignore[arg-type]
