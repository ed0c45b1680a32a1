"""An entity's timeline across tables and its neighbours, from the rows that mention it (:mod:`.mentions`).

Each table is queried once over the window: its rows that mention the entity, in time order (at
most ``web.entity_rows``), with the columns shown and the neighbour columns. The timeline is the first
``web.timeline_rows`` of them; the neighbours are counted over all of them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from winnow.web.mentions import TABLES, Subject, condition

#: columns whose values are neighbours, and the entity type they are
NEIGHBOUR_COLUMNS = {"src_ip": "address", "dst_ip": "address", "host": "host", "user": "user", "image": "process",
                     "query": "domain", "server_name": "domain"}


def gather(engine: Any, subject: Subject, window: Any, rows_per_table: int, per_column: int, internal: Any,
           most: int) -> dict[str, Any]:
    """``timeline`` (up to ``rows_per_table`` rows of each table, in time order), ``neighbours`` (the busiest
    ``per_column`` values of each neighbour column with rows and bytes) and ``truncated`` (tables with more
    than ``most`` mentioning rows, whose neighbours are counted over their first ``most``)."""
    from winnow.engine import fetch

    timeline: list[dict[str, Any]] = []
    combos: list[tuple[str, str, dict[str, Any]]] = []
    truncated = []
    for name, spec in TABLES.items():
        table = engine.table(name, window)
        test = condition(table, name, subject) if table is not None else None
        if test is None:
            continue
        shown = [c for c in spec["show"] if c in table.columns]
        keys = [c for c in NEIGHBOUR_COLUMNS if c in table.columns
                and not (c == "host" and "host" in spec.get("domain", ()))]  # net.http's host is a domain
        rows = table.filter(test)
        if "src_bytes" in rows.columns:
            rows = rows.mutate(_volume=rows.src_bytes.fill_null(0) + rows.dst_bytes.fill_null(0))
        columns = list(dict.fromkeys(["ts", *shown, *keys, *(["_volume"] if "_volume" in rows.columns else [])]))
        got = fetch(rows.order_by("ts").limit(most + 1).select(*columns))
        if got.num_rows > most:
            truncated.append(name)
            got = got.slice(0, most)
        for row in got.slice(0, rows_per_table).select(["ts", *shown]).to_pylist():
            timeline.append({"ts": row.pop("ts"), "table": name, "fields": row})
        measures = [("ts", "count")] + ([("_volume", "sum")] if "_volume" in got.column_names else [])
        grouped = got.group_by(keys, use_threads=False).aggregate(measures)
        grouped = grouped.rename_columns([{"ts_count": "rows", "_volume_sum": "bytes"}.get(c, c)
                                          for c in grouped.column_names])
        combos += [(name, k, row) for row in grouped.to_pylist() for k in keys]
    timeline.sort(key=lambda r: (r["ts"] or dt.datetime.min.replace(tzinfo=dt.UTC), r["table"]))
    return {"timeline": timeline, "neighbours": _neighbours(subject, combos, per_column, internal),
            "truncated": truncated}


def _neighbours(subject: Subject, combos: list[tuple[str, str, dict[str, Any]]], per_column: int,
                internal: Any) -> list[dict[str, Any]]:
    """Roll the combinations up per (table, column, value), keep the busiest of each, merge by entity."""
    own = {a.lower() for a in subject.addresses} | {v for v in (subject.host, subject.user, subject.domain) if v}
    per: dict[tuple[str, str], dict[str, list[int]]] = {}
    for table, column, row in combos:
        value = row[column]
        if value is None:
            continue
        if column == "image":
            value = f"{str(row.get('host') or '').lower()}:{value}"
        counts = per.setdefault((table, column), {}).setdefault(str(value), [0, 0])
        counts[0] += int(row["rows"] or 0)
        counts[1] += int(row.get("bytes") or 0)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for (_, column), values in per.items():
        kind = NEIGHBOUR_COLUMNS[column]
        busiest = sorted(values.items(), key=lambda kv: (-kv[1][0], kv[0]))
        kept = [(v, c) for v, c in busiest if v and v.lower() not in own and v not in ("-", "0.0.0.0", "::")]
        for value, (rows, volume) in kept[:per_column]:
            typed = ("ip" if internal(value) else "external") if kind == "address" else kind
            node = found.setdefault((typed, value.lower()), {"type": typed, "value": value, "rows": 0, "bytes": 0})
            node["rows"] += rows
            node["bytes"] += volume
    return sorted(found.values(), key=lambda n: (-n["rows"], n["type"], n["value"]))
