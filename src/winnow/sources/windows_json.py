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
from typing import Any, BinaryIO, ClassVar

from winnow.sources.base import AbandonFile, Batch, ParseContext, Source
from winnow.sources.blocks import read_blocks, split_lines
from winnow.sources.registry import register
from winnow.sources.windows_events import WINDOWS_TABLES, map_event
from winnow.sources.windows_map import EventHeader, text, to_int
from winnow.sources.windows_rows import RowSink

#: flat keys that fill the event header, by header field, first found wins
_FLAT_HEADER: dict[str, tuple[str, ...]] = {
    "event_id": ("EventID", "EventId"),
    "channel": ("Channel",),
    "provider": ("SourceName", "Provider", "EventSourceName", "ProviderName"),
    "computer": ("Hostname", "Computer", "ComputerName"),
    "record_id": ("RecordNumber", "EventRecordID"),
    "time": ("TimeCreated", "TimeGenerated", "@timestamp", "EventTime"),
    "level": ("Level", "EventLevel"),
    "task": ("Task",),
    "opcode": ("OpcodeValue", "Opcode"),
    "keywords": ("Keywords",),
    "user_sid": ("UserID", "UserSid"),
    "process_id": ("ExecutionProcessID",),
    "thread_id": ("ThreadID",),
}
_HEADER_KEYS = frozenset(k for keys in _FLAT_HEADER.values() for k in keys)
#: flat keys added by the shipper (NXLog, Logstash, Sentinel): not event data
_ENVELOPE = frozenset({
    "Message", "@version", "tags", "host", "port", "Severity", "SeverityValue", "SourceModuleName",
    "SourceModuleType", "EventReceivedTime", "EventType", "Category", "AccountName", "AccountType", "Domain",
    "ProviderGuid", "Version", "ERROR_EVT_UNRESOLVED", "ActivityID", "RelatedActivityID", "TenantId", "SourceSystem",
    "MG", "ManagementGroupName", "Type", "_ResourceId", "EventOriginId", "SourceComputerId", "TimeCollected",
    "Activity", "EventLevelName", "EventData",
})
#: envelope keys that events also use as event data, with the shipper's own values: NXLog's ``EventType`` (the
#: record's level) and Sentinel's ``Type`` (its table). Any other value is event data: Sysmon's registry and pipe
#: events have an EventType (CreateKey, SetValue, ConnectPipe ...), its 25 a Type (Image is replaced ...)
_SHIPPER_VALUES = {
    "EventType": frozenset({"INFO", "WARNING", "ERROR", "CRITICAL", "VERBOSE", "AUDIT_SUCCESS", "AUDIT_FAILURE"}),
    "Type": frozenset({"WindowsEvent", "SecurityEvent", "Event"}),
}
#: Winlogbeat ``winlog`` keys that fill the header
_WINLOG_USED = frozenset({"event_id", "channel", "provider_name", "computer_name", "record_id", "event_data",
                          "user_data", "process", "user"})
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
        try:
            for block, first in read_blocks(stream, ctx):
                for i, raw in enumerate(split_lines(block)):
                    if not raw.strip():
                        continue
                    for table, row in _rows(raw, first + i, ctx):
                        batch = sink.add(table, row, first + i)
                        if batch is not None:
                            yield batch
        except AbandonFile:
            yield from sink.drain()  # the good lines before the run of bad ones
            raise
        yield from sink.drain()


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
    for field, keys in _FLAT_HEADER.items():
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
        if key in _HEADER_KEYS or key in _ENVELOPE and (key not in _SHIPPER_VALUES or value in _SHIPPER_VALUES[key]):
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
    extra = {f"winlog.{k}": text(v) for k, v in winlog.items() if k not in _WINLOG_USED and v is not None}
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
