"""Timeline: everything about one entity across every table and the findings, oldest first, in one row shape."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from winnow.hunting.match import locate
from winnow.hunting.sql import ident, literal, opened, setting_limit, window
from winnow.hunting.summaries import summary_sql

if TYPE_CHECKING:
    import pyarrow as pa

    from winnow.engine import ReadOnlySQL
    from winnow.lake import Lake

#: the key columns every timeline row carries (null where the table has no such column);
#: the findings' ``src``/``dst`` fill ``src_ip``/``dst_ip``; ``source`` is the log line (file:line)
KEYS = ("host", "user", "src_ip", "dst_ip", "image", "source")
_ALIASES = {"src_ip": "src", "dst_ip": "dst"}


def timeline(lake: str | Path | Lake | ReadOnlySQL | None, entity: str, since: dt.datetime | None = None,
             until: dt.datetime | None = None, limit: int | None = None) -> pa.Table:
    """Every event about ``entity`` (a host, address, user, process image or domain) in the lake's
    tables and the stored findings, oldest first; tables the lake does not have are skipped.

    ``entity`` matches like :func:`~winnow.hunting.pivot` (``WS00042`` its fully qualified name,
    ``alice`` ``CORP\\alice``, ``powershell.exe`` its paths, ``evil.com`` its subdomains).

    Args:
        since, until: keep events in [since, until) (UTC).
        limit: events returned, the oldest (default: the ``hunt.timeline_limit`` setting).

    Returns:
        Columns ``ts``, ``table``, ``match`` (the column that names the entity), ``summary`` (one
        line about the event), then ``host``, ``user``, ``src_ip``, ``dst_ip``, ``image`` and
        ``source``: the file and line the event was read from (``conn.log:42``), null for findings.
    """
    with opened(lake) as con:
        n = setting_limit(limit, "hunt.timeline_limit")
        by_table: dict[str, dict[str, str]] = {}
        for table, column, cond, _ in locate(con, entity, since, until):  # only the columns that name the entity at all
            by_table.setdefault(table, {})[column] = cond
        parts = []
        for table, found in by_table.items():
            columns = con.columns(table)
            if "ts" not in columns:
                continue
            keys = [f"{_key(columns, k)} AS {ident(k)}" for k in KEYS]
            head = f"SELECT ts, {literal(table)} AS \"table\", "
            tail = f", {summary_sql(table, list(columns))} AS summary, {', '.join(keys)} FROM {ident(table)} WHERE "
            earlier: list[str] = []
            for name, cond in found.items():  # one branch per column, each filter pushed into the scan
                conds = [cond, *window(since, until)]
                if earlier:  # a row naming the entity twice comes once, under its first column
                    conds.append(f"NOT coalesce({' OR '.join(earlier)}, false)")
                branch = head + f"{literal(name)} AS match" + tail + " AND ".join(conds)
                parts.append(f"SELECT * FROM ({branch} ORDER BY ts LIMIT {n})")  # each branch's oldest n at most
                earlier.append(cond)
        if not parts:
            return con.run("SELECT NULL::TIMESTAMPTZ AS ts, " + ", ".join(
                f"NULL::VARCHAR AS {ident(c)}" for c in ("table", "match", "summary", *KEYS)) + " LIMIT 0")
        sql = f"SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY ts, \"table\", summary"
        return con.run(sql, n)


def _key(columns: dict[str, str], key: str) -> str:
    if key == "source":
        return ("_source_file || ':' || CAST(_line AS VARCHAR)" if "_source_file" in columns and "_line" in columns
                else "NULL::VARCHAR")
    for name in (key, _ALIASES.get(key)):
        if name in columns:
            return f"CAST({ident(name)} AS VARCHAR)"
    return "NULL::VARCHAR"
