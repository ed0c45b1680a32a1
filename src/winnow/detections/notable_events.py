r"""Single Windows events that mean trouble by themselves, whatever else happened.

Some events need no counting and no baseline: Microsoft documents them as worth an alert on their own
("Events to Monitor" in *Best Practices for Securing Active Directory*; each event's page on Microsoft
Learn), and ATT&CK names the technique. ``catalog`` lists them: a name, the log (channel), the event
ids, a case-insensitive regular expression the event data (``win.event.data``, JSON text) must match,
an optional one it must not, the ATT&CK technique, a score and what it means. Built in:

* ``boot_debug``: 4826, a boot with kernel debugging, test signing or integrity checks off (unsigned
  drivers and rootkits load; ``%%1842`` is "Yes");
* ``debug_privilege``: 4703, SeDebugPrivilege enabled by a program outside ``C:\Windows`` and
  ``C:\Program Files`` (mimikatz's ``privilege::debug`` before reading LSASS);
* ``lsass_silent_exit``: Application 3001, LSASS "silently exited" at another program's request: the
  SilentProcessExit dump trick;
* ``sql_xp_cmdshell``: Application 15281 / 15457, SQL Server blocked or re-enabled ``xp_cmdshell``
  (operating-system commands from SQL);
* ``winsock_lsp``: Winsock-WS2HELP 1, a Layered Service Provider was installed into the Winsock catalog
  (a DLL loaded into every networked process; deprecated since Windows 8, so rare and worth a look).

One finding per (host, entry) and episode (events more than ``gap_hours`` apart are separate).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, ClassVar

import ibis

from winnow.detections._episodes import episode_label, episodes
from winnow.detections._records import checked, pattern
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding

#: (name, channel, event ids, data must match, data must not match, ATT&CK technique, score, meaning)
CATALOG: tuple[tuple[str, str, tuple[int, ...], str, str, str, float, str], ...] = (
    ("boot_debug", "Security", (4826,),
     r'"(KernelDebug|TestSigning|DisableIntegrityChecks|HypervisorDebug|FlightSigning)":"%%1842"', "",
     "T1553.006", 0.7, "the machine booted with kernel debugging, test signing or integrity checks turned on"),
    ("debug_privilege", "Security", (4703,), r'"EnabledPrivilegeList":"[^"]*SeDebugPrivilege',
     r'"ProcessName":"[a-z]:\\\\(windows|program files( \(x86\))?)\\\\', "T1134", 0.7,
     "a program outside Windows and Program Files enabled SeDebugPrivilege (to open any process, LSASS too)"),
    ("lsass_silent_exit", "Application", (3001,), r'"param1":"[^"]*\\\\lsass\.exe"', "", "T1003.001", 0.85,
     "LSASS was made to 'silently exit' by another program: a SilentProcessExit memory dump of credentials"),
    ("sql_xp_cmdshell", "Application", (15281, 15457), r"xp_cmdshell", "", "T1505.001", 0.7,
     "SQL Server blocked or reconfigured xp_cmdshell: someone tried to run operating-system commands from SQL"),
    ("winsock_lsp", "Microsoft-Windows-Winsock-WS2HELP/Operational", (1,), r'"LSPName"', "", "T1547", 0.6,
     "a Layered Service Provider was installed into the Winsock catalog (a DLL in every networked process)"),
)


@register
class NotableEvents(Detector):
    """Args:
    catalog: (name, channel, event ids, data regex, exclusion regex or "", ATT&CK technique, score, meaning) of
        each event that is worth a finding by itself.
    gap_hours: events of one (host, entry) further apart than this are separate findings.
    examples: events kept as evidence per finding.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "notable_events"
    description: ClassVar[str] = (
        "single Windows events that are alarming by themselves (debug boot, SeDebugPrivilege, LSASS silent exit, "
        "xp_cmdshell, Winsock LSP)"
    )
    tables: ClassVar[tuple[str, ...]] = ("win.event",)

    def __init__(self, catalog: tuple[tuple[str, str, tuple[int, ...], str, str, str, float, str], ...] = CATALOG,
                 gap_hours: float = 12.0, examples: int = 3, limit: int = 500) -> None:
        self.catalog = catalog
        fields = ("name", "channel", "event ids", "data regex", "exclusion regex", "technique", "score", "meaning")
        self._entries = [(entry, pattern("notable_events.catalog", entry[3]),
                          pattern("notable_events.catalog", entry[4]) if entry[4] else None)
                         for entry in checked("notable_events.catalog", catalog, fields)]
        self.gap_hours = gap_hours
        self.examples = examples
        self.limit = limit

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        events = engine.table("win.event", window)
        if events is None or not self.catalog:
            return []
        wanted = [(events.channel == channel) & events.event_id.isin(list(ids))
                  for _, channel, ids, *_ in self.catalog]
        rows = events.filter(ibis.or_(*wanted)).select("ts", "host", "channel", "event_id", "record_id", "data")
        groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for row in fetch(rows).to_pylist():
            data = row["data"] or ""
            for entry, match, exclude in self._entries:
                if (row["channel"] == entry[1] and row["event_id"] in entry[2] and match.search(data)
                        and not (exclude and exclude.search(data))):
                    groups[(row["host"] or "?", entry[0])].append(row)
                    break
        by_name = {entry[0]: entry for entry in self.catalog}
        findings = []
        for (host, name), group in groups.items():
            parts = episodes(group, self.gap_hours)
            findings += [self._finding(by_name[name], host, part, episode_label(part, len(parts) > 1))
                         for part in parts]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    def _finding(self, entry: tuple, host: str, rows: list[dict], label: str) -> Finding:
        name, channel, _, _, _, technique, score, meaning = entry
        ts = [r["ts"] for r in rows if r["ts"] is not None]
        ids = sorted({r["event_id"] for r in rows})
        evidence: dict[str, Any] = {
            "entry": name, "technique": technique, "channel": channel, "events": len(rows), "event_ids": ids,
            "examples": [{"ts": r["ts"], "record_id": r["record_id"], "data": (r["data"] or "")[:400]}
                         for r in rows[: self.examples]],
        }
        times = f"{len(rows)} events" if len(rows) > 1 else "one event"
        why = f"On {host}, {meaning} ({technique}; {channel} event {', '.join(map(str, ids))}, {times})"
        return Finding(
            detector=self.name, score=float(score), entity=f"{host}: {name}{label}", host=host,
            first_seen=min(ts) if ts else None, last_seen=max(ts) if ts else None,
            components={"event": float(score)}, evidence=evidence, why=why,
        )

