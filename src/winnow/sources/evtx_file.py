"""Windows EVTX files, read with the Rust ``evtx`` package (pyevtx-rs).

The stream is read into memory (or, past 64 MB, spooled to a temporary file: the parser wants a
seekable file and ours may be a hashing pipe) and read with ``records_json`` as compact JSON, one
line per record. A damaged chunk or record becomes one warning and reading goes on, so dirty files (more chunks than the
header says) and files with bad chunks give every record that can be recovered. A file cut off mid-copy (fewer
chunks than its header declares, or a partial chunk) is one warning with the counts (chunks declared, chunks read,
records recovered; see :mod:`winnow.sources.evtx_header`). ``_line`` is the
record's 1-based position among the records read from the file.

Blocks of fewer than :data:`SMALL_BLOCK` records (small files) are decoded record by record: the
block path below has a fixed cost of a few milliseconds that only pays off on larger blocks. Larger
blocks are handled column by column, with no per-record decoding in Python:
each record's text is split (in Arrow) at ``},"EventData":`` into the ``System`` part and the event
data; the ``System`` parts are read as one NDJSON buffer by Arrow's JSON reader against a fixed
schema, and the event data text is kept as it is for ``win.event.data``. Only events that a table
maps (:data:`winnow.sources.windows_events.EVENTS`) have their event data decoded: per kind of
event and typed key signature with Arrow's JSON reader, the rules of :mod:`winnow.sources.windows_map`
run column-wise (see :func:`_map_rows`); small groups and odd event data one by one, with the same
rules. Records of another layout (UserData,
RenderingInfo, ...) and blocks whose ``System`` parts do not fit the schema (a damaged record with
text where a number belongs, an unknown field) take the record-by-record path, with the same result.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from winnow.sources.base import Batch, ParseContext, Source
from winnow.sources.evtx_header import HEADER_BYTES, truncation
from winnow.sources.registry import register
from winnow.sources.windows_columns import groups, json_object, map_fields, ndjson
from winnow.sources.windows_events import KIND_BASE, KINDS, WINDOWS_TABLES, log_codes, map_event, mapper
from winnow.sources.windows_map import (
    EventHeader,
    Mapping,
    Row,
    compact_json,
    to_int,
    win_event_row,
)
from winnow.sources.windows_rows import RowSink, typed_batch

MAGIC = b"ElfFile\x00"
_DATA = '},"EventData":'
_EVENT_ID = '"EventID":{'
_SPOOL_CHUNK = 8 << 20
#: files up to this size are parsed from memory; larger ones are spooled to a temporary file
SPOOL_IN_MEMORY = 64 << 20
#: records decoded together (the whole file when it is smaller)
BLOCK_RECORDS = 8192
#: smaller blocks (small files) are decoded record by record: the block path's Arrow calls cost ~4 ms a
#: block whatever its size, the record path ~30 us a record
SMALL_BLOCK = 256

_S, _I = pa.string(), pa.int64()


def _attributes(**fields: pa.DataType) -> pa.DataType:
    """An element that has only XML attributes, as pyevtx-rs renders it: ``{"#attributes": {...}}``."""
    return pa.struct([("#attributes", pa.struct(list(fields.items())))])


#: every field the System part may have; any other field (or another type) sends the block to the slow path
_SYSTEM = pa.struct([
    ("Provider", _attributes(Name=_S, Guid=_S, EventSourceName=_S)),
    ("EventID", _I),
    # an EventID with attributes, renamed from "EventID" before reading so both forms fit one schema
    ("EventIDx", pa.struct([("#attributes", pa.struct([("Qualifiers", _I)])), ("#text", _I)])),
    ("Version", _I), ("Level", _I), ("Task", _I), ("Opcode", _I), ("Keywords", _S),
    ("TimeCreated", _attributes(SystemTime=_S)),
    ("EventRecordID", _I),
    ("Correlation", _attributes(ActivityID=_S, RelatedActivityID=_S)),
    ("Execution", _attributes(ProcessID=_I, ThreadID=_I)),
    ("Channel", _S), ("Computer", _S),
    ("Security", _attributes(UserID=_S)),
])
_HEAD_SCHEMA = pa.schema([("Event", pa.struct([("#attributes", pa.struct([("xmlns", _S)])), ("System", _SYSTEM)]))])
_HEAD_OPTIONS = pj.ParseOptions(explicit_schema=_HEAD_SCHEMA, unexpected_field_behavior="error",
                                newlines_in_values=False)
#: stands in for a record of another layout in the vectorized pass (its rows come from the slow path)
_PLACEHOLDER = '{"Event":{"System":{' + _DATA + "null}}"
#: the kinds of event a table maps (:data:`winnow.sources.windows_events.KINDS`)
_KIND_IDS = pa.array(sorted(KINDS), _I)
#: the value of a field of event data, replaced by a mark of its type (none for text or null, ``#`` for an integer,
#: ``?`` for a boolean): what is left of an object of plain fields is its typed key signature, e.g.
#: ``{"UtcTime":,"ProcessId":#,"Initiated":?}``
_SIGNATURE_PASSES = ((r':"(?:[^"\\]|\\.)*"', ":"), (r":-?[0-9]+", ":#"), (r":(?:true|false)", ":?"), (":null", ":"))
_SIGNATURE = r'^\{(?:"\w+":[#?]?(?:,"\w+":[#?]?)*)?\}$'
#: value types the column-wise mapping takes (as ``json.loads`` gives them: str, int, bool, None)
_PLAIN_TYPES = (pa.string(), pa.int64(), pa.bool_(), pa.null())
_DATA_OPTIONS = pj.ParseOptions(newlines_in_values=False)
#: smaller groups of mapped events are mapped one by one: Arrow's JSON reader has a fixed cost of ~0.3-1 ms a call
MIN_GROUP_ROWS = 64


@register
class EvtxFile(Source):
    name: ClassVar[str] = "evtx"
    description: ClassVar[str] = (
        "Windows event log files (.evtx): Sysmon, Security and every other channel; damaged chunks are skipped"
    )
    tables: ClassVar[tuple[str, ...]] = WINDOWS_TABLES

    def sniff(self, head: bytes, filename: str) -> bool:
        return head.startswith(MAGIC)

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[Batch]:
        sink = RowSink(ctx)
        recovered = 0
        with _spooled(stream) as path:
            head, size = _head_and_size(path)
            for first, records in _blocks(path, ctx):
                recovered += len(records)
                yield from _block(records, first, ctx, sink)
        yield from sink.drain()
        cut = truncation(head, size, recovered)
        if cut is not None:
            ctx.warn(None, cut)


def _head_and_size(path: str | BinaryIO) -> tuple[bytes, int]:
    """The file header's bytes and the file's size, of a spooled file or its in-memory copy."""
    if isinstance(path, str):
        with open(path, "rb") as fh:
            return fh.read(HEADER_BYTES), os.path.getsize(path)
    data = path.getvalue()  # type: ignore[attr-defined]
    return data[:HEADER_BYTES], len(data)


@contextmanager
def _spooled(stream: BinaryIO, in_memory: int = SPOOL_IN_MEMORY) -> Iterator[str | BinaryIO]:
    """The stream as something the parser can seek in: in memory when small, else a temporary file's path."""
    head = stream.read(in_memory + 1)
    if len(head) <= in_memory:
        yield io.BytesIO(head)
        return
    handle, path = tempfile.mkstemp(prefix="winnow-", suffix=".evtx")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(head)
            del head
            shutil.copyfileobj(stream, out, _SPOOL_CHUNK)
        yield path
    finally:
        os.unlink(path)


def _blocks(path: str | BinaryIO, ctx: ParseContext, size: int = BLOCK_RECORDS) -> Iterator[tuple[int, list]]:
    """``(position of the first record, records)`` of every record that can be read; damage becomes warnings."""
    from evtx import PyEvtxParser

    try:
        records = PyEvtxParser(path, indent=False).records_json()
    except (RuntimeError, OSError, ValueError) as exc:
        ctx.warn(None, f"not a readable EVTX file: {exc}")
        return
    block: list[dict] = []
    position = 0
    while True:
        try:
            block.append(next(records))
        except StopIteration:
            break
        except (RuntimeError, OSError, ValueError) as exc:  # one bad chunk or record; the iterator moves on
            ctx.warn(None, f"damaged EVTX data after record {position + len(block)}, skipped: {exc}")
            continue
        if len(block) >= size:
            yield position + 1, block
            position += len(block)
            block = []
    if block:
        yield position + 1, block


def _block(records: list[dict], first: int, ctx: ParseContext, sink: RowSink) -> Iterator[Batch]:
    """The batches of a block of records: ``win.event`` typed column-wise, mapped rows through ``sink``."""
    lines = np.arange(first, first + len(records), dtype=np.int64)
    if len(records) < SMALL_BLOCK:
        yield from _slow(records, lines, np.arange(len(records)), ctx, sink)
        return
    texts = pa.array([r["data"] for r in records], _S)
    parts = pc.split_pattern(texts, _DATA, max_splits=1)
    usual = pc.equal(pc.list_value_length(parts), 2)  # {"Event":{...,"System":{..},"EventData":..}}
    if usual.null_count or not pc.all(usual).as_py():
        texts = pc.if_else(usual, texts, _PLACEHOLDER)
        parts = pc.split_pattern(texts, _DATA, max_splits=1)
    tail = pc.list_element(parts, 1)
    usual = pc.and_(usual, pc.and_(pc.ends_with(tail, "}}"), pc.invert(pc.match_substring(tail, '"RenderingInfo":'))))
    try:
        system = _read_system(pc.list_element(parts, 0))
    except pa.ArrowInvalid:  # a field of another type or name somewhere in the block: record by record
        yield from _slow(records, lines, np.arange(len(records)), ctx, sink)
        return
    columns = _columns(system, pc.utf8_slice_codeunits(tail, 0, -2))
    fast = np.asarray(usual.fill_null(False))
    missing_time = np.flatnonzero(fast & np.asarray(columns["ts"].is_null()))
    if len(missing_time):  # a record whose System part is damaged: the record header's time
        ts = columns["ts"].to_pylist()
        for i in missing_time:
            ts[i] = (records[i].get("timestamp") or "").removesuffix(" UTC") or None
        columns["ts"] = pa.array(ts, _S)
    if not fast.all():
        keep = pa.array(fast)
        columns = {name: pc.filter(values, keep) for name, values in columns.items()}
        yield from _slow(records, lines, np.flatnonzero(~fast), ctx, sink)
    fast_lines = lines[fast]
    mapped, kinds = _mapped(columns)
    rows = np.flatnonzero(mapped)
    if len(rows):
        yield from _map_rows(columns, rows, kinds[rows], fast_lines, ctx, sink)
    batch = typed_batch("win.event", columns, fast_lines, ctx)
    if batch is not None:
        yield batch


def _read_system(heads: pa.Array) -> pa.StructArray:
    """Read the ``{"Event":{..,"System":{..`` heads of the records as one NDJSON buffer; give the System structs."""
    buffer = ndjson(pc.replace_substring(heads, _EVENT_ID, '"EventIDx":{'), "}}}\n")
    table = pj.read_json(pa.BufferReader(buffer), parse_options=_HEAD_OPTIONS,
                         read_options=pj.ReadOptions(block_size=max(1 << 20, buffer.size + 1)))
    if table.num_rows != len(heads):
        raise pa.ArrowInvalid(f"{table.num_rows} System objects read for {len(heads)} records")
    return pc.struct_field(table.column("Event").combine_chunks(), "System")


def _columns(system: pa.StructArray, data: pa.Array) -> dict[str, pa.Array]:
    """``win.event`` columns (and ``time``, the SystemTime text) from the System structs and the event data."""

    def field(*path: str) -> pa.Array:
        return pc.struct_field(system, list(path))

    event_id = pc.coalesce(field("EventID"), field("EventIDx", "#text"))
    correlation = ("Correlation", "#attributes")
    extra = json_object({
        "Version": pc.cast(field("Version"), _S),
        "ProviderGuid": _non_empty(field("Provider", "#attributes", "Guid")),
        "EventSourceName": _non_empty(field("Provider", "#attributes", "EventSourceName")),
        "ActivityID": field(*correlation, "ActivityID"),
        "RelatedActivityID": field(*correlation, "RelatedActivityID"),
        "Qualifiers": pc.cast(field("EventIDx", "#attributes", "Qualifiers"), _S),
    })
    return {
        "ts": field("TimeCreated", "#attributes", "SystemTime"), "host": field("Computer"), "event_id": event_id,
        "record_id": field("EventRecordID"), "channel": field("Channel"),
        "provider": field("Provider", "#attributes", "Name"), "level": field("Level"), "task": field("Task"),
        "opcode": field("Opcode"), "keywords": field("Keywords"),
        "user_sid": field("Security", "#attributes", "UserID"),
        "process_id": field("Execution", "#attributes", "ProcessID"),
        "thread_id": field("Execution", "#attributes", "ThreadID"),
        "data": pc.if_else(pc.equal(data, "null"), pa.scalar(None, _S), data), "extra": extra,
    }


def _non_empty(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, _S), values)


def _mapped(columns: dict[str, pa.Array]) -> tuple[np.ndarray, np.ndarray]:
    """Which rows a table maps, and each row's kind of event (the same decision as :func:`windows_events.mapper`)."""
    codes = log_codes(columns["provider"], columns["channel"])
    kinds = pc.fill_null(pc.add(pc.multiply(codes, KIND_BASE), columns["event_id"]), -1)
    return np.asarray(pc.is_in(kinds, _KIND_IDS)), np.asarray(kinds)


_HEADER_COLUMNS = ("event_id", "channel", "provider", "host", "record_id", "ts", "level", "task", "opcode",
                   "keywords", "user_sid", "process_id", "thread_id")

def _map_rows(columns: dict[str, pa.Array], rows: np.ndarray, kinds: np.ndarray, lines: np.ndarray,
              ctx: ParseContext, sink: RowSink) -> Iterator[Batch]:
    """Add the mapped tables' rows of ``rows`` to ``sink``.

    Rows whose event data is an object of plain fields (text, integer, boolean, null) are grouped by kind of
    event (log and event id, ``kinds``) and typed key signature (the field names in order, each with the
    type of its value). A group of at least :data:`MIN_GROUP_ROWS` is read by Arrow's JSON reader and mapped
    column-wise, each rule of :mod:`winnow.sources.windows_map` run once per distinct combination of its
    inputs. Any other row (small groups, nested values, numbers with a fraction, event data that does not
    read) is decoded and mapped one by one, with the same result.
    """
    kind_groups = groups(np.arange(len(rows)), kinds)
    one_by_one = [group for group in kind_groups if len(group) < MIN_GROUP_ROWS]
    if len(one_by_one) < len(kind_groups):  # the typed key signatures of the rows of the larger kinds
        large = np.sort(np.concatenate([group for group in kind_groups if len(group) >= MIN_GROUP_ROWS]))
        data = pc.take(columns["data"], pa.array(rows[large]))
        signature = data
        for pattern, replacement in _SIGNATURE_PASSES:
            signature = pc.replace_substring_regex(signature, pattern, replacement)
        plain = np.asarray(pc.fill_null(pc.match_substring_regex(signature, _SIGNATURE), False))
        one_by_one.append(large[~plain])
        keys = pc.binary_join_element_wise(pc.cast(pa.array(kinds[large]), _S), signature, " ")
        for group in groups(np.flatnonzero(plain), np.asarray(pc.dictionary_encode(pc.filter(keys, plain)).indices)):
            at = large[group]
            mapping = KINDS[int(kinds[at[0]])]
            mapped = None if len(group) < MIN_GROUP_ROWS \
                else _map_group(mapping, pc.take(data, pa.array(group)), columns, rows[at])
            if mapped is None:
                one_by_one.append(at)
                continue
            batch = sink.add_columns(mapping.table, mapped, lines[rows[at]])
            if batch is not None:
                yield batch
    rest = np.sort(np.concatenate(one_by_one))
    if len(rest):
        yield from _map_one_by_one(columns, rows[rest], lines, ctx, sink)


def _map_group(mapping: Mapping, texts: pa.Array, columns: dict[str, pa.Array],
               rows: np.ndarray) -> dict[str, pa.Array] | None:
    """The mapped table's columns (and ``extra``) of one group of events, or None when it must go another way."""
    fields = _read_data(texts)
    return None if fields is None else map_fields(mapping, fields, columns, rows)


def _read_data(texts: pa.Array) -> dict[str, pa.Array] | None:
    """The event data of a group (one typed key signature), one array per field in order; None when it does
    not read as plain fields."""
    buffer = ndjson(texts, "\n")
    read = pj.ReadOptions(block_size=max(1 << 20, buffer.size + 1))
    try:
        table = pj.read_json(pa.BufferReader(buffer), read_options=read, parse_options=_DATA_OPTIONS)
        if any(pa.types.is_temporal(t) for t in table.schema.types):  # text that looks like a time: keep the text
            schema = pa.schema([(f.name, _S if pa.types.is_temporal(f.type) else f.type) for f in table.schema])
            options = pj.ParseOptions(explicit_schema=schema, newlines_in_values=False)
            table = pj.read_json(pa.BufferReader(buffer), read_options=read, parse_options=options)
    except pa.ArrowInvalid:  # e.g. a field twice in one object, an escape JSON does not have
        return None
    if table.num_rows != len(texts) or any(t not in _PLAIN_TYPES for t in table.schema.types):
        return None
    return {key: table.column(key).combine_chunks() for key in table.column_names}


def _map_one_by_one(columns: dict[str, pa.Array], rows: np.ndarray, lines: np.ndarray, ctx: ParseContext,
                    sink: RowSink) -> Iterator[Batch]:
    """Decode the event data of the given rows one by one and add their table's row to ``sink``."""
    index = pa.array(rows)
    values = {name: pc.take(columns[name], index).to_pylist() for name in (*_HEADER_COLUMNS, "data")}
    for k, row in enumerate(rows):
        head = EventHeader(
            event_id=values["event_id"][k], channel=values["channel"][k], provider=values["provider"][k],
            computer=values["host"][k], record_id=values["record_id"][k], time=values["ts"][k],
            level=values["level"][k], task=values["task"][k], opcode=values["opcode"][k],
            keywords=values["keywords"][k], user_sid=values["user_sid"][k], process_id=values["process_id"][k],
            thread_id=values["thread_id"][k],
        )
        data_json, line = values["data"][k], int(lines[row])
        data: Any = {}
        if data_json is not None and data_json.startswith("{"):
            try:
                data = json.loads(data_json)
            except ValueError as exc:  # event data that is not valid JSON: the win.event row only
                ctx.warn(line, f"EVTX event data not understood: {exc}", data_json)
                continue
        mapping = mapper(head)
        if mapping is None:
            continue
        table, mapped_row = mapping(head, data if isinstance(data, dict) else {})
        batch = sink.add(table, mapped_row, line)
        if batch is not None:
            yield batch


def _slow(records: list[dict], lines: np.ndarray, rows: np.ndarray, ctx: ParseContext,
          sink: RowSink) -> Iterator[Batch]:
    """Rows of the given records, decoded one by one (records of an unusual layout, damaged blocks)."""
    for i in rows:
        line = int(lines[i])
        for table, row in _rows(records[i], line, ctx):
            batch = sink.add(table, row, line)
            if batch is not None:
                yield batch


def _rows(record: dict, line: int, ctx: ParseContext) -> list[tuple[str, Row]]:
    """The rows of one record: ``win.event`` and, when mapped, one more."""
    try:
        system, data_json, data = _split(record["data"])
        head, extra = header(system)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        ctx.warn(line, f"EVTX record not understood: {exc}", record["data"])
        return []
    if head.time is None:  # a record whose System part is damaged: the record header's time
        head.time = (record.get("timestamp") or "").removesuffix(" UTC") or None
    try:
        return map_event(head, data, data_json, extra)
    except ValueError as exc:  # event data that is not valid JSON
        ctx.warn(line, f"EVTX event data not understood: {exc}", data_json or "")
        return [("win.event", win_event_row(head, data_json, extra))]


def _split(record: str) -> tuple[dict, str | None, dict | None]:
    """``(System dict, event data JSON text, event data dict or None when not decoded yet)``.

    The usual record is ``{"Event":{"#attributes":..,"System":{..},"EventData":{..}}}``: the EventData
    text is kept as it is. Any other layout (UserData, RenderingInfo ...) gives the fields of every
    part but System as one object.
    """
    event = json.loads(record)["Event"]
    cut = record.find(_DATA)
    if cut > 0 and record.endswith("}}") and '"RenderingInfo":' not in record[cut:]:
        data_json = record[cut + len(_DATA):-2]
        return event["System"], (None if data_json == "null" else data_json), None
    data: dict[str, Any] = {}
    for key, value in event.items():
        if key == "EventData" and isinstance(value, dict):
            data.update(value)
        elif key not in ("System", "EventData", "#attributes") and value is not None:
            data[key] = value
    return event["System"], (compact_json(data) if data else None), data


def _attrs(value: Any) -> dict:
    """The XML attributes of a rendered element (``{"#attributes": {...}}``), or an empty dict."""
    return (value.get("#attributes") or {}) if isinstance(value, dict) else {}


def header(system: dict) -> tuple[EventHeader, dict | None]:
    """The EventHeader of a System object, and its fields that have no ``win.event`` column."""
    provider, execution = _attrs(system.get("Provider")), _attrs(system.get("Execution"))
    event_id = system.get("EventID")
    event_id_attributes = _attrs(event_id)
    if isinstance(event_id, dict):
        event_id = event_id.get("#text")
    head = EventHeader(
        event_id=to_int(event_id), channel=system.get("Channel"), provider=provider.get("Name"),
        computer=system.get("Computer"), record_id=to_int(system.get("EventRecordID")),
        time=_attrs(system.get("TimeCreated")).get("SystemTime"), level=to_int(system.get("Level")),
        task=to_int(system.get("Task")), opcode=to_int(system.get("Opcode")), keywords=system.get("Keywords"),
        user_sid=_attrs(system.get("Security")).get("UserID"),
        process_id=to_int(execution.get("ProcessID")), thread_id=to_int(execution.get("ThreadID")),
    )
    extra = {}
    if system.get("Version") is not None:
        extra["Version"] = str(system["Version"])
    if provider.get("Guid"):
        extra["ProviderGuid"] = provider["Guid"]
    if provider.get("EventSourceName"):
        extra["EventSourceName"] = provider["EventSourceName"]
    for key, value in _attrs(system.get("Correlation")).items():
        extra[key] = str(value)
    for key, value in event_id_attributes.items():
        extra[key] = str(value)
    return head, extra or None
