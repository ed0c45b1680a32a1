"""Sigma correlation rules over the events their base rules matched.

A correlation names base rules, fields to group by, a timespan and a condition. The matched events of
the base rules (with the group-by fields, fetched by the scan) are grouped, and in each group every window
of ``timespan`` that starts at an event is tested:

* ``event_count``: the number of events in the window meets the condition;
* ``value_count``: the number of distinct values of the condition's field meets it;
* ``temporal`` (and ``temporal_ordered``, whose order is not checked): every base rule matched in the window.

A group fires once, with the events of its first window that satisfies the condition. The events come
from the engine's scan, so DuckDB and Spark give the same correlations.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

_OPS = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b, "eq": lambda a, b: a == b, "neq": lambda a, b: a != b}


def base_ids(corr: Any) -> list[str]:
    """The ids of the rules ``corr`` references (resolved by :func:`winnow.sigma.rules.load_rules`)."""
    return [str(ref.rule.id) if getattr(ref, "rule", None) is not None else str(ref.reference) for ref in corr.rules]


def correlate(correlations: list[Any], matched: dict[str, pa.Table]) -> Iterator[tuple[Any, list]]:
    """Per correlation rule, the (group key, events) that satisfy it."""
    for corr in correlations:
        ids = base_ids(corr)
        events = []
        for rule_id in ids:
            rows = matched.get(rule_id)
            if rows is None:
                continue
            for row in rows.to_pylist():
                row["_rule"] = rule_id
                events.append(row)
        fired = list(_fire(corr, ids, events))
        if fired:
            yield corr, fired


def _fire(corr: Any, ids: list[str], events: list[dict]) -> Iterator[tuple[dict, pa.Table]]:
    group_by = list(corr.group_by or [])
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in events:
        groups[tuple(row.get(f"x_{f}") for f in group_by)].append(row)
    span = dt.timedelta(seconds=corr.timespan.seconds)
    kind = corr.type.name.lower()
    for key, rows in groups.items():
        rows.sort(key=lambda r: r["ts"])
        window = _first_window(kind, corr, ids, rows, span)
        if window is not None:
            table = pa.Table.from_pylist([{k: v for k, v in r.items() if k != "_rule"} for r in window])
            yield dict(zip(group_by, key, strict=True)), table


def _first_window(kind: str, corr: Any, ids: list[str], rows: list[dict], span: dt.timedelta) -> list[dict] | None:
    end = 0
    for start, first in enumerate(rows):
        end = max(end, start)
        while end < len(rows) and rows[end]["ts"] - first["ts"] <= span:
            end += 1
        window = rows[start:end]
        if kind == "event_count":
            ok = _test(corr, len(window))
        elif kind == "value_count":
            field = corr.condition.fieldref
            ok = _test(corr, len({r.get(f"x_{field}") for r in window if r.get(f"x_{field}") is not None}))
        else:  # temporal, temporal_ordered
            ok = {r["_rule"] for r in window} >= set(ids)
        if ok:
            return window
    return None


def _test(corr: Any, value: int) -> bool:
    cond = corr.condition
    return _OPS[cond.op.name.lower()](value, cond.count)
