"""Score findings against the behaviour plants (:mod:`winnow.sim.behaviour`) and everything else planted.

A finding **names** the hosts, addresses, users and accounts it is about: its ``src``, ``host``,
``user``, typed ``entities`` and the names in its ``entity`` text (host names shortened to their first
label, ``DOMAIN\\user`` to the user). A plant is **found** by a finding that names its key and lies in
its time: from the plant's day (a day before for feeds, whose periods are counted back from the end)
to two days after it, or to the end for the feeds and clocks, which stay broken.

Reported per planted kind: whether a detector meant for it found it (and with what score), whether any
detector did. For the baselines' own detectors (``baseline``, ``first_seen``, ``sensor_health``): their
findings, how many name something planted (this month's plants or the simulator's other attacks:
beacons, scans, identity attacks, the logon chain), and the rest as **false findings per 1,000
entity-days** (entities: the network's hosts, the logon world's people and hosts).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: the detectors the baselines issue added, whose false findings are counted
BASELINE_DETECTORS = ("baseline", "first_seen", "sensor_health")
_SPAN_TO_END = {"silent_endpoint", "feed_drop", "clock_drift"}
_NAME = re.compile(r"[A-Za-z0-9_.$@\\-]+")


def short(name: str) -> str:
    """A host, address or user as an analyst would look it up: lower case, first label, no domain."""
    name = str(name).strip().strip("-").lower().rsplit("\\", 1)[-1]
    try:
        ipaddress.ip_address(name)
        return name
    except ValueError:
        return name.split(".", 1)[0]


def names_of(finding: dict[str, Any]) -> set[str]:
    """Everything a finding names."""
    out = {short(finding[k]) for k in ("src", "host", "user") if finding.get(k)}
    out |= {short(e["id"]) for e in finding.get("entities") or () if e.get("id")}
    out |= {short(t) for t in _NAME.findall(str(finding.get("entity", ""))) if len(t.strip("-.")) > 1}
    return out


def planted_attacks(out: Path) -> list[tuple[str, set[str]]]:
    """(label, the names an analyst would recognise it by) of each attack the simulator planted in ``out``
    (truth.json and logons_truth.json; not the behaviour plants)."""
    truth = json.loads((out / "truth.json").read_text())
    host_of = {h["ip"]: h["host"] for h in truth.get("endpoint", {}).get("hosts", [])}
    attacks = []
    for key in ("beacons", "c2_shapes", "fumblers", "scanners", "dns_tunnels", "large_uploads"):
        for a in truth.get(key, []):
            names = {a["src"]} | ({short(host_of[a["src"]])} if a["src"] in host_of else set())
            attacks.append((f"{key}:{a['src']}", names))
    for a in truth.get("identity", []):
        names = {a["ip"], short(a["host"]), a["user"].lower()} | ({a["account"].lower()} if a.get("account") else set())
        attacks.append((f"identity/{a['kind']}:{a['ip']}", names))
    logons = out / "logons_truth.json"
    for a in json.loads(logons.read_text()).get("planted", []) if logons.exists() else []:
        attacks.append((f"logons/{a['kind']}:{a['key']}", {short(str(a[k])) for k in ("key", "host") if a.get(k)}))
    return attacks


def other_attacks(out: Path) -> set[str]:
    """Names of everything the simulator planted besides the behaviour plants."""
    return set().union(*(names for _, names in planted_attacks(out)))


def entity_days(out: Path) -> int:
    """Hosts of the network plus people and hosts of the logon world, times the days simulated."""
    truth = json.loads((out / "truth.json").read_text())
    logons = json.loads((out / "logons_truth.json").read_text())
    network = int(truth["hosts"]) + len(truth.get("servers", {}))
    users = int(logons["users"])
    return (network + 2 * users) * int(truth["days"])


def score(findings: Iterable[dict[str, Any]], out: str | Path) -> dict[str, Any]:
    """Recall per behaviour kind and the baselines' detectors' precision and false findings (module docstring)."""
    out = Path(out)
    behaviour = json.loads((out / "behaviour_truth.json").read_text())
    start = dt.datetime.fromisoformat(behaviour["start"]).replace(tzinfo=dt.UTC)
    findings = [dict(f, _names=names_of(f)) for f in findings]
    kinds = {}
    for p in behaviour["planted"]:
        lo = start + dt.timedelta(days=p["day"] - (1 if p["kind"] in _SPAN_TO_END else 0))
        hi = (start + dt.timedelta(days=behaviour["days"] + 1) if p["kind"] in _SPAN_TO_END
              else start + dt.timedelta(days=p["day"] + 2))
        key = short(p["key"])
        hits = [f for f in findings if key in f["_names"] and _overlaps(f, lo, hi)]
        meant = sorted((f for f in hits if f["detector"] in p["detectors"]), key=lambda f: -f["score"])
        kinds[p["kind"]] = {"key": p["key"], "date": p["date"], "meant": p["detectors"],
                            "found": bool(meant), "score": meant[0]["score"] if meant else None,
                            "why": meant[0].get("why", "")[:300] if meant else None,
                            "found_by": sorted({f["detector"] for f in hits})}
    planted_names = {short(p["key"]) for p in behaviour["planted"]} | {
        short(n) for p in behaviour["planted"] for n in (p.get("host"), p.get("ip"), p.get("by")) if n}
    attacked = planted_names | other_attacks(out)
    days = entity_days(out)
    detectors = {}
    for name in BASELINE_DETECTORS:
        mine = [f for f in findings if f["detector"] == name]
        medium = [f for f in mine if f.get("severity") in ("medium", "high")]
        false = [f for f in medium if not f["_names"] & attacked]
        detectors[name] = {"findings": len(mine), "medium_or_higher": len(medium),
                           "true": len(medium) - len(false), "false": len(false),
                           "precision": round((len(medium) - len(false)) / len(medium), 3) if medium else None,
                           "false_per_1000_entity_days": round(1000 * len(false) / days, 3),
                           "false_examples": [f"{f['score']:.2f} {f['entity']}" for f in false[:8]]}
    false_total = sum(d["false"] for d in detectors.values())
    return {"kinds": kinds, "recall": sum(k["found"] for k in kinds.values()) / len(kinds),
            "detectors": detectors, "entity_days": days, "false": false_total,
            "false_per_1000_entity_days": round(1000 * false_total / days, 3)}


def _overlaps(finding: dict[str, Any], lo: dt.datetime, hi: dt.datetime) -> bool:
    first, last = (_when(finding.get(k)) for k in ("first_seen", "last_seen"))
    if first is None and last is None:
        return True
    return (first or last) < hi and (last or first) >= lo


def _when(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
