"""Account and group discovery: a person's tools listing local users and group members (T1087, T1069).

Windows logs 4798 ("a user's local group membership was enumerated") and 4799 ("a security-enabled local
group membership was enumerated") with the account asking (``Subject*``) and the process that asked
(``CallerProcessName``; ``-`` with process id 0 when the request came over the network, through SAMR).
Windows itself asks all day under machine accounts (``WS1$``: svchost, consent.exe, CompatTelRunner);
``net user``/``net localgroup administrators``, PowerShell's ``Get-LocalGroupMember``, BloodHound's and
PowerView's remote enumeration ask under a person's account. Per (host, account, caller):

* ``caller``: ``tool_score`` for a discovery tool or script host (``tools``), ``remote_score`` for a
  remote request, ``other_score`` for any other process of a person (mmc.exe, explorer.exe);
* ``privileged`` ``+privileged_bonus`` when a privileged group was listed (``privileged_groups``:
  Administrators, Remote Desktop Users, Domain Admins ...);
* ``breadth`` ``+breadth_bonus`` when ``breadth`` or more distinct users or groups were listed.

Machine accounts and the system's own accounts (SYSTEM, LOCAL SERVICE, NETWORK SERVICE) never count;
enumerations more than ``gap_hours`` apart are separate findings.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, ClassVar

from winnow.detections._episodes import episode_label, episodes
from winnow.detections._eventdata import windows_events, with_event_fields
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding

_SYSTEM_SIDS = ("S-1-5-18", "S-1-5-19", "S-1-5-20")


@register
class AccountDiscovery(Detector):
    """Args:
    tools: image names (lower case) of discovery tools and script hosts.
    tool_score: score of enumeration by one of ``tools``.
    remote_score: score of enumeration requested over the network (no caller process).
    other_score: score of enumeration by any other process of a person.
    privileged_groups: group names (lower case) whose listing adds ``privileged_bonus``.
    privileged_bonus: added when a privileged group was listed.
    breadth: distinct users or groups listed from which ``breadth_bonus`` is added.
    breadth_bonus: added for broad enumeration.
    gap_hours: enumerations of one (host, account, caller) further apart than this are separate findings.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "account_discovery"
    description: ClassVar[str] = (
        "local user and group enumeration (4798/4799) by a person's discovery tools or over the network"
    )
    tables: ClassVar[tuple[str, ...]] = ("win.event",)

    def __init__(self, tools: tuple[str, ...] = ("net.exe", "net1.exe", "powershell.exe", "pwsh.exe", "cmd.exe",
                                                 "wmic.exe", "whoami.exe", "dsquery.exe", "adfind.exe",
                                                 "rundll32.exe", "cscript.exe", "wscript.exe", "mshta.exe"),
                 tool_score: float = 0.65, remote_score: float = 0.55, other_score: float = 0.35,
                 privileged_groups: tuple[str, ...] = ("administrators", "remote desktop users", "domain admins",
                                                       "enterprise admins", "backup operators", "account operators",
                                                       "remote management users"),
                 privileged_bonus: float = 0.1, breadth: int = 3, breadth_bonus: float = 0.1,
                 gap_hours: float = 12.0, limit: int = 500) -> None:
        self.tools = tools
        self.tool_score = tool_score
        self.remote_score = remote_score
        self.other_score = other_score
        self.privileged_groups = privileged_groups
        self.privileged_bonus = privileged_bonus
        self.breadth = breadth
        self.breadth_bonus = breadth_bonus
        self.gap_hours = gap_hours
        self.limit = limit

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        events = windows_events(engine, window, (4798, 4799))
        if events is None:
            return []
        rows = with_event_fields(events, "SubjectUserName", "SubjectDomainName", "SubjectUserSid", "TargetUserName",
                                 "TargetDomainName", "CallerProcessName", "CallerProcessId")
        rows = rows.filter(rows.SubjectUserName.notnull() & ~rows.SubjectUserName.endswith("$")
                           & ~rows.SubjectUserSid.fill_null("").isin(list(_SYSTEM_SIDS)))
        keep = ["ts", "host", "event_id", "record_id", "SubjectUserName", "SubjectDomainName", "TargetUserName",
                "TargetDomainName", "CallerProcessName", "CallerProcessId"]
        groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
        for r in fetch(rows.select(*keep)).to_pylist():
            caller = r["CallerProcessName"] or ""
            groups[(r["host"] or "?", r["SubjectUserName"], caller)].append(r)
        findings = []
        for (host, user, caller), rs in groups.items():
            parts = episodes(rs, self.gap_hours)
            findings += [self._finding(host, user, caller, part, episode_label(part, len(parts) > 1)) for part in parts]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    def _finding(self, host: str, user: str, caller: str, rows: list[dict], label: str = "") -> Finding:
        exe = caller.replace("/", "\\").rsplit("\\", 1)[-1].lower()
        remote = not exe
        base = self.remote_score if remote else self.tool_score if exe in self.tools else self.other_score
        targets = sorted({f"{r['TargetDomainName'] or ''}\\{r['TargetUserName'] or ''}" for r in rows})
        privileged = self.privileged_bonus if any((r["TargetUserName"] or "").lower() in self.privileged_groups
                                                  for r in rows) else 0.0
        broad = self.breadth_bonus if len(targets) >= self.breadth else 0.0
        score = min(1.0, base + privileged + broad)
        ts = [r["ts"] for r in rows if r["ts"] is not None]
        how = "over the network (SAMR)" if remote else f"with {exe}"
        kinds = {4798: "a user's groups", 4799: "a group's members"}
        listed = sorted({kinds.get(r["event_id"], "") for r in rows} - {""})
        names = ", ".join(t.strip("\\") for t in targets[:4])
        why = (f"{user} listed {' and '.join(listed)} on {host} {how}: {names}"
               + (f" and {len(targets) - 4} more" if len(targets) > 4 else "")
               + ("; a privileged group among them" if privileged else ""))
        evidence: dict[str, Any] = {
            "account": user, "domain": rows[0]["SubjectDomainName"], "caller": caller or None, "remote": remote,
            "targets": targets[:20], "events": len(rows), "event_ids": sorted({r["event_id"] for r in rows}),
            "record_ids": [r["record_id"] for r in rows[:10]],
        }
        return Finding(
            detector=self.name, score=score, entity=f"{user}@{host} account discovery {how}{label}", host=host,
            user=user,
            first_seen=min(ts) if ts else None, last_seen=max(ts) if ts else None,
            components={"caller": base, "privileged": privileged, "breadth": broad}, evidence=evidence, why=why,
        )
