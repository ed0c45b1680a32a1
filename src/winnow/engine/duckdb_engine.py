"""DuckDB, embedded: the default engine.

DuckDB keeps to a memory budget and spills what does not fit (joins, aggregates, sorts, windows) to a
private temporary folder, removed when the engine closes. The budget is ``$WINNOW_MEMORY`` (a size such
as ``4GB`` or ``512MB``), else :data:`DEFAULT_MEMORY_SHARE` of the machine's memory (DuckDB's own
default, 80 %, lets one join of a large day take most of a shared machine).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

import duckdb
import ibis

from winnow.engine.base import Engine
from winnow.errors import WinnowError
from winnow.lake import Lake

#: share of physical memory the engine may use when ``$WINNOW_MEMORY`` is not set
DEFAULT_MEMORY_SHARE = 0.25
#: the smallest default budget
MIN_MEMORY_MB = 1024
_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


def memory_limit() -> str:
    """DuckDB's memory budget: ``$WINNOW_MEMORY`` or a share of physical memory, as a size DuckDB reads."""
    value = os.environ.get("WINNOW_MEMORY", "").strip()
    if value:
        if not _SIZE.match(value):
            raise WinnowError(f"WINNOW_MEMORY={value!r} is not a size such as 4GB or 512MB")
        return value
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # a platform without sysconf: DuckDB's own default
        return ""
    return f"{max(MIN_MEMORY_MB, int(total * DEFAULT_MEMORY_SHARE) >> 20)}MB"


class DuckDBEngine(Engine):
    name = "duckdb"

    def __init__(self, lake: Lake, backend, spill: str | None = None) -> None:
        super().__init__(lake, backend)
        self._spill = spill

    @classmethod
    def open(cls, lake: Lake) -> DuckDBEngine:
        limit = memory_limit()
        spill = tempfile.mkdtemp(prefix="winnow-spill-")
        backend = ibis.duckdb.connect()
        try:
            if limit:
                backend.raw_sql(f"SET memory_limit = '{limit}'")
            backend.raw_sql(f"SET temp_directory = '{spill.replace(chr(39), chr(39) * 2)}'")
        except duckdb.Error as exc:
            shutil.rmtree(spill, ignore_errors=True)
            raise WinnowError(f"DuckDB refused the memory budget {limit!r}: {exc}") from None
        return cls(lake, backend, spill)

    def _register(self, table: str, view: str):
        glob = self.lake.table_glob(table).replace("'", "''")
        self.backend.raw_sql(
            f"CREATE OR REPLACE VIEW \"{view}\" AS SELECT * EXCLUDE (day) FROM read_parquet('{glob}', "
            "hive_partitioning = true, union_by_name = true)"
        )
        return self.backend.table(view)

    def _sql(self, expr) -> str:
        """The SQL of ``expr``, with the memtables it uses registered."""
        self.backend._run_pre_execute_hooks(expr)
        return self.backend.compile(expr)

    def _reader(self, expr, rows):
        # ibis's own batch reader calls an API DuckDB 2.0 removed
        return self.backend.con.sql(self._sql(expr)).to_arrow_reader(rows)

    def map_groups(self, expr, keys, values, func, schema):
        from winnow.engine.groups import apply_to_batch, to_table

        inner = self._sql(expr)
        key_sql = ", ".join(f'"{k}"' for k in keys)
        lists = ", ".join(f'list("{v}") AS "{v}"' for v in values)
        relation = self.backend.con.sql(f"SELECT {key_sql}, {lists} FROM ({inner}) GROUP BY {key_sql}")
        rows: list[dict] = []
        for batch in relation.to_arrow_reader(20_000):
            rows.extend(apply_to_batch(batch, keys, values, func))
        return to_table(rows, schema)

    def close(self) -> None:
        super().close()
        self.backend.disconnect()
        if self._spill:
            shutil.rmtree(self._spill, ignore_errors=True)


class DatabaseBusy(WinnowError):
    """Another process holds a database file's write lock (a detection storing its findings)."""


def open_database(path: str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB database file (the findings store); :class:`DatabaseBusy` while another process writes it."""
    try:
        return duckdb.connect(path, read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        holder = re.search(r"\(PID (\d+)\)", str(exc))
        by = f" (pid {holder.group(1)})" if holder else ""
        raise DatabaseBusy(f"{path} is being written by another process{by}, a detection storing findings "
                           "probably; run this again when it has finished") from None
