"""Windows events exported as JSON lines: Winlogbeat/Elastic and Mordor/OTRF (NXLog, Sentinel) shapes.

* Winlogbeat / Elastic: ``winlog.event_id``, ``winlog.channel``, ``winlog.event_data`` ... as nested
  objects or dotted keys, ``@timestamp``.
* Mordor / OTRF: flat objects with ``EventID``, ``Channel``, ``Hostname`` (or ``Computer``),
  ``SourceName`` (or ``Provider``), ``TimeCreated`` / ``@timestamp`` / ``EventTime``, the event data
  fields at the top level (``Image``, ``CommandLine`` ...) and the shipper's envelope fields
  (``Message``, ``host``, ``port``, ``tags`` ...), which go to ``win.event.extra``. Microsoft Sentinel
  exports carry the event data as a JSON or XML string in ``EventData``; it is unpacked.

Times without a zone (NXLog's ``EventTime``) are read as UTC; the export's ``TimeCreated`` or
``@timestamp`` is preferred when present.
"""

from __future__ import annotations

import contextlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.sources.ahead import ahead
from winnow.sources.base import AbandonFile, Batch, ParseContext, Source
from winnow.sources.blocks import count_lines, read_blocks, split_lines
from winnow.sources.json_shapes import KnownShapes, Shape, block_lines, shapes
from winnow.sources.json_text import SURROGATE_REASON, lone_surrogate
from winnow.sources.registry import register
from winnow.sources.windows_columns import map_fields
from winnow.sources.windows_events import KIND_BASE, KINDS, WINDOWS_TABLES, log_codes, map_event
from winnow.sources.windows_json_keys import ENVELOPE, FLAT_HEADER, HEADER_KEYS, SHIPPER_VALUES, WINLOG_USED
from winnow.sources.windows_json_shapes import HEADER_TYPES, ShapeEvents, shape_events
from winnow.sources.windows_map import EventHeader, Mapping, text, to_int
from winnow.sources.windows_rows import RowSink

_SNIFF_KEYS = (b'"EventID"', b'"winlog"', b'"winlog.')


@register
class WindowsJson(Source):
    name: ClassVar[str] = "windows_json"
    description: ClassVar[str] = (
        "Windows events as JSON lines: Winlogbeat/Elastic (winlog.*) and Mordor/OTRF exports (NXLog, Sentinel)"
    )
    tables: ClassVar[tuple[str, ...]] = WINDOWS_TABLES

    def sniff(self, head: bytes, filename: str) -> bool:
        first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)
        line = first[0].strip()
        if not line.startswith(b"{"):
            return False
        if len(first) == 1 and len(head) >= 4096:  # a first line longer than the head: judge its keys
            return b'"EventID"' in line and b'"Channel"' in line or b'"winlog"' in line
        if not any(key in line for key in _SNIFF_KEYS):
            return False
        try:
            obj = json.loads(line)
        except ValueError:
            return False
        return isinstance(obj, dict) and _kind(obj) is not None

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[Batch]:
        sink = RowSink(ctx)
        min_rows = ctx.json_shape_rows or 1
        known = KnownShapes(ctx.json_known_shapes or 0)
        try:
            for block, first, prepared in ahead(read_blocks(stream, ctx), lambda b: _prepare(b, min_rows, known),
                                                ctx.parse_workers or 0):
                yield from _block(block, first, prepared, ctx, sink)
        except AbandonFile:
            yield from sink.drain()  # the good lines before the run of bad ones
            raise
        yield from sink.drain()


@dataclass(frozen=True)
class _Prepared:
    """The column-wise part of a block: the shapes it takes, and the lines left to read one by one."""

    taken: list[tuple[Shape, ShapeEvents]]
    one_by_one: np.ndarray
    lines: int


def _prepare(block: bytes, min_rows: int, known: KnownShapes) -> _Prepared:
    """The shapes of a block and their events (no warning, no row yet: this may run on a worker thread); ``known``:
    the shapes of the blocks before, updated."""
    lines = block_lines(block)  # its lines' count too (one pass for the newlines)
    count = len(lines) if lines is not None else count_lines(block)
    if count < min_rows:
        lines = None
    found, rest = shapes(lines, min_rows, known) if lines is not None else ([], np.arange(count))
    taken: list[tuple[Shape, ShapeEvents]] = []
    one_by_one = [rest]
    for shape in found:
        events = shape_events(shape)
        if events is None:
            one_by_one.append(shape.rows)
        else:
            taken.append((shape, events))
            one_by_one.append(shape.rows[events.one_by_one])
    return _Prepared(taken, np.sort(np.concatenate(one_by_one)), count)


def _block(block: bytes, first: int, prepared: _Prepared, ctx: ParseContext, sink: RowSink) -> Iterator[Batch]:
    """The rows of a block: lines of the shapes that read column-wise together, every other line one by one.

    The lines read one by one go first, in order, so their warnings (and a run of bad lines that abandons the
    file) come as they would line by line; when the file is abandoned, only the lines before the last bad one
    are kept, as line by line.
    """
    rest, taken = prepared.one_by_one, prepared.taken
    stop: AbandonFile | None = None
    end = first + prepared.lines
    if len(rest):
        raws = split_lines(block)
        for i in rest.tolist():
            raw = raws[i]
            if not raw.strip():
                continue
            try:
                rows = _rows(raw, first + i, ctx)
            except AbandonFile as exc:
                stop, end = exc, first + i
                break
            for table, row in rows:
                batch = sink.add(table, row, first + i)
                if batch is not None:
                    yield batch
    for shape, events in taken:
        yield from _shape_rows(shape, events, first, end, sink)
    if stop is not None:
        raise stop


def _shape_rows(shape: Shape, events: ShapeEvents, first: int, end: int, sink: RowSink) -> Iterator[Batch]:
    """Add the rows of a shape's events (those before line ``end`` not read one by one) to ``sink``."""
    lines = first + shape.rows
    keep = lines < end
    keep[events.one_by_one] = False
    columns, fields = events.columns, events.fields
    if not keep.all():
        mask = pa.array(keep)
        columns = {name: pc.filter(values, mask) for name, values in columns.items()}
        fields = {name: pc.filter(values, mask) for name, values in fields.items()}
        lines = lines[keep]
    if not len(lines):
        return
    batch = sink.add_columns("win.event", columns, lines)
    if batch is not None:
        yield batch
    kinds = np.asarray(pc.fill_null(pc.add(pc.multiply(log_codes(columns["provider"], columns["channel"]), KIND_BASE),
                                           columns["event_id"]), -1))
    for kind in np.unique(kinds).tolist():
        mapping = KINDS.get(kind)
        if mapping is None:
            continue
        rows = np.flatnonzero(kinds == kind)
        index = pa.array(rows)
        group = fields if len(rows) == len(kinds) else {name: pc.take(values, index) for name, values in fields.items()}
        mapped = map_fields(mapping, group, columns, rows)
        if mapped is None:  # a value the rules do not take column-wise: event by event, the same rules
            yield from _map_one_by_one(mapping, group, columns, rows, lines, sink)
            continue
        batch = sink.add_columns(mapping.table, mapped, lines[rows])
        if batch is not None:
            yield batch


def _map_one_by_one(mapping: Mapping, fields: dict[str, pa.Array], columns: dict[str, pa.Array], rows: np.ndarray,
                    lines: np.ndarray, sink: RowSink) -> Iterator[Batch]:
    index = pa.array(rows)
    head = {name: pc.take(columns[name], index).to_pylist() for name in HEADER_TYPES}
    data = {name: values.to_pylist() for name, values in fields.items()}
    for k, row in enumerate(rows.tolist()):
        event = EventHeader(
            event_id=head["event_id"][k], channel=head["channel"][k], provider=head["provider"][k],
            computer=head["host"][k], record_id=head["record_id"][k], time=head["ts"][k], level=head["level"][k],
            task=head["task"][k], opcode=head["opcode"][k], keywords=head["keywords"][k],
            user_sid=head["user_sid"][k], process_id=head["process_id"][k], thread_id=head["thread_id"][k])
        table, mapped = mapping(event, {name: values[k] for name, values in data.items()})
        batch = sink.add(table, mapped, int(lines[row]))
        if batch is not None:
            yield batch


def _kind(obj: dict) -> str | None:
    """``winlogbeat``, ``flat`` or None when the object is no Windows event."""
    if ("EventID" in obj or "EventId" in obj) and ("Channel" in obj or "SourceName" in obj or "Provider" in obj):
        return "flat"
    if isinstance(obj.get("winlog"), dict) or any(k.startswith("winlog.") for k in obj):
        return "winlogbeat"
    return None


def _rows(raw: bytes, line: int, ctx: ParseContext) -> list:
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        ctx.warn(line, f"not valid JSON: {exc}", raw)
        return []
    if not isinstance(obj, dict):
        ctx.warn(line, "JSON value is not an object", raw)
        return []
    if lone_surrogate(raw, obj):
        ctx.warn(line, SURROGATE_REASON, raw)
        return []
    kind = _kind(obj)
    if kind is None:
        ctx.warn(line, "not a Windows event (no EventID/Channel or winlog fields)", raw)
        return []
    head, data, extra = _winlogbeat(obj) if kind == "winlogbeat" else _flat(obj)
    if head.event_id is None:
        ctx.warn(line, "event id is not a number", raw)
    return map_event(head, data, None, extra)


def _flat(obj: dict) -> tuple[EventHeader, dict, dict | None]:
    """Mordor / NXLog / Sentinel: header, envelope and event data keys side by side."""
    values: dict[str, Any] = {}
    used: set[str] = set()
    for field, keys in FLAT_HEADER.items():
        for key in keys:
            value = obj.get(key)
            if value is not None:
                values[field] = value
                used.add(key)
                break
    head = _header(values)
    data: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in obj.items():
        if key in HEADER_KEYS or key in ENVELOPE and (key not in SHIPPER_VALUES
                                                      or isinstance(value, str) and value in SHIPPER_VALUES[key]):
            if value is not None and key not in used and key != "EventData":
                extra[key] = text(value)
        else:
            data[key] = value
    packed = obj.get("EventData")
    if isinstance(packed, str):
        data.update(_unpack(packed))
    elif isinstance(packed, dict):
        data.update(packed)
    if head.opcode is None and obj.get("Opcode") is not None:
        extra["Opcode"] = text(obj["Opcode"])
    return head, data, extra or None


def _winlogbeat(obj: dict) -> tuple[EventHeader, dict, dict | None]:
    """Winlogbeat / Elastic: the event under ``winlog`` (nested or dotted keys)."""
    obj = _nest(obj)
    winlog = obj.get("winlog") or {}
    process = winlog.get("process") or {}
    head = _header({
        "event_id": winlog.get("event_id") or (obj.get("event") or {}).get("code"),
        "channel": winlog.get("channel"), "provider": winlog.get("provider_name"),
        "computer": winlog.get("computer_name") or (obj.get("host") or {}).get("name"),
        "record_id": winlog.get("record_id"), "time": obj.get("@timestamp"),
        "user_sid": (winlog.get("user") or {}).get("identifier"), "process_id": process.get("pid"),
        "thread_id": (process.get("thread") or {}).get("id"),
    })
    data = dict(winlog.get("event_data") or {})
    if winlog.get("user_data"):
        data["UserData"] = winlog["user_data"]
    extra = {f"winlog.{k}": text(v) for k, v in winlog.items() if k not in WINLOG_USED and v is not None}
    extra.update({k: text(v) for k, v in obj.items() if k not in ("winlog", "@timestamp") and v is not None})
    return head, data, extra or None


def _header(values: dict[str, Any]) -> EventHeader:
    keywords = values.get("keywords")
    if isinstance(keywords, int):  # NXLog writes the 64-bit mask as a signed number
        keywords = f"0x{keywords & 0xFFFFFFFFFFFFFFFF:x}"
    return EventHeader(
        event_id=to_int(values.get("event_id")), channel=values.get("channel"), provider=values.get("provider"),
        computer=values.get("computer"), record_id=to_int(values.get("record_id")),
        time=None if values.get("time") is None else str(values["time"]), level=to_int(values.get("level")),
        task=to_int(values.get("task")), opcode=to_int(values.get("opcode")),
        keywords=None if keywords is None else text(keywords), user_sid=values.get("user_sid"),
        process_id=to_int(values.get("process_id")), thread_id=to_int(values.get("thread_id")),
    )


def _nest(obj: dict) -> dict:
    """Turn dotted keys (``winlog.event_data.Image``) into nested objects, merging with nested ones."""
    if not any("." in k for k in obj):
        return obj
    out: dict[str, Any] = {}
    for key, value in obj.items():
        parts = key.split(".") if key.startswith("winlog.") else [key]
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            node = node.setdefault(part, {}) if not isinstance(child, dict) else child
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            node[parts[-1]].update(value)
        else:
            node[parts[-1]] = value
    return out


def _unpack(packed: str) -> dict:
    """Event data packed into one string (Sentinel): a JSON object, or ``<EventData><Data Name=..>`` XML."""
    packed = packed.strip()
    with contextlib.suppress(ValueError, ET.ParseError):  # unreadable: kept whole as one field
        if packed.startswith("{"):
            value = json.loads(packed)
            return value if isinstance(value, dict) else {}
        if packed.startswith("<"):
            root = ET.fromstring(packed)
            return {el.get("Name") or el.tag.split("}")[-1]: el.text for el in root.iter()
                    if el is not root and (el.get("Name") or len(el) == 0)}
    return {"EventData": packed}
