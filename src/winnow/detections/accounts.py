"""Account and audit changes in Windows logs: new accounts, privileged group changes, cleared logs, audit policy.

Read from ``win.event`` alone (every Windows record; EventData through ``_eventdata``). Kinds of
finding (``evidence.kind``):

* **privileged_group** -- a member added to a group named in ``privileged_groups`` (4728 global,
  4732 local, 4756 universal security group): Domain Admins, Administrators, Enterprise Admins...
  When the member is an account created shortly before (4720, matched on its SID), the finding
  says so and weighs more (``chain_window``): the new-admin-account shape of an intrusion. Adds
  to other groups are routine and not reported.
* **new_account** -- a user account created (4720), with who created it. Low on its own, and left
  out when its creator has created accounts before in the lake's history (a help desk creates
  accounts every week); an account name ending in ``$`` (a fake computer account: real computer
  accounts are created by 4741) weighs more.
* **log_cleared** -- the Security log cleared (1102) or the System log (104 of the Eventlog provider):
  high, an attacker covering tracks; the subject account is in the evidence.
* **audit_policy** -- a system audit policy changed (4719). Changes made by the machine itself
  (SYSTEM applying a Group Policy, subject ``S-1-5-18``) are routine and weigh little; changes by a
  person weigh more, and removing success or failure auditing (``%%8448``/``%%8450``) most.
"""

from __future__ import annotations

from typing import ClassVar

import ibis

from winnow.detections._eventdata import event_field, with_event_fields
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding

GROUP_EVENTS = {4728: "global", 4732: "local", 4756: "universal"}
#: AuditPolicyChanges codes that turn auditing off
AUDIT_REMOVED = ("%%8448", "%%8450")
SYSTEM_SID = "S-1-5-18"


@register
class AccountChanges(Detector):
    """Args:
    privileged_groups: group names (case-insensitive) whose new members are reported.
    chain_window: seconds after an account's creation within which its addition to a privileged group is a chain.
    min_score: findings scoring below this are left out.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "accounts"
    description: ClassVar[str] = (
        "new accounts, members added to privileged groups, cleared Security/System logs and audit policy changes "
        "in Windows logs"
    )
    tables: ClassVar[tuple[str, ...]] = ("win.event",)

    def __init__(self, privileged_groups: tuple[str, ...] = (
                     "Administrators", "Domain Admins", "Enterprise Admins", "Schema Admins", "Account Operators",
                     "Backup Operators", "Server Operators", "Print Operators", "DnsAdmins", "Group Policy Creator "
                     "Owners", "Enterprise Key Admins", "Key Admins", "Remote Desktop Users", "Hyper-V Administrators",
                     "Administrateurs", "Administratoren", "Administradores"),
                 chain_window: float = 86400.0, min_score: float = 0.4, limit: int = 500) -> None:
        self.privileged_groups = privileged_groups
        self.chain_window = chain_window
        self.min_score = min_score
        self.limit = limit

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        events = engine.table("win.event", window)
        if events is None:
            return []
        security = events.filter(events.channel == "Security")
        wanted = security.filter(security.event_id.isin((4720, 4719, 1102, *GROUP_EVENTS)))
        cleared_system = events.filter((events.channel == "System") & (events.event_id == 104)
                                       & events.provider.lower().contains("eventlog"))
        rows = ibis.union(wanted, cleared_system, distinct=False)
        rows = with_event_fields(rows, "TargetUserName", "TargetDomainName", "TargetSid", "MemberName", "MemberSid",
                                 "SubjectUserName", "SubjectDomainName", "SubjectUserSid", "SubcategoryGuid",
                                 "CategoryId", "SubcategoryId", "AuditPolicyChanges")
        cleared = "UserData.LogFileCleared."
        out = rows.select(
            "ts", "event_id", "record_id", "channel", "TargetUserName", "TargetDomainName", "TargetSid",
            "MemberName", "MemberSid", "SubcategoryGuid", "CategoryId", "SubcategoryId", "AuditPolicyChanges",
            "SubjectUserSid", host=rows.host.lower(), subject=rows.SubjectUserName,
            subject_domain=rows.SubjectDomainName,
            cleared_by=event_field(rows.data, cleared + "SubjectUserName"),
            cleared_domain=event_field(rows.data, cleared + "SubjectDomainName"),
            cleared_channel=event_field(rows.data, cleared + "Channel"),
        )
        records = fetch(out.order_by(["ts", "host", "record_id"])).to_pylist()
        created = [r for r in records if r["event_id"] == 4720]
        creators = self._creators(engine) if created else []
        findings = [self._new_account(r, sum(1 for ts, who in creators if who == r["subject"] and ts < r["ts"]))
                    for r in created]
        privileged = {g.lower() for g in self.privileged_groups}
        findings += [self._group(r, created) for r in records
                     if r["event_id"] in GROUP_EVENTS and (r["TargetUserName"] or "").lower() in privileged]
        clears: dict[tuple, list[dict]] = {}
        for r in records:
            if r["event_id"] in (1102, 104):
                clears.setdefault((r["host"], _log(r)), []).append(r)
        findings += [self._cleared(log, rows) for (_, log), rows in clears.items()]
        findings += [self._audit(r) for r in records if r["event_id"] == 4719]
        findings = [f for f in findings if f.score >= self.min_score]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    def _creators(self, engine: Engine) -> list[tuple]:
        """(time, creator) of every account creation the lake holds, whatever the window."""
        events = engine.table("win.event", Window())
        rows = with_event_fields(events.filter((events.event_id == 4720) & (events.channel == "Security")),
                                 "SubjectUserName")
        return [(r["ts"], r["SubjectUserName"]) for r in fetch(rows.select("ts", "SubjectUserName")).to_pylist()]

    def _new_account(self, r: dict, earlier: int) -> Finding:
        name = r["TargetUserName"] or "?"
        fake_machine = 1.0 if name.endswith("$") else 0.0  # real computer accounts are created by 4741, not 4720
        unusual = 1.0 if earlier == 0 else 0.0  # a help desk creates accounts every week; a first creator is news
        score = 0.3 + 0.2 * unusual + 0.25 * fake_machine
        who = _account(r["TargetDomainName"], name)
        why = (f"account {who} was created on {r['host']} by {_account(r['subject_domain'], r['subject'])}"
               + (", who had created no account before in the lake's history" if unusual else
                  f", who created {earlier} before")
               + ("; a user account named like a computer ($): a fake computer account" if fake_machine else ""))
        return Finding(
            detector=self.name, score=score, entity=f"{r['host']} new account {name}", host=r["host"], user=name,
            first_seen=r["ts"], last_seen=r["ts"],
            components={"unusual_creator": unusual, "fake_machine": fake_machine},
            evidence={"kind": "new_account", "account": who, "sid": r["TargetSid"], "created_by": r["subject"],
                      "creator_earlier_accounts": earlier,
                      "record_id": r["record_id"]},
            why=why,
        )

    def _group(self, r: dict, created: list[dict]) -> Finding:
        member = r["MemberName"] or r["MemberSid"] or "?"
        new = [c for c in created if c["TargetSid"] and c["TargetSid"] == r["MemberSid"]
               and 0 <= (r["ts"] - c["ts"]).total_seconds() <= self.chain_window]
        chain = 1.0 if new else 0.0
        score = 0.75 + 0.15 * chain
        group = _account(r["TargetDomainName"], r["TargetUserName"])
        member_text = _member(member)
        if new:
            member_text = _account(new[0]["TargetDomainName"], new[0]["TargetUserName"])
        lag = (r["ts"] - new[0]["ts"]).total_seconds() if new else None
        why = (f"{member_text} was added to the privileged {GROUP_EVENTS[r['event_id']]} group {group} on {r['host']} "
               f"by {_account(r['subject_domain'], r['subject'])}"
               + (f", {lag / 60:.0f} min after the account was created" if new else ""))
        return Finding(
            detector=self.name, score=score, entity=f"{r['host']} {r['TargetUserName']} += {member_text}",
            host=r["host"], user=member_text, first_seen=new[0]["ts"] if new else r["ts"], last_seen=r["ts"],
            components={"chain": chain},
            evidence={"kind": "privileged_group", "group": group, "member": member, "member_sid": r["MemberSid"],
                      "by": r["subject"], "event_id": r["event_id"], "record_id": r["record_id"],
                      "created": bool(new), "created_seconds_before": lag},
            why=why,
        )

    def _cleared(self, log: str, rows: list[dict]) -> Finding:
        r = rows[-1]
        by = sorted({_account(x["cleared_domain"], x["cleared_by"]) if x["cleared_by"] else "an unnamed account"
                     for x in rows})
        times = f"{len(rows)} times" if len(rows) > 1 else "once"
        return Finding(
            detector=self.name, score=0.85, entity=f"{r['host']} {log} log cleared", host=r["host"],
            user=r["cleared_by"], first_seen=rows[0]["ts"], last_seen=r["ts"], components={"cleared": 1.0},
            evidence={"kind": "log_cleared", "log": log, "by": by, "clears": len(rows), "event_id": r["event_id"],
                      "record_ids": [x["record_id"] for x in rows][:10]},
            why=f"the {log} event log of {r['host']} was cleared {times} by {', '.join(by)}: what an intruder does "
                "to hide its tracks",
        )

    def _audit(self, r: dict) -> Finding:
        machine = r["SubjectUserSid"] == SYSTEM_SID or (r["subject"] or "").endswith("$")
        changes = r["AuditPolicyChanges"] or ""
        removed = 1.0 if any(c in changes for c in AUDIT_REMOVED) else 0.0
        person = 0.0 if machine else 1.0
        score = 0.3 + 0.3 * person + 0.25 * removed
        by = _account(r["subject_domain"], r["subject"])
        subcategory = r["SubcategoryGuid"] or r["SubcategoryId"]
        why = (f"the audit policy of {r['host']} (subcategory {subcategory}) was changed by {by}"
               + ("; auditing was switched off" if removed else "; auditing was extended")
               + ("; the machine itself made the change (Group Policy)" if machine else ""))
        return Finding(
            detector=self.name, score=score, entity=f"{r['host']} audit policy {r['SubcategoryGuid']}",
            host=r["host"], user=r["subject"], first_seen=r["ts"], last_seen=r["ts"],
            components={"person": person, "removed": removed},
            evidence={"kind": "audit_policy", "by": by, "subcategory": r["SubcategoryGuid"], "changes": changes,
                      "category": r["CategoryId"], "record_id": r["record_id"]},
            why=why,
        )


def _log(r: dict) -> str:
    return "Security" if r["event_id"] == 1102 else (r["cleared_channel"] or "System")


def _account(domain: str | None, user: str | None) -> str:
    return f"{domain}\\{user}" if domain and user else str(user or "?")


def _member(member: str) -> str:
    """A member as logged: an LDAP DN (``CN=bob,OU=...``) is shortened to its common name."""
    if member.upper().startswith("CN="):
        return member[3:].split(",", 1)[0]
    return member
