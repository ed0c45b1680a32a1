"""Pivot: every table and column a value appears in, with counts and first/last seen."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from winnow.hunting.match import predicates
from winnow.hunting.sql import ident, literal, opened

if TYPE_CHECKING:
    import pyarrow as pa

    from winnow.engine import ReadOnlySQL
    from winnow.lake import Lake


def pivot(lake: str | Path | Lake | ReadOnlySQL | None, value: str) -> pa.Table:
    """Every table and column of the lake where ``value`` appears: an address, host, user, domain,
    file name, hash, port ...; tables the lake does not have are skipped.

    Text columns match exactly (lists of text: any element), executable paths by their file name
    too (``powershell.exe``), DNS names with their subdomains (``evil.com``); a whole number also
    matches ports and process, event and signature ids.

    Returns:
        Columns ``table``, ``column``, ``count`` (rows), ``first_seen``, ``last_seen`` and
        ``filter`` (the SQL condition selecting those rows), most rows first.
    """
    with opened(lake) as con:
        parts = []
        for table in con.tables:
            columns = con.columns(table)
            span = "min(ts), max(ts)" if "ts" in columns else "NULL::TIMESTAMPTZ, NULL::TIMESTAMPTZ"
            for column, cond in predicates(table, columns, value).items():
                parts.append(f"SELECT {literal(table)} AS \"table\", {literal(column)} AS \"column\", "
                             f"count(*) AS count, {span}, {literal(cond)} AS filter "
                             f"FROM {ident(table)} WHERE {cond}")
        if not parts:
            return _empty()
        sql = (f"SELECT \"table\", \"column\", count, \"min(ts)\" AS first_seen, \"max(ts)\" AS last_seen, filter "
               f"FROM ({' UNION ALL '.join(parts)}) WHERE count > 0 ORDER BY count DESC, \"table\", \"column\"")
        return con.run(sql)


def _empty() -> pa.Table:
    import pyarrow as pa

    return pa.table({"table": pa.array([], pa.string()), "column": pa.array([], pa.string()),
                     "count": pa.array([], pa.int64()), "first_seen": pa.array([], pa.timestamp("us", tz="UTC")),
                     "last_seen": pa.array([], pa.timestamp("us", tz="UTC")), "filter": pa.array([], pa.string())})
