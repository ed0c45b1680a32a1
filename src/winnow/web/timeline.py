"""An entity's timeline across tables and its neighbours, from the rows that mention it (:mod:`.mentions`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from winnow.web.mentions import TABLES, Subject, condition

#: columns whose values are neighbours, and the entity type they are
NEIGHBOUR_COLUMNS = {"src_ip": "address", "dst_ip": "address", "host": "host", "user": "user", "image": "process",
                     "query": "domain", "server_name": "domain"}


def timeline(engine: Any, subject: Subject, window: Any, rows_per_table: int) -> list[dict[str, Any]]:
    """Up to ``rows_per_table`` rows of each table that mention ``subject``, all in time order."""
    from winnow.engine import fetch

    out: list[dict[str, Any]] = []
    for name, spec in TABLES.items():
        table = engine.table(name, window)
        if table is None:
            continue
        test = condition(table, name, subject)
        if test is None:
            continue
        shown = [c for c in spec["show"] if c in table.columns]
        rows = table.filter(test).order_by("ts").limit(rows_per_table).select("ts", *shown)
        for row in fetch(rows).to_pylist():
            out.append({"ts": row.pop("ts"), "table": name, "fields": row})
    out.sort(key=lambda r: (r["ts"] or dt.datetime.min.replace(tzinfo=dt.UTC), r["table"]))
    return out


def neighbours(engine: Any, subject: Subject, window: Any, per_column: int,
               internal: Any) -> list[dict[str, Any]]:
    """What ``subject`` was seen with: addresses, hosts, users, processes, domains, with rows and bytes."""
    from winnow.engine import fetch

    found: dict[tuple[str, str], dict[str, Any]] = {}
    own = {a.lower() for a in subject.addresses} | {v for v in (subject.host, subject.user, subject.domain) if v}
    for name, spec in TABLES.items():
        table = engine.table(name, window)
        test = condition(table, name, subject) if table is not None else None
        if test is None:
            continue
        rows = table.filter(test)
        for column, kind in NEIGHBOUR_COLUMNS.items():
            if column not in rows.columns or column == "host" and "host" in spec.get("domain", ()):
                continue
            value = rows[column] if kind != "process" else rows.host.lower().concat(":", rows.image)
            some = rows.filter(rows[column].notnull()).mutate(v=value)
            measures = {"rows": some.count()}
            if "src_bytes" in some.columns:
                measures["bytes"] = (some.src_bytes.fill_null(0) + some.dst_bytes.fill_null(0)).sum()
            per = some.group_by("v").aggregate(**measures)
            per = per.order_by([per.rows.desc(), per.v]).limit(per_column)
            for row in fetch(per).to_pylist():
                text = str(row["v"])
                if not text or text.lower() in own or text in ("-", "0.0.0.0", "::"):
                    continue
                typed = ("ip" if internal(text) else "external") if kind == "address" else kind
                node = found.setdefault((typed, text.lower()), {"type": typed, "value": text, "rows": 0, "bytes": 0})
                node["rows"] += int(row["rows"] or 0)
                node["bytes"] += int(row.get("bytes") or 0)
    return sorted(found.values(), key=lambda n: (-n["rows"], n["type"], n["value"]))
