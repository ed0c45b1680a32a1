"""DuckDB, embedded: the default engine."""

from __future__ import annotations

import duckdb
import ibis

from winnow.engine.base import Engine
from winnow.lake import Lake


class DuckDBEngine(Engine):
    name = "duckdb"

    @classmethod
    def open(cls, lake: Lake) -> DuckDBEngine:
        return cls(lake, ibis.duckdb.connect())

    def _register(self, table: str, view: str):
        glob = self.lake.table_glob(table).replace("'", "''")
        self.backend.raw_sql(
            f"CREATE OR REPLACE VIEW \"{view}\" AS SELECT * EXCLUDE (day) FROM read_parquet('{glob}', "
            "hive_partitioning = true, union_by_name = true)"
        )
        return self.backend.table(view)

    def map_groups(self, expr, keys, values, func, schema):
        from winnow.engine.groups import apply_to_batch, to_table

        self.backend._run_pre_execute_hooks(expr)  # registers memtables the expression uses
        inner = self.backend.compile(expr)
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


def open_database(path: str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB database file (the findings store lives in one)."""
    return duckdb.connect(path, read_only=read_only)
