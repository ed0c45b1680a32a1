"""Engines: the only package that imports duckdb or pyspark.

``connect(url, lake)`` returns an :class:`Engine` whose tables are Ibis expressions over the
lake's Parquet files, so a detection written once runs on DuckDB (default, embedded) or Spark.
:mod:`winnow.engine.registry` lists the engines and the URLs that select them;
:func:`open_database` opens the findings store's database file; :func:`open_readonly` opens the
locked, read-only SQL connection the SQL console and the hunting verbs run on;
:func:`spark_map_in_order` runs a function over batches as Spark tasks (``winnow ingest --engine spark``).

Names are imported on first use (PEP 562), so reading the registry (``winnow detect --help``)
imports neither the engines nor pyarrow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from winnow.engine.base import Engine, Window, fetch
    from winnow.engine.database import Database, DatabaseBusy, DatabaseFile, open_database
    from winnow.engine.readonly import ReadOnlySQL, open_readonly
    from winnow.engine.registry import EngineSpec, connect, engine_names, engines, get_engine
    from winnow.engine.spark_engine import spark_cores, spark_map_in_order

_EXPORTS = {
    "Engine": "winnow.engine.base", "Window": "winnow.engine.base", "fetch": "winnow.engine.base",
    "Database": "winnow.engine.database", "DatabaseBusy": "winnow.engine.database",
    "DatabaseFile": "winnow.engine.database",
    "open_database": "winnow.engine.database",
    "ReadOnlySQL": "winnow.engine.readonly", "open_readonly": "winnow.engine.readonly",
    "EngineSpec": "winnow.engine.registry", "connect": "winnow.engine.registry",
    "engine_names": "winnow.engine.registry", "engines": "winnow.engine.registry",
    "get_engine": "winnow.engine.registry",
    "spark_cores": "winnow.engine.spark_engine", "spark_map_in_order": "winnow.engine.spark_engine",
}

__all__ = ["Database", "DatabaseBusy", "DatabaseFile", "Engine", "EngineSpec", "ReadOnlySQL", "Window", "connect",
           "engine_names", "engines", "fetch", "get_engine", "open_database", "open_readonly", "spark_cores",
           "spark_map_in_order"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
