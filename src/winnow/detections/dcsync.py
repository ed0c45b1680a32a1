"""DCSync: directory replication asked for by an account that is not a domain controller.

Replicating the directory (``DRSGetNCChanges``) hands out every password hash; DCs do it among
themselves all day, anyone else doing it is Mimikatz ``lsadump::dcsync`` or secretsdump. A DC
auditing "Directory Service Access" logs 4662 for the request, with the replication rights in
``Properties``: DS-Replication-Get-Changes ``1131f6aa-…``, DS-Replication-Get-Changes-All
``1131f6ad-…`` (the one that returns secrets) and DS-Replication-Get-Changes-In-Filtered-Set
``89e95b76-…``. DCShadow, its mirror image (a rogue DC pushing changes), first registers a
replication partner, which the DC logs as 4662s with DS-Install-Replica ``9923a32a-…`` and
DS-Replication-Manage-Topology ``1131f6ac-…``: these count too (an administrator promoting a real DC
uses them as well, a few times a year: worth a look). The fields come from ``win.event`` through
``_eventdata`` (no typed table needed).

**Who counts as a domain controller** (the rule this detector applies):

1. an account or host named in ``domain_controllers`` (``DC1``, ``DC1$`` or ``dc1.corp.local``:
   compared by first label, without ``$``, case-insensitive);
2. a machine account ``NAME$`` whose ``NAME`` is the first label of a host that itself logged a
   4662 for a directory object (``ObjectServer`` DS) in the window read: such a host is a DC;
3. nothing else. A user account is never a DC: a service that really replicates (Azure AD Connect's
   ``MSOL_…`` account) goes in ``allowed_accounts``. A machine account of a DC whose own logs are not
   in the lake fires until it is listed in ``domain_controllers``.

One finding per (account, DC logging it); highest when Get-Changes-All or the filtered set is among
the rights (secrets were asked for), lower for Get-Changes alone or the DC-registration rights alone.
"""

from __future__ import annotations

from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from winnow.detections._accounts import account, py_account
from winnow.detections._eventdata import windows_events, with_event_fields
from winnow.detections._outcome import as_int
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding

#: the directory-replication extended rights, by name
RIGHTS = {
    "get_changes": "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2",
    "get_changes_all": "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2",
    "get_changes_filtered": "89e95b76-444d-4c62-991a-0facbeda640c",
    "install_replica": "9923a32a-3607-11d2-b9be-0000f87a36b2",
    "manage_topology": "1131f6ac-9c07-11d1-f79f-00c04fc2dcd2",
}
#: the rights that return secrets (password hashes)
SECRET_RIGHTS = ("get_changes_all", "get_changes_filtered")
#: the rights that make a machine a replication partner: registering a (rogue) DC
ROGUE_DC_RIGHTS = ("install_replica", "manage_topology")


@register
class DCSync(Detector):
    """Args:
    domain_controllers: hosts or machine accounts of domain controllers (DC1, DC1$, dc1.corp.local).
    allowed_accounts: other accounts allowed to replicate the directory (e.g. Azure AD Connect's MSOL_ account).
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "dcsync"
    description: ClassVar[str] = (
        "directory replication rights (4662 with the DS-Replication-Get-Changes GUIDs) used by an account that "
        "is not a domain controller"
    )
    tables: ClassVar[tuple[str, ...]] = ("win.event",)

    def __init__(self, domain_controllers: tuple[str, ...] = (), allowed_accounts: tuple[str, ...] = (),
                 limit: int = 500) -> None:
        self.domain_controllers = domain_controllers
        self.allowed_accounts = allowed_accounts
        self.limit = limit

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        events = windows_events(engine, window, (4662,))
        if events is None:
            return []
        rows = fetch(self.replications(events)).to_pylist()
        if not rows:
            return []
        dcs = {_label(n) for n in self.domain_controllers} | {_label(h) for h in self.ds_hosts(events)}
        allowed = {py_account(a) for a in self.allowed_accounts}
        findings = [self._finding(r) for r in rows if not _is_dc(r["account"], dcs) and r["account"] not in allowed]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    def replications(self, events: ir.Table) -> ir.Table:
        """Per (account, host): the 4662s carrying replication rights, with counts per right."""
        rows = with_event_fields(events, "SubjectUserName", "SubjectDomainName", "SubjectLogonId", "Properties")
        props = rows.Properties.lower().fill_null("")
        flags = {name: as_int(props.contains(guid)) for name, guid in RIGHTS.items()}
        rows = rows.mutate(account=account(rows.SubjectUserName), **flags)
        rows = rows.filter(rows.account.notnull() & ibis.or_(*(rows[n] == 1 for n in RIGHTS)))
        return rows.group_by(["account", "host"]).aggregate(
            events=rows.count().cast("int64"), first_seen=rows.ts.min(), last_seen=rows.ts.max(),
            domain=rows.SubjectDomainName.max(), logon_id=rows.SubjectLogonId.max(),
            **{n: rows[n].sum().cast("int64") for n in RIGHTS},
        )

    def ds_hosts(self, events: ir.Table) -> list[str]:
        """Hosts that logged a 4662 for a directory object (ObjectServer DS): domain controllers."""
        rows = with_event_fields(events, "ObjectServer")
        hosts = rows.filter((rows.ObjectServer == "DS") & rows.host.notnull()).select("host").distinct()
        return [r["host"] for r in fetch(hosts).to_pylist()]

    def _finding(self, r: dict) -> Finding:
        rights = [n for n in RIGHTS if r[n]]
        secrets = any(r[n] for n in SECRET_RIGHTS)
        machine = r["account"].endswith("$")
        rogue = any(r[n] for n in ROGUE_DC_RIGHTS)
        rights_score = 1.0 if secrets else 0.6
        who = 0.8 if machine else 1.0
        score = min(1.0, 0.55 + 0.3 * rights_score + 0.15 * who)
        evidence: dict[str, Any] = {
            "account": r["account"], "domain": r["domain"], "dc": r["host"], "events": int(r["events"]),
            "rights": {n: int(r[n]) for n in rights}, "logon_id": r["logon_id"], "machine_account": machine,
        }
        what = "machine account not known as a DC" if machine else "user account"
        names = ", ".join(f"{n.replace('_', '-')} ({RIGHTS[n][:8]}…)" for n in rights)
        why = (f"{r['account']} ({what}) used directory replication rights on {r['host']} {r['events']} times: "
               f"{names}" + ("; Get-Changes-All returns password hashes: DCSync" if secrets else "")
               + ("; these rights register a replication partner (a DC): DCShadow or a DC promotion" if rogue else ""))
        return Finding(
            detector=self.name, score=score, entity=f"{r['account']}@{r['host']} dcsync", user=r["account"],
            host=r["host"], first_seen=r["first_seen"], last_seen=r["last_seen"],
            components={"rights": rights_score, "account": who}, evidence=evidence, why=why,
        )


def _label(name: str) -> str:
    """A host or machine account as its first label, lower case, without ``$``."""
    return name.strip().lower().split(".", 1)[0].rstrip("$")


def _is_dc(name: str, dcs: set[str]) -> bool:
    return name.endswith("$") and _label(name) in dcs
