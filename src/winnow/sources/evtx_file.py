"""Windows EVTX files, read with the Rust ``evtx`` package (pyevtx-rs).

The stream is spooled to a temporary file (the parser wants a seekable file; ours may be a
hashing pipe) and read with ``records_json``. A damaged chunk or record becomes one warning and
reading goes on, so dirty files (more chunks than the header says) and files with bad chunks
give every record that can be recovered. ``_line`` is the record's 1-based position among the
records read from the file.

Only the ``System`` part of a record is decoded for events no table maps; the event data is
kept as the JSON text the parser rendered (``win.event.data``), so no re-encoding is needed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, ClassVar

from winnow.sources.base import Batch, ParseContext, Source
from winnow.sources.registry import register
from winnow.sources.windows_map import EventHeader, Row, map_event, to_int, win_event_row
from winnow.sources.windows_rows import RowSink

MAGIC = b"ElfFile\x00"
_SYSTEM = '"System":'
_DATA = '},"EventData":'
_SPOOL_CHUNK = 8 << 20


@register
class EvtxFile(Source):
    name: ClassVar[str] = "evtx"
    description: ClassVar[str] = (
        "Windows event log files (.evtx): Sysmon, Security and every other channel; damaged chunks are skipped"
    )
    tables: ClassVar[tuple[str, ...]] = ("win.event", "proc.exec", "proc.net", "proc.file", "proc.dns", "auth.logon")

    def sniff(self, head: bytes, filename: str) -> bool:
        return head.startswith(MAGIC)

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[Batch]:
        sink = RowSink(ctx)
        with _spooled(stream) as path:
            for line, record in _records(path, ctx):
                for table, row in _rows(record, line, ctx):
                    batch = sink.add(table, row, line)
                    if batch is not None:
                        yield batch
        yield from sink.drain()


@contextmanager
def _spooled(stream: BinaryIO) -> Iterator[str]:
    """Copy the stream to a temporary file and give its path (removed afterwards)."""
    handle, path = tempfile.mkstemp(prefix="winnow-", suffix=".evtx")
    try:
        with os.fdopen(handle, "wb") as out:
            shutil.copyfileobj(stream, out, _SPOOL_CHUNK)
        yield path
    finally:
        os.unlink(path)


def _records(path: str, ctx: ParseContext) -> Iterator[tuple[int, dict]]:
    """``(position, record)`` of every record that can be read; damage becomes warnings."""
    from evtx import PyEvtxParser

    try:
        records = PyEvtxParser(path, separate_json_attributes=True).records_json()
    except (RuntimeError, OSError, ValueError) as exc:
        ctx.warn(None, f"not a readable EVTX file: {exc}")
        return
    position = 0
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except (RuntimeError, OSError, ValueError) as exc:  # one bad chunk or record; the iterator moves on
            ctx.warn(None, f"damaged EVTX data after record {position}, skipped: {exc}")
            continue
        position += 1
        yield position, record


def _rows(record: dict, line: int, ctx: ParseContext) -> list[tuple[str, Row]]:
    """The rows of one record: ``win.event`` and, when mapped, one more."""
    try:
        system, data_json, data = _split(record["data"])
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        ctx.warn(line, f"EVTX record not understood: {exc}", record["data"])
        return []
    head, extra = header(system)
    if head.time is None:  # a record whose System part is damaged: the record header's time
        head.time = (record.get("timestamp") or "").removesuffix(" UTC") or None
    try:
        return map_event(head, data, data_json, extra)
    except ValueError as exc:  # event data that is not valid JSON
        ctx.warn(line, f"EVTX event data not understood: {exc}", data_json or "")
        return [("win.event", win_event_row(head, data_json, extra))]


def _split(record: str) -> tuple[dict, str | None, dict | None]:
    """``(System dict, event data JSON text, event data dict or None when not decoded yet)``.

    The usual record is ``{"Event_attributes":..,"Event":{"System":{..},"EventData":{..}}}``: decode
    only the System object and keep the EventData text as it is. Any other layout (UserData,
    attributes on EventData, RenderingInfo ...) is decoded whole.
    """
    start, cut = record.find(_SYSTEM), record.find(_DATA)
    if 0 < start < cut and record.endswith("}}}"):
        data_json = record[cut + len(_DATA):-2]
        if '"RenderingInfo' not in data_json:
            try:
                return json.loads(record[start + len(_SYSTEM):cut + 1]), (
                    None if data_json == "null" else data_json), None
            except json.JSONDecodeError:
                pass
    event = json.loads(record)["Event"]
    data: dict[str, Any] = {}
    for key, value in event.items():
        if key == "EventData" and isinstance(value, dict):
            data.update(value)
        elif key not in ("System", "EventData") and value is not None:
            data[key] = value
    return event["System"], (json.dumps(data, ensure_ascii=False, separators=(",", ":")) if data else None), data


def header(system: dict) -> tuple[EventHeader, dict | None]:
    """The EventHeader of a System object, and its fields that have no ``win.event`` column."""
    provider = system.get("Provider_attributes") or {}
    execution = system.get("Execution_attributes") or {}
    head = EventHeader(
        event_id=to_int(system.get("EventID")), channel=system.get("Channel"), provider=provider.get("Name"),
        computer=system.get("Computer"), record_id=to_int(system.get("EventRecordID")),
        time=(system.get("TimeCreated_attributes") or {}).get("SystemTime"), level=to_int(system.get("Level")),
        task=to_int(system.get("Task")), opcode=to_int(system.get("Opcode")), keywords=system.get("Keywords"),
        user_sid=(system.get("Security_attributes") or {}).get("UserID"),
        process_id=to_int(execution.get("ProcessID")), thread_id=to_int(execution.get("ThreadID")),
    )
    extra = {}
    if system.get("Version") is not None:
        extra["Version"] = str(system["Version"])
    if provider.get("Guid"):
        extra["ProviderGuid"] = provider["Guid"]
    if provider.get("EventSourceName"):
        extra["EventSourceName"] = provider["EventSourceName"]
    for key, value in (system.get("Correlation_attributes") or {}).items():
        extra[key] = str(value)
    for key, value in (system.get("EventID_attributes") or {}).items():
        extra[key] = str(value)
    return head, extra or None
