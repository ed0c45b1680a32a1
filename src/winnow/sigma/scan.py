"""Many compiled rules in one pass: rules of one log source share a scan of its rows.

For each source (table and row filter, :class:`~winnow.sigma.logsources.Source`), the rows are read once,
every field the rules need is projected once (event data fields pulled out of the JSON once, with a lower
case twin), then each rule's predicate is one boolean column and the rows where any is true come back:
the key columns of the event and one flag per rule. Sources with many rules are cut into scans of at most
``rules_per_scan`` rules so that no query grows without bound.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from winnow.engine import Engine, Window, fetch
from winnow.sigma.compile import KEYWORDS, CompiledRule, FieldKey, all_of, any_of
from winnow.sigma.logsources import Source

#: columns kept for each matched event, when the table has them
KEY_COLUMNS = ("ts", "host", "event_id", "record_id", "channel", "user", "image", "_source_file")


#: event data that is user data: ``{"UserData": {"<element>": {fields}}}``, its fields read from the element
USER_DATA = '{"UserData":'
_USER_DATA_INNER = r'^\{"UserData":\{"[^"]*":(\{.*\})\}\}$'


@ibis.udf.scalar.builtin(name="json_extract_string")
def _duckdb_json(doc: str, path: str) -> str:  # type: ignore[empty-body]
    """DuckDB: the value at ``path`` as text."""


@ibis.udf.scalar.builtin(name="get_json_object")
def _spark_json(doc: str, path: str) -> str:  # type: ignore[empty-body]
    """Spark: the value at ``path`` as text."""


@dataclass
class Matches:
    """The events one scan matched: ``rows`` (a pyarrow Table of key columns) and per rule a flag column."""

    source: Source
    rules: list[CompiledRule]
    rows: object  # pyarrow.Table

    def of(self, index: int) -> object:
        """The matched rows of ``rules[index]`` (key columns only)."""
        import pyarrow.compute as pc

        flags = self.rows.column(f"r{index}")
        keys = [c for c in self.rows.column_names if not c.startswith("r") or not c[1:].isdigit()]
        return self.rows.filter(pc.fill_null(flags, False)).select(keys)


def scan(engine: Engine, rules: list[CompiledRule], window: Window | None = None,
         rules_per_scan: int = 200) -> Iterator[Matches]:
    """Run ``rules`` on ``engine``: one :class:`Matches` per scan (sources whose table is absent yield none)."""
    by_source: dict[str, list[CompiledRule]] = defaultdict(list)
    for rule in rules:
        by_source[rule.source.key].append(rule)
    for group in by_source.values():
        source = group[0].source
        table = engine.table(source.table, window)
        if table is None:
            continue
        for start in range(0, len(group), rules_per_scan):
            chunk = group[start:start + rules_per_scan]
            yield Matches(source, chunk, fetch(scan_expr(engine.name, table, source, chunk)))


def source_rows(table: ir.Table, source: Source) -> ir.Table:
    """The rows of ``table`` the source's clauses select."""
    if source.linux and "event_id" in table.columns:
        return table.filter(table.event_id.isnull())
    clauses = []
    for clause in source.clauses:
        parts = []
        if clause.channels:
            parts.append(table.channel.isin(list(clause.channels)))
        if clause.event_ids:
            parts.append(table.event_id.isin(list(clause.event_ids)))
        clauses.append(all_of(parts) if parts else ibis.literal(True))
    return table.filter(any_of(clauses)) if clauses else table


def scan_expr(engine_name: str, table: ir.Table, source: Source, rules: list[CompiledRule]) -> ir.Table:
    """One query: the rows of ``source`` any of ``rules`` matches, key columns and a flag ``r<i>`` per rule."""
    rows = source_rows(table, source)
    keys = [c for c in KEY_COLUMNS if c in rows.columns]
    fields = sorted({f for rule in rules for f in rule.fields}, key=repr)
    names = {f: f"f{i}" for i, f in enumerate(fields)}
    projected = {}
    for f, name in names.items():
        text = _field(engine_name, rows, source, f)
        projected[name] = text
        projected[name + "_l"] = text.lower()
    outputs = {f"x_{name}": names[key] for rule in rules for name, key in rule.outputs.items()}
    p = rows.select(*keys, **projected)

    def get(key: FieldKey, lower: bool) -> ir.StringValue:
        return p[names[key] + ("_l" if lower else "")]

    flags = {f"r{i}": rule.predicate(get) for i, rule in enumerate(rules)}
    q = p.select(*keys, **{out: p[col] for out, col in outputs.items()}, **flags)
    return q.filter(any_of([q[name] for name in flags]))


def _path(key: str, spark: bool) -> str:
    if key.replace("_", "").replace("-", "").isalnum():
        return f"$.{key}"
    return f"$['{key}']" if spark else f'$."{key}"'


def _field(engine_name: str, rows: ir.Table, source: Source, key: FieldKey) -> ir.StringValue:
    kind, what = key
    if kind == KEYWORDS:
        column = "data" if "data" in rows.columns else "command_line" if "command_line" in rows.columns else "image"
        return rows[column].cast("string")
    if kind == "column":
        return rows[what].cast("string")
    spark = engine_name == "spark"
    extract = _spark_json if spark else _duckdb_json
    data = rows.data
    doc = ibis.ifelse(data.startswith(USER_DATA), data.re_extract(_USER_DATA_INNER, 1), data)
    values = [extract(doc, _path(k, spark)) for k in what]
    return values[0] if len(values) == 1 else ibis.coalesce(*values)
