"""Many compiled rules in one pass: rules of one log source share one read of its rows.

Compiling and running are apart, as in any rule engine: :func:`compile_scans` turns rules into SQL once
(per engine dialect), :func:`run_scans` runs that SQL over a window of the lake, as often as asked.

For each log source (table and row filter, :class:`~winnow.sigma.logsources.Source`), the run reads the
source's rows once into a temporary table of the key columns and every field its rules read, each field
pulled out of the event JSON once (DuckDB parses each event's JSON once for all of them) and stored in the
case its rules compare (Sigma compares case-insensitively: a lower-case copy; regular expressions and
``cased`` values: the original). Each scan of at most ``rules_per_scan`` rules is then one query over that
table: one boolean column ``r<i>`` per rule, the rows where any is true, with their key columns.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from winnow.engine import Engine, Window
from winnow.sigma.compile import KEYWORDS, CompiledRule, FieldKey, all_of, any_of
from winnow.sigma.logsources import Source

#: columns kept for each matched event, when the table has them
KEY_COLUMNS = ("ts", "host", "event_id", "record_id", "channel", "user", "image", "_source_file")


#: event data that is user data: ``{"UserData": {"<element>": {fields}}}``, its fields read from the element
USER_DATA = '{"UserData":'
_USER_DATA_INNER = r'^\{"UserData":\{"[^"]*":(\{.*\})\}\}$'

_names = itertools.count()


@ibis.udf.scalar.builtin(name="json_extract_string")
def _duckdb_json(doc: str, paths: dt.Array(dt.string)) -> dt.Array(dt.string):  # type: ignore[empty-body]
    """DuckDB: the values at ``paths`` as text, the JSON parsed once."""


@ibis.udf.scalar.builtin(name="get_json_object")
def _spark_json(doc: str, path: str) -> str:  # type: ignore[empty-body]
    """Spark: the value at ``path`` as text."""


#: a stored column of a source's temporary table: a field, and whether it is stored lower-cased
Stored = tuple[FieldKey, bool]


@dataclass
class SourceScan:
    """One log source's compiled scans: the temporary table they read and one SQL query per rule chunk."""

    source: Source
    keys: list[str]               # key columns of the source's table
    stored: dict[Stored, str]     # (field, lower) -> column name in the temporary table
    table_name: str               # name of the temporary table the queries read
    chunks: list[tuple[list[CompiledRule], str]]


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
    yield from run_scans(engine, compile_scans(engine, rules, rules_per_scan), window)


def compile_scans(engine: Engine, rules: list[CompiledRule], rules_per_scan: int = 200) -> list[SourceScan]:
    """The SQL of ``rules`` in ``engine``'s dialect, grouped by log source (sources the lake lacks left out)."""
    by_source: dict[str, list[CompiledRule]] = defaultdict(list)
    for rule in rules:
        by_source[rule.source.key].append(rule)
    scans = []
    for group in by_source.values():
        source = group[0].source
        table = engine.table(source.table)
        if table is None:
            continue
        keys = [c for c in KEY_COLUMNS if c in table.columns]
        stored = _stored(group)
        name = f"winnow_sigma_{next(_names)}"
        schema = {**{k: table.schema()[k] for k in keys}, **{col: dt.string for col in stored.values()}}
        rows = ibis.table(schema, name=name)
        chunks = [(chunk, engine.sql(_chunk_expr(rows, keys, stored, chunk)))
                  for chunk in (group[i:i + rules_per_scan] for i in range(0, len(group), rules_per_scan))]
        scans.append(SourceScan(source, keys, stored, name, chunks))
    return scans


def run_scans(engine: Engine, scans: list[SourceScan], window: Window | None = None) -> Iterator[Matches]:
    """Run compiled ``scans`` over ``window`` of the lake: one :class:`Matches` per chunk of rules."""
    for s in scans:
        table = engine.table(s.source.table, window)
        if table is None:
            continue
        engine.materialize(_extract(engine.name, table, s), s.table_name)
        try:
            for rules, sql in s.chunks:
                yield Matches(s.source, rules, engine.query(sql))
        finally:
            engine.drop(s.table_name)


def _stored(rules: list[CompiledRule]) -> dict[Stored, str]:
    """Every (field, lower) the rules' predicates read, named ``c<i>``: found by building them once."""
    seen: dict[Stored, ir.StringValue] = {}

    def record(key: FieldKey, lower: bool) -> ir.StringValue:
        if (key, lower) not in seen:
            seen[(key, lower)] = ibis.literal("", type="string")
        return seen[(key, lower)]

    for rule in rules:
        rule.predicate(record)
        for key in rule.outputs.values():
            record(key, False)
    return {s: f"c{i}" for i, s in enumerate(sorted(seen, key=repr))}


def _chunk_expr(rows: ir.Table, keys: list[str], stored: dict[Stored, str], rules: list[CompiledRule]) -> ir.Table:
    """One query over a source's temporary table: key columns, outputs and a flag ``r<i>`` per rule."""
    def get(key: FieldKey, lower: bool) -> ir.StringValue:
        return rows[stored[(key, lower)]]

    outputs = {f"x_{name}": get(key, False) for rule in rules for name, key in rule.outputs.items()}
    flags = {f"r{i}": rule.predicate(get) for i, rule in enumerate(rules)}
    q = rows.select(*keys, **outputs, **flags)
    return q.filter(any_of([q[name] for name in flags]))


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


def _extract(engine_name: str, table: ir.Table, s: SourceScan) -> ir.Table:
    """The source's rows as its temporary table: key columns and every stored field."""
    rows = source_rows(table, s.source)
    paths = sorted({k for (kind, what), _ in s.stored if kind == "json" for k in what})
    if paths and "data" in rows.columns:
        data = rows.data
        doc = ibis.ifelse(data.startswith(USER_DATA), data.re_extract(_USER_DATA_INNER, 1), data)
        if engine_name == "spark":
            rows = rows.mutate(**{f"_j{i}": _spark_json(doc, _path(p, True)) for i, p in enumerate(paths)})
        else:
            values = rows.mutate(_jv=_duckdb_json(doc, ibis.literal([_path(p, False) for p in paths],
                                                                     type="array<string>")))
            rows = values.mutate(**{f"_j{i}": values._jv[i] for i in range(len(paths))})
    slot = {p: f"_j{i}" for i, p in enumerate(paths)}
    columns = {}
    for (key, lower), name in s.stored.items():
        text = _field(rows, key, slot)
        columns[name] = text.lower() if lower else text
    return rows.select(*s.keys, **columns)


def _path(key: str, spark: bool) -> str:
    if key.replace("_", "").replace("-", "").isalnum():
        return f"$.{key}"
    return f"$['{key}']" if spark else f'$."{key}"'


def _field(rows: ir.Table, key: FieldKey, slot: dict[str, str]) -> ir.StringValue:
    kind, what = key
    if kind == KEYWORDS:
        column = "data" if "data" in rows.columns else "command_line" if "command_line" in rows.columns else "image"
        return rows[column].cast("string")
    if kind == "column":
        return rows[what].cast("string")
    if "data" not in rows.columns:
        return ibis.null("string")
    values = [rows[slot[k]] for k in what]
    return values[0] if len(values) == 1 else ibis.coalesce(*values)
