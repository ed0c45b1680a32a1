"""Kerberos roasting: Kerberoasting (RC4 service tickets for many services) and AS-REP roasting.

* **kerberoast** -- one account asking the DC (4769) for service tickets encrypted with RC4
  (``TicketEncryptionType`` 0x17, or 0x18 RC4-export) for ``min_services`` or more distinct user
  services within ``window_seconds``: tools (Rubeus, GetUserSPNs) request every SPN account at once,
  in RC4 because its hash cracks fastest. Tickets for machine accounts (``HOST$``) and ``krbtgt`` are
  left out: they are never roasted and are requested all day. A domain with AES everywhere asks for
  RC4 only from legacy clients, and those ask for one or two services, not many. Scored from the
  number of services (breadth) and the share of the account's service tickets in that window that
  were RC4 (a roasting tool asks only RC4).
* **asrep** -- a TGT issued (4768, success) with ``PreAuthType`` 0: the account does not require
  Kerberos pre-authentication, so anyone can ask for its TGT and crack the part encrypted with its
  password. Roasting tools (Rubeus, GetNPUsers) ask for RC4, the fastest to crack; the account's own
  device asks for AES. So a source is reported when one of its tickets was RC4 or when it asked for
  several such accounts; one account fetching its own AES ticket (a legacy scanner configured
  without pre-authentication) is a weak setting, not an attack, and is not reported.

Service tickets come from ``auth.logon`` (service and encryption are typed there); ``PreAuthType``
is read from ``win.event`` through ``_eventdata``. Each finding's entity is the requesting account
(kerberoast) or the source (as-rep).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from winnow.detections._accounts import account, address
from winnow.detections._eventdata import windows_events, with_event_fields
from winnow.detections._outcome import as_int
from winnow.detections._slots import best_slot, slot_start, two_grids
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding, render

#: RC4-HMAC and RC4-HMAC-EXP, as Windows logs TicketEncryptionType
RC4 = ("0x17", "0x18")
EXAMPLES = 10


@register
class Roasting(Detector):
    """Args:
    min_services: distinct services one account got RC4 tickets for in a window that make Kerberoasting.
    full_services: services at which the breadth sub-score reaches 1.
    window_seconds: length of the window services are counted in (two grids half a window apart).
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "roasting"
    description: ClassVar[str] = (
        "Kerberoasting (4769 RC4 service tickets for many services from one account) and AS-REP roasting "
        "(4768 TGTs issued without pre-authentication)"
    )
    tables: ClassVar[tuple[str, ...]] = ("auth.logon", "win.event")

    def __init__(self, min_services: int = 3, full_services: int = 20, window_seconds: int = 3600,
                 limit: int = 500) -> None:
        self.min_services = min_services
        self.full_services = full_services
        self.window_seconds = window_seconds
        self.limit = limit

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        findings: list[Finding] = []
        auth = engine.table("auth.logon", window)
        if auth is not None and {"event_id", "service", "ticket_encryption"} <= set(auth.columns):
            tickets = service_tickets(auth)
            for best in fetch(self.kerberoasts(tickets)).to_pylist():
                start = slot_start(best["grid"], best["slot"], self.window_seconds)
                rows = tickets.filter((tickets.account == best["account"]) & (tickets.ts >= start)
                                      & (tickets.ts < start + dt.timedelta(seconds=self.window_seconds)))
                findings.append(self._kerberoast(best, fetch(rows.order_by(["ts", "service"])).to_pylist()))
        events = windows_events(engine, window, (4768,))
        if events is not None:
            rows = fetch(asrep_tickets(events).order_by(["source", "ts"])).to_pylist()
            by_source: dict[str, list[dict]] = {}
            for r in rows:
                by_source.setdefault(r["source"], []).append(r)
            findings += [self._asrep(source, got) for source, got in by_source.items()
                         if any(r["rc4"] for r in got) or len({r["account"] for r in got}) > 1]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    def kerberoasts(self, tickets: ir.Table) -> ir.Table:
        """Per requesting account, its window with the most RC4 services, when there are enough."""
        g = two_grids(tickets, self.window_seconds)
        per = g.group_by(["account", "grid", "slot", "service"]).aggregate(rc4=g.rc4.max(), n=g.count())
        win = per.group_by(["account", "grid", "slot"]).aggregate(
            rc4_services=per.rc4.sum().cast("int64"), services=per.count().cast("int64"),
            tickets=per.n.sum().cast("int64"))
        win = win.filter(win.rc4_services >= self.min_services)
        return best_slot(win, ["account"], [ibis.desc("rc4_services")])

    def _kerberoast(self, best: dict, rows: list[dict]) -> Finding:
        rc4 = [r for r in rows if r["rc4"]]
        services = sorted({r["service"] for r in rc4})
        n = len(services)
        share = len(rc4) / len(rows)
        breadth = min(1.0, math.log1p(n) / math.log1p(self.full_services))
        score = min(1.0, 0.5 + 0.35 * breadth + 0.15 * share)
        first, last = rc4[0]["ts"], rc4[-1]["ts"]
        sources = Counter(r["src_ip"] for r in rc4 if r["src_ip"])
        src = sources.most_common(1)[0][0] if sources else None
        encs = Counter(r["ticket_encryption"] for r in rows)
        evidence: dict[str, Any] = {
            "kind": "kerberoast", "account": best["account"], "rc4_services": n, "rc4_tickets": len(rc4),
            "service_tickets": len(rows), "rc4_share": round(share, 4), "services": services[:EXAMPLES],
            "encryption_types": dict(sorted(encs.items())), "sources": dict(sources.most_common(EXAMPLES)),
            "dcs": sorted({r["host"] for r in rc4 if r["host"]})[:EXAMPLES],
        }
        why = (f"{best['account']} obtained RC4 (0x17) service tickets for {n} services in "
               f"{render.duration((last - first).total_seconds())} ({100 * share:.0f} % of its {len(rows)} "
               f"service tickets then were RC4){f' from {src}' if src else ''}: {', '.join(services[:5])}")
        return Finding(
            detector=self.name, score=score, entity=f"{best['account']} kerberoast", src=src, user=best["account"],
            host=evidence["dcs"][0] if evidence["dcs"] else None, first_seen=first, last_seen=last,
            components={"breadth": breadth, "rc4_share": share}, evidence=evidence, why=why,
        )

    def _asrep(self, source: str, rows: list[dict]) -> Finding:
        accounts = sorted({r["account"] for r in rows})
        rc4 = sum(1 for r in rows if r["rc4"])
        breadth = min(1.0, math.log1p(len(accounts)) / math.log1p(self.full_services))
        share = rc4 / len(rows)
        score = min(1.0, 0.55 + 0.2 * share + 0.25 * breadth)
        first, last = rows[0]["ts"], rows[-1]["ts"]
        evidence: dict[str, Any] = {
            "kind": "asrep", "source": source, "accounts": accounts[:EXAMPLES], "tickets": len(rows),
            "rc4_tickets": rc4, "encryption_types": dict(Counter(str(r["enc"]) for r in rows)),
            "dcs": sorted({r["host"] for r in rows if r["host"]})[:EXAMPLES],
        }
        enc = "RC4 " if rc4 == len(rows) else ""
        why = (f"{source} obtained {len(rows)} {enc}TGTs without Kerberos pre-authentication (4768 PreAuthType 0) "
               f"for {len(accounts)} account{'s' if len(accounts) > 1 else ''} ({', '.join(accounts[:5])}) over "
               f"{render.duration((last - first).total_seconds())}: AS-REP roasting, their password hashes can "
               "be cracked offline")
        return Finding(
            detector=self.name, score=score, entity=f"{source} asrep", src=rows[0]["src"],
            user=accounts[0] if len(accounts) == 1 else None, host=evidence["dcs"][0] if evidence["dcs"] else None,
            first_seen=first, last_seen=last, components={"rc4": share, "breadth": breadth},
            evidence=evidence, why=why,
        )


def service_tickets(auth: ir.Table) -> ir.Table:
    """Service tickets issued (4769) for user services: ts, account, service, rc4, ticket_encryption, src_ip, host."""
    rows = auth.filter((auth.event_id == 4769) & (auth.outcome == "success"))
    service = rows.service.lower()
    out = rows.select("ts", "host", "ticket_encryption", account=account(rows.user), service=service,
                      src_ip=address(rows.src_ip), rc4=as_int(rows.ticket_encryption.lower().isin(RC4)))
    return out.filter(out.account.notnull() & ~out.account.endswith("$") & out.service.notnull()
                      & ~out.service.endswith("$") & ~out.service.startswith("krbtgt"))


def asrep_tickets(events: ir.Table) -> ir.Table:
    """TGTs issued without pre-authentication (4768, Status 0x0, PreAuthType 0): ts, source, src, account, rc4."""
    rows = with_event_fields(events, "TargetUserName", "IpAddress", "Status", "PreAuthType",
                             "TicketEncryptionType")
    rows = rows.filter((rows.PreAuthType == "0") & (rows.Status.isnull() | rows.Status.isin(("0x0", "0"))))
    ip = rows.IpAddress
    src = address(ibis.ifelse(ip.lower().startswith("::ffff:") & ip.contains("."), ip.substr(7), ip))
    out = rows.select("ts", "host", src=src, source=ibis.coalesce(src, rows.host), account=account(rows.TargetUserName),
                      enc=rows.TicketEncryptionType, rc4=as_int(rows.TicketEncryptionType.lower().isin(RC4)))
    return out.filter(out.account.notnull())
