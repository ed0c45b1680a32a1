"""Which Windows event goes to which table: one table of (log, event id) -> mapping, for every source.

The log of an event is told from its provider and channel (:func:`log_of`, and :func:`log_codes` column-wise,
the same decision): ``sysmon``, ``security``, ``system`` or ``powershell``; any other event only has its
``win.event`` row. The event id alone would not do: Sysmon 17 is a pipe created, but 17 of the Program
Compatibility Assistant is not; System 104 is a log cleared, but 104 of RdpCoreTS is not.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from winnow.sources.windows_map import (
    SECURITY,
    SECURITY_EVENTS,
    SYSMON,
    SYSMON_EVENTS,
    EventHeader,
    Mapping,
    Row,
    compact_json,
    win_event_row,
)
from winnow.sources.windows_map_audit import AUDIT_EVENTS
from winnow.sources.windows_map_sysmon import SYSMON_ATTACK_EVENTS

#: logs whose events are mapped, in the order they are told apart; their codes are their positions + 1
LOGS = ("sysmon", "security", "system", "powershell")
_SYSTEM_PROVIDERS = ("Service Control Manager",)
_POWERSHELL_PROVIDERS = ("Microsoft-Windows-PowerShell", "PowerShellCore")
_POWERSHELL_CHANNELS = ("microsoft-windows-powershell/operational", "powershellcore/operational")

#: (log, event id) -> how the event becomes a row of a table
EVENTS: dict[tuple[str, int], Mapping] = {
    **{("sysmon", eid): mapping for eid, mapping in {**SYSMON_EVENTS, **SYSMON_ATTACK_EVENTS}.items()},
    **{("security", eid): mapping for eid, mapping in SECURITY_EVENTS.items()},
    **AUDIT_EVENTS,
}
#: every table a Windows source writes
WINDOWS_TABLES: tuple[str, ...] = ("win.event", *dict.fromkeys(m.table for m in EVENTS.values()))
#: the key of an event as one integer (log code x KIND_BASE + event id), as :func:`log_codes` builds it
KIND_BASE = 1 << 20
KINDS: dict[int, Mapping] = {(LOGS.index(log) + 1) * KIND_BASE + eid: m for (log, eid), m in EVENTS.items()}


def log_of(provider: str | None, channel: str | None) -> str | None:
    """The log an event belongs to, from its provider and channel (either may be missing), or None."""
    provider, low = provider or "", (channel or "").lower()
    if provider == SYSMON or low.startswith("microsoft-windows-sysmon"):
        return "sysmon"
    if provider == SECURITY or low == "security":
        return "security"
    if provider in _SYSTEM_PROVIDERS or low == "system":
        return "system"
    if provider in _POWERSHELL_PROVIDERS or low in _POWERSHELL_CHANNELS:
        return "powershell"
    return None


def log_codes(provider: pa.Array, channel: pa.Array) -> pa.Array:
    """:func:`log_of` column-wise: the code of each row's log (0 for none), as int64."""
    low = pc.utf8_lower(channel)  # a missing provider or channel decides nothing (Kleene "or", as log_of)
    tests = [
        pc.or_kleene(pc.equal(provider, SYSMON), pc.starts_with(low, "microsoft-windows-sysmon")),
        pc.or_kleene(pc.equal(provider, SECURITY), pc.equal(low, "security")),
        pc.or_kleene(pc.is_in(provider, pa.array(_SYSTEM_PROVIDERS)), pc.equal(low, "system")),
        pc.or_kleene(pc.is_in(provider, pa.array(_POWERSHELL_PROVIDERS)),
                     pc.is_in(low, pa.array(_POWERSHELL_CHANNELS))),
    ]
    code = pa.scalar(0, pa.int64())
    for i in reversed(range(len(LOGS))):  # the first log that matches wins
        code = pc.if_else(pc.fill_null(tests[i], False), pa.scalar(i + 1, pa.int64()), code)
    return code if isinstance(code, pa.Array) else pa.array([code.as_py()] * len(provider), pa.int64())


def mapper(head: EventHeader) -> Mapping | None:
    """The mapping of this event to a normalized table, or None when only ``win.event`` takes it."""
    log = log_of(head.provider, head.channel)
    return None if log is None else EVENTS.get((log, head.event_id or -1))


def map_event(head: EventHeader, data: dict | None, data_json: str | None = None,
              extra: dict | None = None) -> list[tuple[str, Row]]:
    """All rows of one event: ``("win.event", row)`` first, then the mapped table's row if any.

    Args:
        head: the System fields.
        data: the event data (EventData / UserData fields); None to decode ``data_json`` only when a
            table maps the event (EVTX keeps the parser's JSON text for the rest).
        data_json: ``data`` as JSON text if the caller has it, else rendered here.
        extra: header fields with no ``win.event`` column.
    """
    if data_json is None and data:
        data_json = compact_json(data)
    rows = [("win.event", win_event_row(head, data_json, extra))]
    mapping = mapper(head)
    if mapping is not None:
        if data is None and data_json is not None and data_json.startswith("{"):
            data = json.loads(data_json)
        rows.append(mapping(head, data if isinstance(data, dict) else {}))
    return rows
