"""Collect mapped Windows rows per table and turn them into typed Arrow batches.

Times are parsed per batch with Arrow (ISO 8601 text; text without a zone is UTC, as Sysmon's
``UtcTime`` is). Values that do not fit their column's type become null with a warning; rows
without a usable time are dropped with a warning.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.schema import get_table
from winnow.sources.base import Batch, ParseContext
from winnow.sources.coerce import coerce, drop_untimed
from winnow.sources.windows_map import Row, compact_json

BATCH_ROWS = 32_768
_ZONE = r"(Z|z|[+-]\d\d:?\d\d)$"
_TS_NS = pa.timestamp("ns", tz="UTC")
_TS_US = pa.timestamp("us", tz="UTC")


def parse_times(values: list[str | None] | pa.Array) -> tuple[pa.Array, list[int]]:
    """ISO 8601 text to ``timestamp[us, UTC]``; return the array and the rows that did not parse."""
    if isinstance(values, pa.Array):
        arr = values
    else:
        try:
            arr = pa.array(values, pa.string())
        except (pa.ArrowTypeError, pa.ArrowInvalid):  # a number or boolean where a time belongs: as text
            arr = pa.array([v if v is None or isinstance(v, str) else json.dumps(v) for v in values], pa.string())
    with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):  # usual: ISO text with a zone, µs
        return pc.cast(arr, _TS_US), []
    zoned = pc.if_else(pc.match_substring_regex(arr, _ZONE), arr, pc.binary_join_element_wise(arr, "Z", ""))
    # no zone (Sysmon UtcTime, NXLog EventTime) or 100 ns digits (Windows FILETIME precision)
    with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pc.cast(pc.cast(zoned, _TS_NS), _TS_US, safe=False), []
    out: list[dt.datetime | None] = []
    bad: list[int] = []
    for i, value in enumerate(arr.to_pylist()):
        out.append(_one_time(value))
        if out[-1] is None and value is not None:
            bad.append(i)
    return pa.array(out, _TS_US), bad


def _one_time(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        head, _, frac = text.partition(".")
        if frac:  # fromisoformat takes at most 6 fraction digits: drop the 100 ns digit of Windows times
            digits = len(frac) - len(frac.lstrip("0123456789"))
            text = f"{head}.{frac[:min(digits, 6)]}{frac[digits:]}"
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class TableRows:
    """Rows for one table, kept as dicts (or, from column-wise mapping, as column chunks) until :meth:`batch`."""

    def __init__(self, table_name: str) -> None:
        self.table = get_table(table_name)
        self.rows: list[Row] = []
        self.lines: list[int] = []
        self.chunks: list[tuple[dict[str, pa.Array], np.ndarray]] = []
        self.count = 0

    def add(self, row: Row, line: int) -> None:
        self.rows.append(row)
        self.lines.append(line)
        self.count += 1

    def add_columns(self, columns: dict[str, pa.Array], lines: np.ndarray) -> None:
        """Add rows given as columns (the table's columns and ``extra`` as JSON text; missing ones are null)."""
        self.chunks.append((columns, lines))
        self.count += len(lines)

    def batch(self, ctx: ParseContext) -> Batch | None:
        """Type the rows collected so far into a Batch (None when none is left) and start afresh.

        Rows given one by one and column chunks are typed together, in line order, so the warnings (a time that
        does not parse, a row without a time) come in the order of the lines, as when every row came one by one.
        """
        rows, lines, chunks = self.rows, np.asarray(self.lines, dtype=np.int64), self.chunks
        self.rows, self.lines, self.chunks, self.count = [], [], [], 0
        parts: list[tuple[dict[str, list | pa.Array], np.ndarray]] = []
        if rows:
            columns: dict[str, list | pa.Array] = {col.name: [row.get(col.name) for row in rows]
                                                   for col in self.table.columns}
            columns["extra"] = [None if (e := row.get("extra")) is None else compact_json(e) for row in rows]
            parts.append((columns, lines))
        parts.extend(chunks)
        if not parts:
            return None
        columns, lines = parts[0] if len(parts) == 1 else _in_line_order(self.table.columns, parts)
        return typed_batch(self.table.name, columns, lines, ctx)


def _in_line_order(declared: tuple, parts: list[tuple[dict[str, list | pa.Array], np.ndarray]]
                   ) -> tuple[dict[str, list | pa.Array], np.ndarray]:
    """Parts of rows (columns as Python lists or Arrow arrays) as one set of columns sorted by line.

    A column is kept as Arrow when every part's values convert to its type without a loss (the case of column
    chunks and of rows whose values fit); otherwise it becomes one Python list, typed by :func:`typed_batch`
    exactly as rows given one by one are.
    """
    lines = np.concatenate([part_lines for _, part_lines in parts])
    ordered = bool(np.all(lines[1:] >= lines[:-1]))  # parts one after another: nothing to reorder
    order = np.arange(len(lines)) if ordered else np.argsort(lines, kind="stable")
    index = None if ordered else pa.array(order)
    kinds = {col.name: pa.string() if pa.types.is_timestamp(col.type) else col.type for col in declared}
    kinds["extra"] = pa.string()
    out: dict[str, list | pa.Array] = {}
    for name, kind in kinds.items():
        values = [part.get(name) for part, _ in parts]
        if all(v is None for v in values):
            continue
        try:
            arrays = [pa.nulls(len(part_lines), kind) if v is None else v.cast(kind) if isinstance(v, pa.Array)
                      else pa.array(v, kind) for v, (_, part_lines) in zip(values, parts, strict=True)]
            joined = pa.concat_arrays(arrays)
            out[name] = joined if index is None else pc.take(joined, index)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            # a part whose values do not fit the declared type: the column becomes one Python list, and
            # typed_batch converts it value by value (nulls with a located warning), as for rows one by one
            merged = [x for v, (_, part_lines) in zip(values, parts, strict=True)
                      for x in ([None] * len(part_lines) if v is None else v if isinstance(v, list) else v.to_pylist())]
            out[name] = [merged[i] for i in order.tolist()]
    return out, lines[order]


def typed_batch(table_name: str, columns: dict[str, list | pa.Array], lines: np.ndarray,
                ctx: ParseContext) -> Batch | None:
    """A Batch of ``table_name`` from columns of Python values or Arrow arrays (missing columns are null).

    Times are parsed from text, other columns converted to their declared type (values that do not fit
    become null with a warning); ``extra`` is JSON text; rows without a time are dropped with a warning.
    """
    table = get_table(table_name)
    n = len(lines)
    out: dict[str, pa.Array] = {}
    for col in table.columns:
        values = columns.get(col.name)
        if values is None:
            out[col.name] = pa.nulls(n, col.type)
        elif pa.types.is_timestamp(col.type):
            out[col.name], bad = parse_times(values)
            if bad:
                texts = values if isinstance(values, list) else values.to_pylist()
                for i in bad:
                    ctx.warn(int(lines[i]), f"field {col.name!r}: cannot read {str(texts[i])[:60]!r} as a time",
                             str(texts[i]))
        elif isinstance(values, pa.Array):
            out[col.name], bad_values = coerce(values, col.type)
            for i, value in bad_values:
                ctx.warn(int(lines[i]), f"field {col.name!r}: cannot read {str(value)[:60]!r} as {col.type}",
                         str(value))
        else:
            out[col.name] = _typed(values, col.type, col.name, lines, ctx)
    extra = columns.get("extra")
    out["extra"] = pa.nulls(n, pa.string()) if extra is None else pa.array(extra, pa.string())
    out["_line"] = pa.array(lines, pa.int64())
    data = drop_untimed(pa.table(out), lines, ctx)
    return Batch(table.name, data) if data.num_rows else None


def _typed(values: list, target: pa.DataType, name: str, lines: np.ndarray, ctx: ParseContext) -> pa.Array:
    with contextlib.suppress(pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array(values, target)
    raw = pa.array([None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values], pa.string())
    arr, bad = coerce(raw, target)
    for i, value in bad:
        ctx.warn(int(lines[i]), f"field {name!r}: cannot read {str(value)[:60]!r} as {target}", str(value))
    return arr


class RowSink:
    """Rows of every table of one file; yields a table's batch whenever it holds ``batch_rows`` rows."""

    def __init__(self, ctx: ParseContext, batch_rows: int = BATCH_ROWS) -> None:
        self.ctx, self.batch_rows = ctx, batch_rows
        self.tables: dict[str, TableRows] = {}

    def _rows(self, table: str) -> TableRows:
        rows = self.tables.get(table)
        if rows is None:
            rows = self.tables[table] = TableRows(table)
        return rows

    def add(self, table: str, row: Row, line: int) -> Batch | None:
        """Add a row; return a full batch of its table when there is one to write."""
        rows = self._rows(table)
        rows.add(row, line)
        return rows.batch(self.ctx) if rows.count >= self.batch_rows else None

    def add_columns(self, table: str, columns: dict[str, pa.Array], lines: np.ndarray) -> Batch | None:
        """Add rows given as columns (see :meth:`TableRows.add_columns`); return a full batch when there is one."""
        rows = self._rows(table)
        rows.add_columns(columns, lines)
        return rows.batch(self.ctx) if rows.count >= self.batch_rows else None

    def drain(self) -> Iterator[Batch]:
        """Batches of whatever is left, table by table."""
        for rows in self.tables.values():
            batch = rows.batch(self.ctx)
            if batch is not None:
                yield batch
