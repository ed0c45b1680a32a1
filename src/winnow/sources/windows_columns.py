"""Column-wise helpers shared by the Windows sources (EVTX, JSON lines): mapping rules over groups of events,
JSON objects built from columns, Arrow text as one NDJSON buffer.

The rules of :mod:`winnow.sources.windows_map` are pure functions; here each runs once per distinct
combination of its inputs over a group of events (:func:`map_fields`), so a mapped table's rows come out of a
group without a loop over its events in Python.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.schema import get_table
from winnow.sources.windows_map import COMPUTED, HEADER_INPUTS, Mapping, text
from winnow.sources.windows_map_columns import TWINS

_S = pa.string()

#: a column of a group as its distinct values (Python objects, as ``json.loads`` gives them) and each row's index
Unique = tuple[list, np.ndarray]


def ndjson(texts: pa.Array, suffix: str) -> pa.Buffer:
    """The texts, each followed by ``suffix``, as one buffer (for Arrow's JSON reader)."""
    lines = pc.binary_join_element_wise(texts, suffix, "")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
    return lines.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def json_object(fields: dict[str, pa.Array]) -> pa.Array:
    """Per row, a JSON object of the fields that are not null (null when none is), values as JSON strings."""
    pieces = []
    for key, values in fields.items():
        if values.null_count == len(values):
            continue
        encoded = values.dictionary_encode()
        quoted = pa.array([json.dumps(v, ensure_ascii=False) for v in encoded.dictionary.to_pylist()], _S)
        pieces.append(pc.binary_join_element_wise(f'"{key}":', pc.take(quoted, encoded.indices), ""))
    return join_object(pieces, len(next(iter(fields.values()))))


def join_object(pieces: list[pa.Array], length: int) -> pa.Array:
    """Per row, ``{piece,piece,...}`` of the pieces (``"key":value`` text) that are not null; null when none is."""
    joined = None
    for piece in pieces:
        if piece.null_count == len(piece):
            continue
        joined = piece if joined is None else pc.coalesce(pc.binary_join_element_wise(joined, piece, ","), joined,
                                                          piece)
    if joined is None:
        return pa.nulls(length, _S)
    return pc.binary_join_element_wise("{", joined, "}", "")


def groups(positions: np.ndarray, keys: np.ndarray) -> list[np.ndarray]:
    """``positions`` grouped by their key (groups in key order, positions in their given order)."""
    if not len(positions):
        return []
    _, group_of = np.unique(keys, return_inverse=True)
    order = np.argsort(group_of.reshape(-1), kind="stable")
    starts = np.flatnonzero(np.diff(group_of.reshape(-1)[order], prepend=-1))
    return [positions[members] for members in np.split(order, starts[1:])]


def unique(values: pa.Array) -> Unique:
    """The distinct values (null included) as Python objects, and each row's index among them."""
    encoded = pc.dictionary_encode(values, null_encoding="encode")
    return encoded.dictionary.to_pylist(), np.asarray(encoded.indices)


class _Passed:
    """Stands for an input that a rule's function passes through without looking at it."""

    __slots__ = ("position",)

    def __init__(self, position: int) -> None:
        self.position = position


def apply(fn: Any, inputs: list[Unique], n: int, passed: tuple[int, ...] = ()) -> Unique:
    """``fn`` over the rows of its inputs, called once per distinct combination of input values.

    Inputs at the ``passed`` positions are never looked at by ``fn``, only returned (:attr:`Rule.passed`):
    ``fn`` runs once per distinct combination of the other inputs, with a stand-in for each passed one, and
    where it returns a stand-in the rows take that input's values.
    """
    if passed:
        return _apply_passing(fn, inputs, n, passed)
    if not inputs:
        return [fn()], np.zeros(n, np.int32)
    if len(inputs) == 1:
        values, at = inputs[0]
        return [fn(v) for v in values], at
    key = inputs[0][1].astype(np.int64)
    for values, at in inputs[1:]:  # each row's combination as one number, renumbered densely after each input
        key = np.unique(key * len(values) + at, return_inverse=True)[1].reshape(-1)
    _, first, at = np.unique(key, return_index=True, return_inverse=True)
    args = [[values[i] for i in rows[first].tolist()] for values, rows in inputs]
    return distinct(([fn(*combo) for combo in zip(*args, strict=True)], at.reshape(-1)))


def _apply_passing(fn: Any, inputs: list[Unique], n: int, passed: tuple[int, ...]) -> Unique:
    looked = [i for i in range(len(inputs)) if i not in passed]
    template = [_Passed(i) if i in passed else None for i in range(len(inputs))]

    def call(*args: Any) -> Any:
        full = template.copy()
        for i, arg in zip(looked, args, strict=True):
            full[i] = arg
        return fn(*full)

    results, at = apply(call, [inputs[i] for i in looked], n)
    chosen = np.array([r.position if isinstance(r, _Passed) else -1 for r in results], np.int64)[at]
    values = [None if isinstance(r, _Passed) else r for r in results]
    out = np.asarray(at, np.int64).copy()
    for i in passed:
        rows = chosen == i
        if rows.any():
            out[rows] = len(values) + inputs[i][1][rows]
            values.extend(inputs[i][0])
    return values, out


def distinct(column: Unique) -> Unique:
    """The same column with equal values counted once (many combinations of inputs may give one value)."""
    values, at = column
    if len(values) < 2:
        return column
    seen: dict[tuple[type, Any], int] = {}
    try:
        renumber = np.fromiter((seen.setdefault((type(v), v), len(seen)) for v in values), np.int64, len(values))
    except TypeError:  # a value that cannot be hashed: as it is
        return column
    if len(seen) == len(values):
        return column
    return [value for _, value in seen], renumber[at]


def _array(column: Unique | pa.Array) -> pa.Array:
    """A column as one Arrow value per row."""
    if isinstance(column, pa.Array):
        return column
    values, at = column
    return pc.take(pa.array(values), pa.array(at))


def _typed(column: Unique | pa.Array, kind: pa.DataType) -> pa.Array:
    """A computed column as an array of its table column's type (a TypeError when its values are of another)."""
    if isinstance(column, tuple):
        values, at = column
        return pc.take(pa.array(values, kind), pa.array(at))
    same_kind = column.type == kind or pa.types.is_integer(column.type) and pa.types.is_integer(kind)
    if not same_kind and not pa.types.is_null(column.type):
        raise TypeError(f"{column.type} values for a {kind} column")
    return column.cast(kind)  # safe: a value out of range is an error, as value by value


def map_fields(mapping: Mapping, fields: dict[str, pa.Array], columns: dict[str, pa.Array],
               rows: np.ndarray) -> dict[str, pa.Array] | None:
    """The mapped table's columns (and ``extra``) of a group of events, or None when it must go another way.

    Args:
        mapping: how these events become rows (every event of the group is of its kind).
        fields: the event data, one array per field in the events' order (text, integer, boolean or null
            values; a null stands for a field that is absent).
        columns: the ``win.event`` columns of the block the group belongs to.
        rows: the group's positions in ``columns``.
    """
    n = len(rows)
    index = pa.array(rows)

    whole = n == len(columns["host"]) and bool(np.all(rows == np.arange(n)))  # the group is the whole block

    def take(values: pa.Array) -> pa.Array:
        return values if whole else pc.take(values, index)

    types = {c.name: _S if pa.types.is_timestamp(c.type) else c.type for c in get_table(mapping.table).columns}
    absent: Unique = ([None], np.zeros(n, np.int32))
    inputs: dict[str, Unique] = {}

    def value(name: str) -> Unique:
        if name not in inputs:
            inputs[name] = unique(take(columns[HEADER_INPUTS[name][1]])) if name in HEADER_INPUTS \
                else unique(fields[name]) if name in fields else absent
        return inputs[name]

    computed: dict[str, Unique | pa.Array] = {}
    try:
        for rule in mapping.rules:
            args = [computed[name[1:]] if name[0] == COMPUTED else value(name) for name in rule.inputs]
            twin = TWINS.get(rule.fn)
            result = None if twin is None else twin(*(_array(a) for a in args))
            computed[rule.column] = result if result is not None \
                else apply(rule.fn, [a if isinstance(a, tuple) else unique(a) for a in args], n, rule.passed)
        out = {name: _typed(column, types[name]) for name, column in computed.items() if name in types}
    except (TypeError, ValueError, OverflowError):  # a value the rules or the column type do not take
        return None
    for name in ("host", "event_id", "record_id"):
        out[name] = take(columns[name])
    pieces = []
    for key, array in fields.items():
        if key not in mapping.used:
            values, at = unique(array)
            quoted = [None if v is None else f'"{key}":' + json.dumps(text(v), ensure_ascii=False) for v in values]
            pieces.append(pc.take(pa.array(quoted, _S), pa.array(at)))
    out["extra"] = join_object(pieces, n)
    return out
