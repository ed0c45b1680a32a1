"""Zeek JSON logs: one object per line, as Zeek's JSON writer or a log pipeline emits them.

Accepts epoch-float or ISO-8601 ``ts``, dotted (``id.orig_h``) or underscored (``id_orig_h``)
keys, nested ``{"id": {"orig_h": ..}}`` objects, and envelope fields (``@stream``, ``@system``,
``_path``) which are kept in ``extra``. A block that Arrow's JSON reader rejects (a bad line,
a field whose type changes) is re-read line by line so only the bad lines are lost.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import BinaryIO, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from winnow.sources.base import AbandonFile, Batch, ParseContext, Source
from winnow.sources.blocks import count_lines, read_blocks, split_lines
from winnow.sources.json_text import SURROGATE_REASON, lone_surrogate
from winnow.sources.registry import register
from winnow.sources.zeek_batch import to_batch
from winnow.sources.zeek_fields import PATH_FIELDS, ZEEK_LOGS, ZEEK_TABLES, canonical_field, guess_path

_KEYS = (b'"ts"', b'"uid"', b'"id.orig_h"', b'"id_orig_h"')
_PATH_KEYS = tuple(f'"{name}"'.encode() for name in PATH_FIELDS)


@register
class ZeekJson(Source):
    name: ClassVar[str] = "zeek_json"
    description: ClassVar[str] = (
        "Zeek JSON logs (one object per line, dotted or underscored keys): conn, open_conn, dns, http, ssl, ssh"
    )
    tables: ClassVar[tuple[str, ...]] = ZEEK_TABLES

    def sniff(self, head: bytes, filename: str) -> bool:
        first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
        if not first.startswith(b"{"):
            return False
        if b'"ts"' in first and any(key in first for key in _PATH_KEYS):
            return True  # a log that names its kind (x509, files, weird ...) even without uid/id
        return sum(key in first for key in _KEYS) >= 2

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[Batch]:
        for block, first in read_blocks(stream, ctx):
            abandon = None
            table, lines = self._fast(block, first)
            if table is None:
                table, lines, abandon = self._careful(block, first, ctx)
            if table is not None and table.num_rows:
                yield from self._split_by_path(table, lines, ctx)
            if abandon is not None:
                raise abandon  # after the good lines read before the run of bad ones

    @staticmethod
    def _fast(block: bytes, first: int) -> tuple[pa.Table | None, np.ndarray]:
        if b"\n\n" in block or block.startswith(b"\n") or b"\r" in block:
            return None, np.empty(0, np.int64)
        try:
            table = pajson.read_json(io.BytesIO(block), read_options=pajson.ReadOptions(block_size=4 << 20))
        except (pa.ArrowInvalid, ValueError):
            return None, np.empty(0, np.int64)
        n = count_lines(block)
        if table.num_rows != n:
            return None, np.empty(0, np.int64)
        return table.flatten() if _has_struct(table) else table, np.arange(first, first + n, dtype=np.int64)

    @staticmethod
    def _careful(block: bytes, first: int, ctx: ParseContext
                 ) -> tuple[pa.Table | None, np.ndarray, AbandonFile | None]:
        """Read line by line; also return the AbandonFile a run of bad lines raised (else None)."""
        rows: list[dict] = []
        lines: list[int] = []
        abandon = None
        try:
            for i, raw in enumerate(split_lines(block)):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw.decode("utf-8", "replace"))
                except (json.JSONDecodeError, RecursionError) as exc:
                    ctx.warn(first + i, f"not valid JSON: {exc.msg if hasattr(exc, 'msg') else exc}", raw)
                    continue
                if not isinstance(obj, dict):
                    ctx.warn(first + i, "JSON value is not an object", raw)
                    continue
                if lone_surrogate(raw, obj):
                    ctx.warn(first + i, SURROGATE_REASON, raw)
                    continue
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    ctx.warn(first + i, "invalid UTF-8, undecodable bytes replaced", raw)
                rows.append(_flatten(obj))
                lines.append(first + i)
        except AbandonFile as exc:
            abandon = exc
        if not rows:
            return None, np.empty(0, np.int64), abandon
        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row))
        columns = {name: _column([row.get(name) for row in rows]) for name in names}
        return pa.table(columns), np.asarray(lines, dtype=np.int64), abandon

    def _split_by_path(self, table: pa.Table, lines: np.ndarray, ctx: ParseContext) -> Iterator[Batch]:
        names = {canonical_field(n) for n in table.column_names}
        path_col = next((c for c in PATH_FIELDS if c in table.column_names), None)
        if path_col is None:
            groups = [(guess_path(names, ctx.file), None)]
        else:
            values = pc.cast(table[path_col], pa.string())
            distinct = [v for v in pc.unique(values).to_pylist()]
            groups = [(v if v is not None else guess_path(names, ctx.file), v) for v in distinct]
        for path, value in groups:
            if value is None and path_col is None:
                part, part_lines = table, lines
            else:
                mask = pc.fill_null(
                    pc.is_null(table[path_col]) if value is None else pc.equal(values, value), False
                )
                part = table.filter(mask)
                part_lines = lines[mask.to_numpy()]
            if path not in ZEEK_LOGS:
                ctx.skip_unsupported(f"zeek {path or 'unknown'}", part.num_rows)
                continue
            columns = {name: part.column(name) for name in part.column_names}
            batch = to_batch(path, columns, part_lines, ctx)
            if batch is not None:
                yield batch


def _has_struct(table: pa.Table) -> bool:
    return any(pa.types.is_struct(f.type) for f in table.schema)


def _flatten(obj: dict, prefix: str = "") -> dict:
    out: dict = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _column(values: list) -> pa.Array:
    """Arrow array of mixed JSON values: typed when consistent, else text."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array(
            [None if v is None else json.dumps(v) if isinstance(v, list | dict) else str(v) for v in values],
            pa.string(),
        )
