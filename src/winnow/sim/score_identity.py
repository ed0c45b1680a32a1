"""Score the identity detectors (guessing, roasting, dcsync) against the simulator's planted attacks.

``truth["identity"]`` (written by :mod:`winnow.sim.endpoint_security`) lists each planted attack with
its kind, attacker workstation, address, user and start. Definitions:

* a finding **matches** a planted attack when it names the same attacker and started within
  ``MATCH_HOURS`` of the attack: a ``spray`` guessing finding whose actor is the attacker's address
  or workstation (``spray_4648``: the actor ``<user> on <host>``); a ``brute_force`` one with that actor
  and the attacked account; a ``kerberoast`` roasting finding for the attacker's account; an ``asrep``
  one from its address; a ``dcsync`` finding for the account that replicated;
* a finding's **kind** is the kind of the attack it matches, else its own (guessing's evidence kind,
  ``spray_4648`` when every event was a 4648; roasting's evidence kind; ``dcsync``);
* per kind, **precision** = matching findings / findings, **recall** = attacks matched / attacks;
  ``false`` are the findings matching no attack, and ``false_per_1000_user_days`` their rate over the
  simulated users x days.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from winnow.scoring import Finding

KINDS = ("spray", "spray_4648", "brute_force", "kerberoast", "asrep", "dcsync")
DETECTORS = ("guessing", "roasting", "dcsync")
MATCH_HOURS = 4


def finding_kind(f: Finding) -> str:
    """The kind a finding claims (before matching)."""
    if f.detector == "dcsync":
        return "dcsync"
    kind = str(f.evidence.get("kind"))
    if kind == "spray" and set(f.evidence.get("events", {})) == {"4648"}:
        return "spray_4648"
    return kind


def matches(f: Finding, item: dict) -> bool:
    """Whether finding ``f`` is the planted attack ``item`` (see the module docstring)."""
    start = dt.datetime.fromisoformat(item["start"].replace("Z", "+00:00"))
    if f.first_seen is None or not start - dt.timedelta(minutes=1) <= f.first_seen <= start + dt.timedelta(
            hours=MATCH_HOURS):
        return False
    ev, kind = f.evidence, item["kind"]
    attacker = {item["ip"], item["host"].upper()}
    if kind == "spray":
        return f.detector == "guessing" and ev.get("kind") == "spray" and ev.get("actor") in attacker
    if kind == "spray_4648":
        return f.detector == "guessing" and ev.get("kind") == "spray" and ev.get("actor") == item["actor"]
    if kind == "brute_force":
        return (f.detector == "guessing" and ev.get("kind") == "brute_force" and ev.get("actor") in attacker
                and ev.get("account") == item["account"])
    if kind == "kerberoast":
        return f.detector == "roasting" and ev.get("kind") == "kerberoast" and ev.get("account") == item["user"]
    if kind == "asrep":
        return f.detector == "roasting" and ev.get("kind") == "asrep" and ev.get("source") == item["ip"]
    return f.detector == "dcsync" and ev.get("account") == item["account"]


def score(findings: list[Finding], truth: dict) -> dict[str, Any]:
    """Per-kind findings, true, false, attacks, found, precision and recall; totals and the false rate."""
    planted = truth.get("identity", [])
    user_days = int(truth["hosts"]) * int(truth["days"])
    mine = [f for f in findings if f.detector in DETECTORS]
    kinds: dict[str, dict[str, Any]] = {k: {"findings": 0, "true": 0, "attacks": 0, "found": 0} for k in KINDS}
    found: set[int] = set()
    false: list[dict] = []
    for f in mine:
        hit = [i for i, item in enumerate(planted) if matches(f, item)]
        kind = planted[hit[0]]["kind"] if hit else finding_kind(f)
        row = kinds.setdefault(kind, {"findings": 0, "true": 0, "attacks": 0, "found": 0})
        row["findings"] += 1
        if hit:
            row["true"] += 1
            found.update(hit)
        else:
            false.append({"detector": f.detector, "entity": f.entity, "score": f.score, "why": f.why})
    for i, item in enumerate(planted):
        kinds[item["kind"]]["attacks"] += 1
        kinds[item["kind"]]["found"] += int(i in found)
    for row in kinds.values():
        row["precision"] = row["true"] / row["findings"] if row["findings"] else None
        row["recall"] = row["found"] / row["attacks"] if row["attacks"] else None
    missed = [item for i, item in enumerate(planted) if i not in found]
    return {"kinds": kinds, "findings": len(mine), "false": len(false), "user_days": user_days,
            "false_per_1000_user_days": 1000 * len(false) / user_days if user_days else None,
            "false_findings": false, "missed": missed}
