"""MISP JSON exports: one event (``{"Event": {...}}``), a search response (``{"response": [...]}``)
or a list of events, each with an ``Attribute`` list and ``Object``s holding more attributes.

Attribute types map to kinds (``ip-src``/``ip-dst``, ``domain``/``hostname``, ``url``, ``md5``/
``sha1``/``sha256``, ``ja3-fingerprint-md5``, ``user-agent``...); composite types keep their
matching half (``ip-dst|port`` its address, ``filename|sha256`` its hash, ``domain|ip`` both).
Attributes with ``to_ids`` false are context, not detection, and are skipped (counted in the feed's
summary, like types Winnow does not match). The confidence comes from the event's
``threat_level_id`` (1 high 90, 2 medium 60, 3 low 30, 4 undefined: the detector's default).
Attributes are located by the line of their uuid.
"""

from __future__ import annotations

import json

from winnow.intel.model import canonical_kind
from winnow.intel.registry import FeedFormat, Sink, line_of, register

THREAT_LEVEL = {"1": 90.0, "2": 60.0, "3": 30.0}
#: composite types: which halves (0 left, 1 right) are indicators, of which kind
COMPOSITE = {
    "ip-dst|port": ((0, "ip"),), "ip-src|port": ((0, "ip"),), "domain|ip": ((0, "domain"), (1, "ip")),
    "hostname|port": ((0, "domain"),), "filename|md5": ((1, "hash"),), "filename|sha1": ((1, "hash"),),
    "filename|sha256": ((1, "hash"),),
}
EXTRA_TYPES = {"x509-fingerprint-sha1": "cert_hash", "ja3-fingerprint-md5": "ja3", "target-user": "user"}


def _sniff(head: str, filename: str) -> bool:
    start = head.lstrip()[:1]
    return start in "{[" and start != "" and ('"Event"' in head or '"Attribute"' in head)


def _parse(text: str, sink: Sink) -> None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        sink.warn(exc.lineno, f"not JSON: {exc.msg}")
        return
    if isinstance(data, dict) and "response" in data:
        data = data["response"]
    events = data if isinstance(data, list) else [data]
    for item in events:
        event = item.get("Event", item) if isinstance(item, dict) else None
        if not isinstance(event, dict):
            sink.warn(1, "not a MISP event")
            continue
        confidence = THREAT_LEVEL.get(str(event.get("threat_level_id", "")))
        source = str((event.get("Orgc") or {}).get("name", "")) if isinstance(event.get("Orgc"), dict) else ""
        attributes = list(event.get("Attribute") or [])
        for obj in event.get("Object") or []:
            if isinstance(obj, dict):
                attributes.extend(obj.get("Attribute") or [])
        for attr in attributes:
            _attribute(attr, text, sink, confidence, source, str(event.get("info", "")))


def _attribute(attr: object, text: str, sink: Sink, confidence: float | None, source: str, info: str) -> None:
    if not isinstance(attr, dict):
        sink.warn(None, "an attribute that is not an object", str(attr))
        return
    line = line_of(text, json.dumps(str(attr.get("uuid", "")))) or line_of(text, json.dumps(attr.get("value", "")))
    kind_name, value = str(attr.get("type", "")), attr.get("value")
    if not isinstance(value, str):
        sink.warn(line, f"attribute value {value!r} is not text", str(attr.get("uuid", "")))
        return
    if attr.get("to_ids") in (False, "0", 0):
        sink.skip("to_ids false (context, not detection)")
        return
    description = str(attr.get("comment") or info)
    if kind_name in COMPOSITE:
        parts = value.split("|")
        if len(parts) != 2:
            sink.warn(line, f"{kind_name} value without one '|'", value)
            return
        for half, kind in COMPOSITE[kind_name]:
            sink.add(kind, parts[half], line, confidence, source, description)
        return
    kind = EXTRA_TYPES.get(kind_name) or canonical_kind(kind_name)
    if kind is None:
        sink.skip(f"attribute type {kind_name} is not matched")
        return
    sink.add(kind, value, line, confidence, source, description)


register(FeedFormat("misp", "MISP JSON event export (Attribute lists, Objects)", _sniff, _parse))
