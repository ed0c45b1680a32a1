"""The engine contract: an Ibis backend bound to a lake, the per-group hook, and fetching results.

Engines are listed and opened by :mod:`winnow.engine.registry`.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from winnow.lake import Lake

if TYPE_CHECKING:
    import ibis.expr.types as ir


@dataclass(frozen=True)
class Window:
    """A half-open time window [since, until); either end may be open (None)."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None


class Engine(ABC):
    """An Ibis backend bound to a lake.

    Subclasses set ``name`` (their name in the registry), and implement :meth:`open`, which starts
    the backend, :meth:`_register`, which makes a lake table available to it, and :meth:`map_groups`.
    """

    name = "base"

    def __init__(self, lake: Lake, backend: Any) -> None:
        self.lake = lake
        self.backend = backend
        self._tables: dict[str, ir.Table] = {}

    @classmethod
    @abstractmethod
    def open(cls, lake: Lake, url: str) -> Engine:
        """Start the backend selected by ``url`` (a URL the registry matched to this engine) over ``lake``."""

    @abstractmethod
    def _register(self, table: str, view: str) -> ir.Table:
        """Make the lake table ``table`` available to the backend as ``view``."""

    def table(self, name: str, window: Window | None = None) -> ir.Table | None:
        """The lake table ``name`` as an Ibis table (None when the lake has none), limited to ``window``."""
        if name not in self._tables:
            if not self.lake.has_table(name):
                return None
            self._tables[name] = self._register(name, name.replace(".", "_"))
        expr = self._tables[name]
        if window is not None:
            if window.since is not None:
                expr = expr.filter(expr.ts >= window.since)
            if window.until is not None:
                expr = expr.filter(expr.ts < window.until)
        return expr

    @abstractmethod
    def map_groups(self, expr: ir.Table, keys: list[str], values: list[str], func: Any, schema: Any) -> Any:
        """Run ``func(key, cols) -> rows`` on every group of ``expr``; return a pyarrow Table of ``schema``.

        See :mod:`winnow.engine.groups` for the contract of ``func``.
        """

    #: the Ibis/sqlglot dialect of the backend's SQL
    dialect = "duckdb"

    def sql(self, expr: ir.Table) -> str:
        """The SQL of ``expr`` in this engine's dialect; ``expr`` may read unbound tables (named by
        :meth:`materialize`), so SQL compiled once runs again over other data."""
        import ibis

        return str(ibis.to_sql(expr, dialect=self.dialect, pretty=False))

    @abstractmethod
    def materialize(self, expr: ir.Table, name: str) -> None:
        """Compute ``expr`` once into the temporary table ``name`` (for several queries to read)."""

    @abstractmethod
    def drop(self, name: str) -> None:
        """Drop the temporary table ``name`` made by :meth:`materialize`."""

    @abstractmethod
    def query(self, sql: str) -> Any:
        """Run SQL text (from :meth:`sql`) and return a pyarrow Table, timestamps as in :func:`fetch`."""

    def batches(self, expr: ir.Table, rows: int = 1 << 17) -> Iterator[Any]:
        """Execute ``expr`` and stream its result as pyarrow RecordBatches of at most ``rows`` rows, timestamps
        as in :func:`fetch`: for results too large to hold in memory at once."""
        for batch in self._reader(expr, rows):
            yield _utc(batch)

    def _reader(self, expr: ir.Table, rows: int) -> Any:
        return expr.to_pyarrow_batches(chunk_size=rows)

    def close(self) -> None:
        """Release the backend (subclasses also close their connection)."""
        self._tables.clear()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def out_of_memory(exc: BaseException) -> bool:
    """True for an engine running out of memory (DuckDB past its budget and its spill space, a Spark JVM heap)."""
    return type(exc).__name__ == "OutOfMemoryException" or "java.lang.OutOfMemoryError" in str(exc)


def memory_hint() -> str:
    """What to do about :func:`out_of_memory`, with the DuckDB budget in force."""
    from winnow.engine.duckdb_engine import memory_limit

    return (f"the engine ran out of memory (DuckDB budget {memory_limit() or 'default'}): raise the memory "
            "setting (WINNOW_MEMORY=12GB, --set memory=12GB or memory in winnow.toml; Spark: spark.driver_memory, "
            "WINNOW_SPARK_DRIVER_MEMORY) and free disk space for spilling")


def fetch(expr: ir.Table) -> Any:
    """Execute ``expr`` and return a pyarrow Table with every timestamp as ``timestamp[us, UTC]``.

    Engines differ in how they hand back timestamps (DuckDB: tz-aware; Spark: naive UTC);
    detections see one form.
    """
    return _utc(expr.to_pyarrow())


def _utc(data: Any) -> Any:
    """A pyarrow Table or RecordBatch with every timestamp column as ``timestamp[us, UTC]``."""
    import pyarrow as pa

    fields = [pa.field(f.name, pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(f.type) else f
              for f in data.schema]
    target = pa.schema(fields)
    if target == data.schema:
        return data
    columns = []
    for f, col in zip(target, data.columns, strict=True):
        if pa.types.is_timestamp(col.type) and col.type.tz is None:
            col = col.cast(pa.timestamp("us")).cast(pa.int64()).cast(pa.timestamp("us", tz="UTC"))
        columns.append(col.cast(f.type))
    if isinstance(data, pa.RecordBatch):
        return pa.RecordBatch.from_arrays(columns, schema=target)
    return pa.table(columns, schema=target)
