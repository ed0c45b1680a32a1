"""Windows JSON lines column-wise: the ``win.event`` columns and event data of the lines of one shape.

The lines of one shape (:mod:`winnow.sources.json_shapes`) have the same keys in the same order, so what the
row-by-row code of :mod:`winnow.sources.windows_json` decides per key (header, envelope, event data) is decided
once per shape here, and what it decides per value (the first header key that is not null, a shipper's
``EventType``, an empty computer name) column-wise, with the same result. A shape this module does not take
(arrays or objects in the event data, packed ``EventData`` text, dotted Winlogbeat keys, ``user_data``, header
values of unexpected types) returns None and its lines are read one by one; so does a line whose event id is
missing or not a number, for its warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.sources.json_shapes import Shape
from winnow.sources.json_text import as_text, json_strings, json_strings_distinct, json_values
from winnow.sources.windows_columns import join_object, unique
from winnow.sources.windows_json_keys import ENVELOPE, FLAT_HEADER, HEADER_KEYS, SHIPPER_VALUES, WINLOG_USED
from winnow.sources.windows_map import compact_json, to_int

_S, _I = pa.string(), pa.int64()
#: ``win.event`` header columns and their types, as every shape gives them
HEADER_TYPES = {"ts": _S, "host": _S, "event_id": _I, "record_id": _I, "channel": _S, "provider": _S, "level": _I,
                "task": _I, "opcode": _I, "keywords": _S, "user_sid": _S, "process_id": _I, "thread_id": _I}
#: the header field of the row-by-row code -> its ``win.event`` column
_COLUMN_OF = {"time": "ts", "computer": "host"}
_EVENT_DATA = '"event_data":'
#: an escape Python's ``json`` does not write (``\\/``, ``\\u....``): the text is rendered instead
_UNUSUAL_ESCAPE = r'\\[^"bfnrt]'
_TO_INT = frozenset({"event_id", "record_id", "level", "task", "opcode", "process_id", "thread_id"})


class _Declined(Exception):
    """The shape's lines are read one by one."""


@dataclass(frozen=True)
class ShapeEvents:
    """The events of one shape, column-wise."""

    #: ``win.event`` columns: the header (:data:`HEADER_TYPES`), ``data`` and ``extra`` as JSON text
    columns: dict[str, pa.Array]
    #: the event data, one array per field in the events' order (null: absent or null)
    fields: dict[str, pa.Array]
    #: lines to read one by one all the same (their event id is missing or not a number)
    one_by_one: np.ndarray


def shape_events(shape: Shape) -> ShapeEvents | None:
    """The events of a shape's lines, or None when its lines are to be read one by one."""
    keys = shape.keys
    try:
        if ("EventID" in keys or "EventId" in keys) and ("Channel" in keys or "SourceName" in keys
                                                           or "Provider" in keys):
            return _flat(shape)
        if isinstance(keys.get("winlog"), dict) and not any(k.startswith("winlog.") for k in keys):
            return _winlogbeat(shape)
    except (_Declined, TypeError, ValueError, OverflowError, KeyError, pa.ArrowException):
        return None  # a shape of values the column-wise code does not take: its lines go one by one
    return None  # no Windows event: the one-by-one path warns


def _column(table: pa.Table | pa.StructArray, *path: str) -> pa.Array:
    if isinstance(table, pa.Table):
        values = table.column(path[0]).combine_chunks()
        path = path[1:]
    else:
        values = table
    return pc.struct_field(values, list(path)) if path else values


def _plain(mark: Any) -> bool:
    """A mark of text, a number or a boolean (not an object or array)."""
    return not isinstance(mark, dict | list)


def _text_only(mark: Any) -> None:
    if mark != "":
        raise _Declined


def _ints(values: pa.Array) -> pa.Array:
    """``to_int`` of every value."""
    if pa.types.is_integer(values.type):
        return pc.cast(values, _I)
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), _I)
    distinct, at = unique(values)
    return pc.take(pa.array([to_int(v) for v in distinct], _I), pa.array(at))


def _keywords(values: pa.Array) -> pa.Array:
    """The keywords as text; NXLog's signed 64-bit number as hexadecimal."""
    if pa.types.is_string(values.type) or pa.types.is_null(values.type):
        return pc.cast(values, _S)
    if not pa.types.is_integer(values.type):
        raise _Declined
    distinct, at = unique(values)
    return pc.take(pa.array([None if v is None else f"0x{v & 0xFFFFFFFFFFFFFFFF:x}" for v in distinct], _S),
                   pa.array(at))


def _falsy(values: pa.Array) -> pa.Array:
    """Rows whose value Python would take as false (null, 0, empty text)."""
    if pa.types.is_integer(values.type):
        return pc.fill_null(pc.equal(values, 0), True)
    if pa.types.is_string(values.type):
        return pc.fill_null(pc.equal(values, ""), True)
    return pc.fill_null(pc.invert(pc.cast(values, pa.bool_())), True) if pa.types.is_boolean(values.type) \
        else pc.is_null(values)


def _piece(key: str, values: pa.Array) -> pa.Array:
    """``"key":value`` text for every row (null for a null value)."""
    return pc.binary_join_element_wise(compact_json(key) + ":", values, "")


def _extra_pieces(items: list[tuple[str, pa.Array, Any]]) -> dict[str, pa.Array]:
    """The ``extra`` entry of each ``(key, values, mark)`` (its ``text()`` as a JSON string), null where the value
    is null; an array (which every line of the shape has as it is, ``mark``) is rendered once, and each distinct
    text once (the shipper's values repeat: host, tags ...)."""
    texts = [(key, as_text(values)) for key, values, mark in items if not isinstance(mark, list)]
    quoted = dict(zip([key for key, _ in texts], json_strings_distinct([t for _, t in texts]), strict=True))
    out = {}
    for key, values, mark in items:  # in the order of the items, as the row-by-row code fills ``extra``
        if isinstance(mark, list):
            out[key] = pc.take(json_strings(pa.array([compact_json(mark)])), pa.array(np.zeros(len(values), np.int32)))
        else:
            out[key] = quoted[key]
    return {key: _piece(key, text) for key, text in out.items()}


def _data(fields: dict[str, pa.Array], n: int, absent: dict[str, pa.Array] | None = None) -> pa.Array:
    """The event data as compact JSON text (null when no field is present); ``absent``: per field, the rows that
    do not have it (a shipper's value, which went to ``extra``)."""
    texts = [key for key, values in fields.items() if pa.types.is_string(values.type)]
    quoted = dict(zip(texts, json_strings_distinct([fields[key] for key in texts]), strict=True))
    pieces = []
    for key, values in fields.items():
        piece = _piece(key, pc.fill_null(quoted[key], "null") if key in quoted else json_values(values))
        if absent and key in absent:
            piece = pc.if_else(absent[key], pa.scalar(None, _S), piece)
        pieces.append(piece)
    return join_object(pieces, n)


def _winlogbeat(shape: Shape) -> ShapeEvents:
    keys, table, n = shape.keys, shape.table, shape.table.num_rows
    winlog = keys["winlog"]
    if "user_data" in winlog or not all(_plain(m) for m in (winlog.get("event_data") or {}).values()):
        raise _Declined
    for name in ("user", "process"):
        if name in winlog and not isinstance(winlog[name], dict):
            raise _Declined
    if "thread" in winlog.get("process", {}) and not isinstance(winlog["process"]["thread"], dict):
        raise _Declined
    if "event_data" in winlog and not isinstance(winlog["event_data"], dict):
        raise _Declined
    for name in ("channel", "provider_name", "computer_name"):
        if name in winlog:
            _text_only(winlog[name])
    if "@timestamp" in keys:
        _text_only(keys["@timestamp"])
    if "host" in keys and not isinstance(keys["host"], dict):
        raise _Declined
    wl = _column(table, "winlog")

    def get(mark: dict, values: pa.Array, *path: str, kind: pa.DataType = _S) -> pa.Array:
        for name in path:
            if not isinstance(mark, dict) or name not in mark:
                return pa.nulls(n, kind)
            mark, values = mark[name], pc.struct_field(values, [name])
        return values

    event_id = get(winlog, wl, "event_id", kind=_I)
    name = get(winlog, wl, "computer_name")
    host_name = get(keys["host"], _column(table, "host"), "name") if "host" in keys else pa.nulls(n, _S)
    if "host" in keys:
        _text_only(keys["host"].get("name", ""))
    columns = {
        "ts": _column(table, "@timestamp") if "@timestamp" in keys else pa.nulls(n, _S),
        "host": pc.if_else(pc.invert(_falsy(name)), name, host_name), "event_id": _ints(event_id),
        "record_id": _ints(get(winlog, wl, "record_id", kind=_I)), "channel": get(winlog, wl, "channel"),
        "provider": get(winlog, wl, "provider_name"), "level": pa.nulls(n, _I), "task": pa.nulls(n, _I),
        "opcode": pa.nulls(n, _I), "keywords": pa.nulls(n, _S),
        "user_sid": get(winlog, wl, "user", "identifier"),
        "process_id": _ints(get(winlog, wl, "process", "pid", kind=_I)),
        "thread_id": _ints(get(winlog, wl, "process", "thread", "id", kind=_I)),
    }
    _text_only(winlog.get("user", {}).get("identifier", ""))
    data = winlog.get("event_data")
    fields = {k: pc.struct_field(pc.struct_field(wl, ["event_data"]), [k]) for k in data} if data else {}
    pieces = list(_extra_pieces(
        [(f"winlog.{k}", pc.struct_field(wl, [k]), winlog[k]) for k in winlog if k not in WINLOG_USED]
        + [(k, _column(table, k), keys[k]) for k in keys if k not in ("winlog", "@timestamp")]).values())
    columns["data"] = (_data_as_written(shape) or _data(fields, n)) if fields else pa.nulls(n, _S)
    columns["extra"] = join_object(pieces, n)
    slow = pc.or_(_falsy(event_id), pc.is_null(columns["event_id"]))
    return ShapeEvents(columns, fields, np.flatnonzero(np.asarray(slow)))


def _data_as_written(shape: Shape) -> pa.Array | None:
    """The event data's text as the lines have it, when that is what rendering it would give (Winlogbeat's usual
    layout: ``event_data`` the last key of ``winlog``, the last key of the line; escapes as Python writes them);
    else None."""
    keys = shape.keys
    if list(keys)[-1] != "winlog" or list(keys["winlog"])[-1] != "event_data" or _key_count(keys, "event_data") != 1:
        return None
    tail = pc.list_element(pc.split_pattern(pc.utf8_rtrim(shape.lines, "\r\n"), _EVENT_DATA, max_splits=1), 1)
    unpaired = pc.replace_substring(tail, "\\\\", "")  # escaped backslashes out of the way: every other
    if pc.any(pc.match_substring_regex(unpaired, _UNUSUAL_ESCAPE)).as_py():  # escape must be one Python writes
        return None
    return pc.utf8_slice_codeunits(tail, 0, -2)


def _key_count(keys: dict[str, Any], name: str) -> int:
    return sum((key == name) + (_key_count(mark, name) if isinstance(mark, dict) else 0) for key, mark in keys.items())


def _flat(shape: Shape) -> ShapeEvents:
    keys, table, n = shape.keys, shape.table, shape.table.num_rows
    if keys.get("EventData", "") != "" or not all(_plain(m) or isinstance(m, list) and k in ENVELOPE
                                                   and k not in SHIPPER_VALUES for k, m in keys.items()):
        raise _Declined  # packed event data (Sentinel), nested objects, arrays but the shipper's (tags)
    if "EventData" in keys and table.column("EventData").null_count != n:
        raise _Declined
    raw = {k: table.column(k).combine_chunks() for k in keys}
    columns: dict[str, pa.Array] = {}
    used: dict[str, pa.Array] = {}  # header key -> rows where it is the one its field takes
    for field, candidates in FLAT_HEADER.items():
        column = _COLUMN_OF.get(field, field)
        kind = HEADER_TYPES[column]
        taken = pa.nulls(n, kind)
        earlier = pa.array(np.zeros(n, bool))
        for key in candidates:
            if key not in raw:
                continue
            valid = raw[key].is_valid()
            used[key] = pc.and_(valid, pc.invert(earlier))
            earlier = pc.or_(earlier, valid)
        for key in reversed(candidates):
            if key in raw:
                taken = pc.if_else(raw[key].is_valid(), _header_value(field, raw[key]), taken)
        columns[column] = taken
    fields: dict[str, pa.Array] = {}
    absent: dict[str, pa.Array] = {}
    in_extra = [k for k in raw if k in HEADER_KEYS or k in ENVELOPE and k != "EventData"]
    entries = _extra_pieces([(k, raw[k], keys[k]) for k in in_extra])
    pieces = []
    for key, values in raw.items():
        if key in HEADER_KEYS:
            pieces.append(pc.if_else(used[key], pa.scalar(None, _S), entries[key]))
        elif key in ENVELOPE and key not in SHIPPER_VALUES:
            if key != "EventData":
                pieces.append(entries[key])
        elif key in SHIPPER_VALUES:
            shipper = pc.fill_null(pc.is_in(values, pa.array(sorted(SHIPPER_VALUES[key]))), False) \
                if pa.types.is_string(values.type) else pa.array(np.zeros(n, bool))
            pieces.append(pc.if_else(shipper, entries[key], pa.scalar(None, _S)))
            fields[key] = pc.if_else(shipper, pa.scalar(None, values.type), values)
            absent[key] = shipper
        else:
            fields[key] = values
    if "Opcode" in raw:
        late = pc.and_(used["Opcode"], pc.is_null(columns["opcode"]))
        pieces.append(pc.if_else(late, entries["Opcode"], pa.scalar(None, _S)))
    columns["data"] = _data(fields, n, absent)
    columns["extra"] = join_object(pieces, n)
    slow = pc.is_null(columns["event_id"])
    return ShapeEvents(columns, fields, np.flatnonzero(np.asarray(slow)))


def _header_value(field: str, values: pa.Array) -> pa.Array:
    if field in _TO_INT:
        return _ints(values)
    if field == "keywords":
        return _keywords(values)
    if field == "time" and pa.types.is_integer(values.type):
        return pc.cast(values, _S)
    if not (pa.types.is_string(values.type) or pa.types.is_null(values.type)):
        raise _Declined
    return pc.cast(values, _S)
