"""Fields of a Windows event's EventData, read from ``win.event`` on every engine.

``win.event`` keeps each record's EventData / UserData as one JSON object in the string column
``data``; the typed tables (``auth.logon``, ``proc.exec``...) carry only the fields they map.
A detector that needs another field (``PreAuthType`` of a 4768, ``Properties`` of a 4662,
``Status`` of a 4771...) reads it here::

    events = windows_events(engine, window, (4662,))
    rows = with_event_fields(events, "SubjectUserName", "Properties")

Ibis's own JSON operations compile on DuckDB but fall back to a Python UDF on Spark (slow, and
failing on scalar values), so the extraction is the engine's native JSON function, picked from the
backend of the table: DuckDB ``json_extract_string``, Spark ``get_json_object``. Both return the
value as text (a nested object or array as its JSON text) and null when the key is absent or the
text is not a JSON object, so a malformed record yields nulls, never an error. Windows writes
``-`` (and sometimes an empty string) for a field with no value: :func:`event_field` turns both
into null unless ``keep_dash`` is set.

Field names are EventData names (``TargetUserName``); a dotted name follows nested objects
(``LogFileCleared.SubjectUserName`` under a 1102's UserData, which sits in ``data`` as
``{"UserData": {...}}``: pass ``UserData.LogFileCleared.SubjectUserName``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import ibis
import ibis.expr.types as ir

from winnow.engine import Engine, Window

_NAME = re.compile(r"[A-Za-z0-9_#@-]+(\.[A-Za-z0-9_#@-]+)*")
#: values Windows logs for "no value"
EMPTY = ("-", "")


@ibis.udf.scalar.builtin(name="json_extract_string")
def _duckdb_extract(data: str, path: str) -> str:  # type: ignore[empty-body]
    """DuckDB: the value at ``path`` as text (null when absent)."""


@ibis.udf.scalar.builtin(name="json_valid")
def _duckdb_valid(data: str) -> bool:  # type: ignore[empty-body]
    """DuckDB: whether ``data`` is valid JSON."""


@ibis.udf.scalar.builtin(name="get_json_object")
def _spark_extract(data: str, path: str) -> str:  # type: ignore[empty-body]
    """Spark: the value at ``path`` as text (null when absent or when ``data`` is not JSON)."""


def _backend_name(expr: ir.Expr) -> str:
    try:
        return str(expr._find_backend().name)  # type: ignore[attr-defined]
    except Exception:  # an unbound expression (a memtable): DuckDB is the default engine
        return "duckdb"


def event_field(data: ir.StringValue, name: str, *, keep_dash: bool = False) -> ir.StringValue:
    """The EventData field ``name`` of the JSON text ``data`` (a ``win.event.data`` column) as a string.

    Null when the field is absent or ``data`` is not a JSON object; ``-`` and empty values are null too
    unless ``keep_dash``.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"not an EventData field name: {name!r}")
    path = f"$.{name}"
    if _backend_name(data) == "pyspark":
        value = _spark_extract(data, path)
    else:
        # json_extract_string raises on malformed text: guard it (DuckDB evaluates a CASE branch only on its rows)
        value = ibis.cases((_duckdb_valid(data) & data.startswith("{"), _duckdb_extract(data, path)),
                           else_=ibis.null("string"))
    if keep_dash:
        return value
    return ibis.ifelse(value.isin(EMPTY), ibis.null("string"), value)


def with_event_fields(events: ir.Table, *names: str, keep_dash: bool = False) -> ir.Table:
    """``events`` (rows of ``win.event``) with one string column per EventData field, named after its last part."""
    return events.mutate(**{n.rsplit(".", 1)[-1]: event_field(events.data, n, keep_dash=keep_dash) for n in names})


def windows_events(engine: Engine, window: Window, event_ids: Iterable[int],
                   channel: str | None = "Security") -> ir.Table | None:
    """Rows of ``win.event`` with these event ids (of ``channel``, when given); None when the lake has none."""
    events = engine.table("win.event", window)
    if events is None:
        return None
    ids = sorted({int(i) for i in event_ids})
    rows = events.filter(events.event_id.isin(ids))
    if channel is not None:
        rows = rows.filter(rows.channel == channel)
    return rows
