"""Engines: the only package that imports duckdb or pyspark.

``connect(url, lake)`` returns an :class:`Engine` whose tables are Ibis expressions over the
lake's Parquet files, so a detection written once runs on DuckDB (default, embedded) or Spark.
"""

from __future__ import annotations

from winnow.engine.base import Engine, Window, connect, engine_names, fetch

__all__ = ["Engine", "Window", "connect", "engine_names", "fetch"]
