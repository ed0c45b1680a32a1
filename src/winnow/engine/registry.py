"""The one registry of engines: which URL selects which engine, loaded only when used.

Sources and detectors register their classes on import; an engine cannot, because importing it
imports duckdb or pyspark. An engine is therefore registered as an :class:`EngineSpec`, a
declaration naming the module and class to import, the URLs that select it and the extra that
installs what it needs. Nothing is imported until :func:`connect` opens one, so listing engines
(``winnow detect --help``) costs nothing, and a missing optional package is a user error carrying
its install hint (``pip install 'winnow[spark]'``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from winnow.errors import MissingExtraError, WinnowError

if TYPE_CHECKING:
    from winnow.engine.base import Engine
    from winnow.lake import Lake


@dataclass(frozen=True)
class EngineSpec:
    """How to find and open one engine without importing it.

    Args:
        name: the engine's name; as a URL it selects the engine with its defaults.
        description: one line for help texts and docs.
        module: module defining the :class:`~winnow.engine.base.Engine` subclass.
        cls: name of that subclass, whose ``name`` equals ``name``.
        urls: the URL forms that select it, as shown to users (``spark://HOST:PORT``).
        prefixes: URL prefixes that select it, besides ``name`` itself.
        requires: Python packages it needs, imported first so that a missing one names ``extra``.
        extra: the install extra providing ``requires`` (``""``: the core install).
    """

    name: str
    description: str
    module: str
    cls: str
    urls: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    extra: str = ""

    def selects(self, url: str) -> bool:
        """True when ``url`` names this engine."""
        return url == self.name or url.startswith(self.prefixes)

    @property
    def install_hint(self) -> str:
        """The command that installs what this engine needs."""
        return f"pip install 'winnow[{self.extra}]'" if self.extra else "pip install winnow"

    def installed(self) -> bool:
        """True when every package in ``requires`` can be imported (checked without importing it)."""
        import importlib.util

        return all(importlib.util.find_spec(package) is not None for package in self.requires)

    def load(self) -> type[Engine]:
        """Import and return the engine class; a missing package is a user error naming the extra."""
        for package in self.requires:
            try:
                importlib.import_module(package)
            except ImportError:
                if self.extra:
                    raise MissingExtraError(package, self.extra, f"the {self.name} engine") from None
                raise WinnowError(f"the {self.name} engine needs the Python package '{package}', which is "
                                  f"not installed: {self.install_hint}") from None
        return getattr(importlib.import_module(self.module), self.cls)


_ENGINES: dict[str, EngineSpec] = {}


def register(spec: EngineSpec) -> EngineSpec:
    """Add an engine to the registry under ``spec.name``."""
    if spec.name in _ENGINES:
        raise ValueError(f"engine {spec.name!r} registered twice")
    _ENGINES[spec.name] = spec
    return spec


register(EngineSpec(
    "duckdb", "DuckDB, embedded on one machine",
    "winnow.engine.duckdb_engine", "DuckDBEngine", urls=("duckdb",), requires=("duckdb",),
))
register(EngineSpec(
    "spark", "Apache Spark, in local mode or on a cluster",
    "winnow.engine.spark_engine", "SparkEngine", urls=("spark", "spark://HOST:PORT", "local[*]", "yarn", "k8s://..."),
    prefixes=("spark://", "local", "yarn", "k8s://"), requires=("pyspark",), extra="spark",
))


def engines() -> dict[str, EngineSpec]:
    """All registered engines by name."""
    return dict(_ENGINES)


def get_engine(name: str) -> EngineSpec:
    """The engine registered as ``name``; a user error listing the known ones."""
    if name not in _ENGINES:
        raise WinnowError(f"unknown engine {name!r}; known engines: {', '.join(_ENGINES)}")
    return _ENGINES[name]


def engine_names() -> list[str]:
    """Names of the registered engines, in registration order (the built-in default first)."""
    return list(_ENGINES)


def url_forms() -> list[str]:
    """Every URL form that selects an engine, as shown to users."""
    return [url for spec in _ENGINES.values() for url in spec.urls or (spec.name,)]


def url_help() -> str:
    """The ``--engine`` option's help: each engine, the URLs that select it and its install extra."""
    from winnow.config.table import SETTINGS

    parts = []
    for spec in _ENGINES.values():
        forms = list(spec.urls or (spec.name,))
        text = f"{', '.join(forms[:-1])} or {forms[-1]}" if len(forms) > 1 else forms[0]
        hint = f"; {spec.install_hint}" if spec.extra else ""
        parts.append(f"{text} ({spec.description}{hint})")
    default = next(s.default for s in SETTINGS if s.name == "engine")
    return "; ".join(parts) + f". Default: the engine setting ({default} unless configured)."


def default_url() -> str:
    """The engine URL in force: the ``engine`` setting (``--set engine=``, ``$WINNOW_ENGINE``, a config file)."""
    from winnow.config import current

    return str(current().get("engine"))


def engine_for(url: str) -> EngineSpec:
    """The engine ``url`` selects; a user error listing every URL form when none does."""
    url = url.strip()
    for spec in _ENGINES.values():
        if spec.selects(url):
            return spec
    raise WinnowError(f"unknown engine {url!r}: use {', '.join(url_forms())}")


def connect(url: str | None = None, lake: str | Path | Lake | None = None) -> Engine:
    """Open the engine ``url`` selects over ``lake``.

    Args:
        url: ``duckdb``, ``spark`` (local mode) or a Spark master URL (``spark://HOST:PORT``,
            ``local[N]``, ``yarn``, ``k8s://...``); :func:`url_forms` lists them. Default: the
            ``engine`` setting (``duckdb`` unless configured).
        lake: lake folder or :class:`~winnow.lake.Lake` (default: the ``lake`` setting).
    """
    from winnow.lake import Lake

    url = (url or default_url()).strip()
    spec = engine_for(url)
    lake_obj = lake if isinstance(lake, Lake) else Lake.open(lake)
    return spec.load().open(lake_obj, url)
