"""DuckDB, embedded: the default engine.

DuckDB keeps to a memory budget and spills what does not fit (joins, aggregates, sorts, windows) to a
private temporary folder, removed when the engine closes. The budget is the ``memory`` setting
(``--set memory=4GB``, ``$WINNOW_MEMORY`` or ``memory = "4GB"`` in ``winnow.toml``), else
:data:`DEFAULT_MEMORY_SHARE` of the machine's memory (DuckDB's own default, 80 %, lets one join of a
large day take most of a shared machine).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings

import duckdb
import ibis

from winnow.config import current
from winnow.engine.base import Engine, _utc
from winnow.errors import WinnowError
from winnow.lake import Lake

#: share of physical memory the engine may use when the ``memory`` setting is empty
DEFAULT_MEMORY_SHARE = 0.25
#: the smallest default budget
MIN_MEMORY_MB = 1024
_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


def memory_limit() -> str:
    """DuckDB's memory budget: the ``memory`` setting or a share of physical memory, as a size DuckDB reads."""
    config = current()
    value = str(config.get("memory")).strip()
    if value:
        if not _SIZE.match(value):
            raise WinnowError(f"memory setting {value!r} (from {config.origin('memory')}) is not a size with a unit "
                              "such as 4GB or 512MB: set WINNOW_MEMORY, --set memory= or memory in winnow.toml")
        return value
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # a platform without sysconf: DuckDB's own default
        return ""
    return f"{max(MIN_MEMORY_MB, int(total * DEFAULT_MEMORY_SHARE) >> 20)}MB"


def scan_sql(lake: Lake, table: str) -> str:
    """The SELECT that reads the lake table ``table`` from its Parquet parts (the day partition column left out)."""
    glob = lake.table_glob(table).replace("'", "''")
    return (f"SELECT * EXCLUDE (day) FROM read_parquet('{glob}', hive_partitioning = true, "
            "union_by_name = true)")


def budget(con: duckdb.DuckDBPyConnection) -> str:
    """Put ``con`` on :func:`memory_limit`, spilling to a new private folder (returned; remove it when done)."""
    limit = memory_limit()
    spill = tempfile.mkdtemp(prefix="winnow-spill-")
    try:
        if limit:
            con.execute(f"SET memory_limit = '{limit}'")
        con.execute(f"SET temp_directory = '{spill.replace(chr(39), chr(39) * 2)}'")
    except duckdb.Error as exc:
        shutil.rmtree(spill, ignore_errors=True)
        raise WinnowError(f"DuckDB refused the memory budget {limit!r}: {exc}") from None
    return spill


class DuckDBEngine(Engine):
    """The lake's tables as views over its Parquet files in an in-memory DuckDB database."""

    name = "duckdb"

    def __init__(self, lake: Lake, backend, spill: str | None = None) -> None:
        super().__init__(lake, backend)
        self._spill = spill

    @classmethod
    def open(cls, lake: Lake, url: str = "duckdb") -> DuckDBEngine:
        """An in-memory DuckDB keeping to :func:`memory_limit`, spilling to a private folder."""
        backend = ibis.duckdb.connect()
        return cls(lake, backend, budget(backend.con))

    def _register(self, table: str, view: str):
        self.backend.raw_sql(f'CREATE OR REPLACE VIEW "{view}" AS {scan_sql(self.lake, table)}')
        return self.backend.table(view)

    def _sql(self, expr) -> str:
        """The SQL of ``expr``, with the memtables it uses registered."""
        self.backend._run_pre_execute_hooks(expr)
        return self.backend.compile(expr)

    def _reader(self, expr, rows):
        # ibis's own batch reader calls an API DuckDB 2.0 removed
        return self.backend.con.sql(self._sql(expr)).to_arrow_reader(rows)

    def materialize(self, expr, name):
        self.backend.con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {self._sql(expr)}')

    def drop(self, name):
        self.backend.con.execute(f'DROP TABLE IF EXISTS "{name}"')

    def query(self, sql):
        # not con.sql(): DuckDB 2.0's Python layer tokenizes the text of con.sql() in Python to find
        # parameter markers (a second per sixty big Sigma queries); the copy execute() makes is cheaper
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Arrow output on a DB-API result", UserWarning)
            return _utc(self.backend.con.execute(sql).to_arrow_table())

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
