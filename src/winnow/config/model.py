"""The configuration in force: typed values with their origins, and the process-wide current one."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winnow.config.load import FILE_NAME, ConfigError, layered, read_env, read_file, read_sets
from winnow.config.table import SETTINGS, Setting, all_settings

_BASE = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Config:
    """Settings in force. ``values`` holds only what a file, variable or flag set, with ``origins``.

    Read a value with :meth:`get`; a detector's parameters with :meth:`detector_params`.
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    origins: Mapping[str, str] = field(default_factory=dict)
    file: str | None = None

    def get(self, key: str) -> Any:
        """The value of ``key`` (its default when nothing set it); KeyError for an unknown key."""
        if key in self.values:
            return self.values[key]
        setting = _BASE.get(key) or all_settings().get(key)
        if setting is None:
            raise KeyError(key)
        return setting.default

    def detector_params(self, detector: str) -> dict[str, Any]:
        """The parameters of ``detector`` set by the configuration (the others keep their defaults)."""
        prefix = detector + "."
        return {k[len(prefix):]: v for k, v in self.values.items() if k.startswith(prefix)}

    def origin(self, key: str) -> str:
        """Where ``key``'s value came from: ``default``, ``FILE:LINE``, ``$VARIABLE`` or ``--set ...``."""
        return self.origins.get(key, "default")

    def changed(self, prefixes: Iterable[str] = ("",)) -> dict[str, dict[str, Any]]:
        """Values set away from their defaults (whose key starts with one of ``prefixes``), with origins."""
        prefixes = tuple(prefixes)
        known = all_settings()
        return {k: {"value": list(v) if isinstance(v, tuple) else v, "origin": self.origins[k]}
                for k, v in sorted(self.values.items())
                if k.startswith(prefixes) and (k not in known or v != known[k].default)}

    def lake(self) -> Path:
        """The lake folder this configuration points at."""
        return Path(self.get("lake"))


def load(lake: str | Path | None = None, path: str | Path | None = None, sets: Iterable[str] = (),
         env: Mapping[str, str] | None = None) -> Config:
    """The configuration for a run: defaults < config file < environment < ``--set`` < explicit ``lake``.

    Args:
        lake: the ``--lake`` flag; otherwise the lake comes from ``--set lake=``, ``$WINNOW_LAKE``,
            the ``--config`` file or the default. Its ``winnow.toml`` is read when ``path`` is not given.
        path: the ``--config`` file (must exist).
        sets: ``KEY=VALUE`` strings from ``--set``.
        env: environment variables (default ``os.environ``).
    """
    env = os.environ if env is None else env
    sets = list(sets)
    values = layered(None, path, sets, env)
    if lake is not None:
        values["lake"] = (str(lake), "--lake")
    lake_dir = Path(values["lake"][0]) if "lake" in values else Path(_BASE["lake"].default)
    file = Path(path) if path else None
    if file is None and (lake_dir / FILE_NAME).is_file():
        file = lake_dir / FILE_NAME
        known = all_settings()
        in_file = read_file(file, known)
        in_file.pop("lake", None)  # a lake's own file cannot move the lake
        values = {**in_file, **read_env(env, known), **read_sets(sets, known),
                  **({"lake": values["lake"]} if "lake" in values else {})}
    return Config({k: v for k, (v, _) in values.items()}, {k: o for k, (_, o) in values.items()},
                  str(file) if file else None)


_CURRENT: list[Config] = []


def current() -> Config:
    """The configuration in force: the one installed by :func:`use`, else defaults and ``WINNOW_*`` variables.

    Library code reads its tunables here (``current().get("ingest.block_size")``), so a value set
    in a file, a variable or a flag reaches every module without being passed down by hand.
    """
    if _CURRENT:
        return _CURRENT[-1]
    return load()


@contextmanager
def use(config: Config) -> Iterator[Config]:
    """Make ``config`` the :func:`current` one while the block runs (threads see it too)."""
    _CURRENT.append(config)
    try:
        yield config
    finally:
        _CURRENT.remove(config)


__all__ = ["Config", "ConfigError", "Setting", "current", "load", "use"]
