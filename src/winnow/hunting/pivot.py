"""Pivot: every table and column a value appears in, with counts and first/last seen."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from winnow.hunting.match import locate
from winnow.hunting.sql import ident, literal, opened, window

if TYPE_CHECKING:
    import pyarrow as pa

    from winnow.engine import ReadOnlySQL
    from winnow.lake import Lake


def pivot(lake: str | Path | Lake | ReadOnlySQL | None, value: str, since: dt.datetime | None = None,
          until: dt.datetime | None = None) -> pa.Table:
    """Every table and column of the lake where ``value`` appears: an address, host, user, domain,
    file name, hash, port ...; tables the lake does not have are skipped.

    Text columns match exactly (lists of text: any element), executable paths by their file name
    too (``powershell.exe``), DNS names with their subdomains (``evil.com``), host names by their
    short name, accounts without their domain; a whole number also matches ports and process,
    event and signature ids. ``since``/``until`` keep rows in [since, until) (UTC) and leave out
    tables without a time column.

    Returns:
        Columns ``table``, ``column``, ``count`` (rows), ``first_seen``, ``last_seen`` and
        ``filter`` (the SQL condition selecting those rows), most rows first.
    """
    with opened(lake) as con:
        parts = []
        for table, column, cond, n in locate(con, value, since, until):  # the times are read for the hits alone
            span = "min(ts), max(ts)" if "ts" in con.columns(table) else "NULL::TIMESTAMPTZ, NULL::TIMESTAMPTZ"
            conds = " AND ".join([cond, *window(since, until)])
            parts.append(f"SELECT {literal(table)}, {literal(column)}, {n}::BIGINT, {span}, {literal(conds)} "
                         f"FROM {ident(table)} WHERE {conds}")
        names = ("table", "column", "count", "first_seen", "last_seen", "filter")
        if not parts:
            return con.run("SELECT " + ", ".join(f"NULL::{kind} AS {ident(name)}" for name, kind in zip(
                names, ("VARCHAR", "VARCHAR", "BIGINT", "TIMESTAMPTZ", "TIMESTAMPTZ", "VARCHAR"), strict=True))
                + " LIMIT 0")
        sql = (f"SELECT * FROM ({' UNION ALL '.join(parts)}) AS hits({', '.join(ident(c) for c in names)}) "
               "ORDER BY count DESC, \"table\", \"column\"")
        return con.run(sql)
