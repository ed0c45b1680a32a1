"""Entity risk: every finding on an entity combined into one score that decomposes exactly.

Each finding adds *evidence* to each entity it involves (:mod:`winnow.risk.entities`):

    evidence(f) = -ln(1 - s)   with   s = score × 0.5^(age / half_life) × repeat × overlap

* a finding counts ``risk.target_weight`` on the entity it names as acted on (the destination of a
  finding with a source, the server that only logged a source's attempts), whole on its actor.
* findings below ``risk.min_finding_score`` (info severity) are context, not evidence: every host
  has a few (an NTP pool's rhythm, a missed service lookup) and summed they would rank busy hosts
  above attacked ones.
* ``age``: from the finding's last sighting to the newest finding in the window; ``risk.half_life``.
* ``repeat``: the entity's findings from one detector, best first, count 1, r, r², ... with
  ``r = risk.repeat_weight``: fifty rare destinations are one signal said fifty times, not fifty
  signals (at most 1/(1-r) times the best one). The same finding stored by two runs counts once.
* ``overlap``: detectors reading the same kind of data (``family``: network, endpoint, identity,
  alerts, intel) overlap; the second detector of a family counts ``risk.family_weight``, the
  third its square... Independent evidence (another data source, another ATT&CK tactic where a
  finding names one) counts whole.

The entity's risk is ``1 - exp(-(E × m))`` where ``E`` is the sum of its evidence and ``m`` the
product of its context modifiers (``risk.critical_assets``, ``risk.privileged_users``). Without
modifiers each finding's share of the risk is its share of ``E``; the modifiers' share is what
they add. Shares are rounded to 6 places and the largest absorbs the rounding, so they always sum
exactly to the score shown.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from winnow.risk.entities import Entity, Resolver, entities_of, targets_of

#: detector → family of data it reads (a detector not listed is its own family)
FAMILIES = {
    "beacon": "network", "long_conn": "network", "rare_dest": "network", "scan": "network",
    "fumbling": "network", "dns_tunnel": "network",
    "guessing": "identity", "roasting": "identity", "dcsync": "identity", "lateral": "identity",
    "accounts": "identity", "linux_auth": "identity",
    "sigma": "endpoint", "powershell": "endpoint", "pipes": "endpoint", "registry_change": "endpoint",
    "notable_events": "endpoint", "bits_jobs": "endpoint", "account_discovery": "endpoint", "first_seen": "endpoint",
    "sensor_health": "health", "baseline": "baseline", "ids": "alerts", "intel": "intel",
}

_CAP = 1 - 1e-9  # a score of 1.0 is strong evidence, not infinite evidence


@dataclass(frozen=True)
class RiskSettings:
    """The ``risk.*`` settings (documented in :mod:`winnow.config.table`)."""

    half_life_hours: float = 168.0
    repeat_weight: float = 0.3
    family_weight: float = 0.6
    critical_assets: tuple[str, ...] = ()
    critical_weight: float = 1.5
    privileged_users: tuple[str, ...] = ()
    privileged_weight: float = 1.5
    target_weight: float = 0.3
    min_finding_score: float = 0.4
    ran_on_host: tuple[str, ...] = ("lateral", "sigma")

    @classmethod
    def current(cls) -> RiskSettings:
        from winnow.config import current

        config = current()
        return cls(
            half_life_hours=float(config.get("risk.half_life_hours")),
            repeat_weight=float(config.get("risk.repeat_weight")),
            family_weight=float(config.get("risk.family_weight")),
            critical_assets=tuple(config.get("risk.critical_assets")),
            critical_weight=float(config.get("risk.critical_weight")),
            privileged_users=tuple(config.get("risk.privileged_users")),
            privileged_weight=float(config.get("risk.privileged_weight")),
            target_weight=float(config.get("risk.target_weight")),
            min_finding_score=float(config.get("risk.min_finding_score")),
            ran_on_host=tuple(config.get("risk.ran_on_host")),
        )


@dataclass
class EntityRisk:
    """One entity's risk and the contributions it is made of."""

    entity: Entity
    score: float = 0.0
    contributions: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        contributions = self.contributions if top is None else self.contributions[:top]
        detectors = sorted({f["detector"] for f in self.findings})
        times = [f[k] for f in self.findings for k in ("first_seen", "last_seen") if f.get(k)]
        return {
            "entity": self.entity.value, "entity_type": self.entity.type, "score": self.score,
            "severity": _severity(self.score), "findings": len(self.findings), "detectors": detectors,
            "first_seen": min(times) if times else None, "last_seen": max(times) if times else None,
            "why": self.why(), "contributions": contributions,
        }

    def why(self) -> str:
        parts = [f"{c['share']:.2f} from {_name(c)}" for c in self.contributions[:3]]
        more = len(self.contributions) - 3
        return (f"risk {self.score:.2f}: " + "; ".join(parts)
                + (f"; and {more} smaller contribution(s)" if more > 0 else ""))


def _severity(score: float) -> str:
    from winnow.scoring import severity_for

    return severity_for(score)


def _name(contribution: dict[str, Any]) -> str:
    if contribution["kind"] == "modifier":
        return contribution["reason"]
    return f"{contribution['detector']} {contribution['finding']} ({contribution['finding_score']:.2f})"


def _parse(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _family(finding: dict[str, Any]) -> str:
    evidence = finding.get("evidence") or {}
    base = FAMILIES.get(finding["detector"], finding["detector"])
    tactic = evidence.get("tactic") or evidence.get("attack_tactic")
    return f"{base}/{tactic}" if isinstance(tactic, str) and tactic else base


def _modifiers(entity: Entity, settings: RiskSettings) -> list[tuple[str, float]]:
    out = []
    if entity.type in ("host", "ip") and settings.critical_weight != 1 and _matches(entity, settings.critical_assets):
        out.append((f"critical asset (risk.critical_assets, ×{settings.critical_weight:g})", settings.critical_weight))
    if entity.type == "user" and settings.privileged_weight != 1 and any(
            fnmatch.fnmatch(entity.value.lower(), p.lower()) for p in settings.privileged_users):
        out.append((f"privileged account (risk.privileged_users, ×{settings.privileged_weight:g})",
                    settings.privileged_weight))
    return out


def _matches(entity: Entity, patterns: tuple[str, ...]) -> bool:
    from winnow.detections._assets import in_assets

    return in_assets(entity.value, patterns, entity.type == "ip")


def _finding_key(finding: dict[str, Any]) -> tuple:
    return (finding["detector"], finding["entity"], finding.get("first_seen"), finding.get("last_seen"))


def entity_risk(findings: list[dict[str, Any]], resolver: Resolver, settings: RiskSettings | None = None,
                now: dt.datetime | None = None) -> list[EntityRisk]:
    """Every entity the findings involve, riskiest first (ties by name)."""
    settings = settings or RiskSettings()
    unique = {}
    for finding in findings:  # the same finding stored by two runs counts once (the higher score)
        key = _finding_key(finding)
        if key not in unique or finding["score"] > unique[key]["score"]:
            unique[key] = finding
    resolver.learn(list(unique.values()))  # every finding's process attribution names hosts
    findings = [f for f in unique.values() if f["score"] >= settings.min_finding_score]
    last = [t for f in findings if (t := _parse(f.get("last_seen")))]
    now = now or (max(last) if last else dt.datetime.now(dt.UTC))
    per: dict[tuple[str, str], tuple[Entity, list[dict[str, Any]], set[int]]] = {}
    for finding in findings:
        targets = targets_of(finding, resolver, settings.ran_on_host)
        for entity in entities_of(finding, resolver):
            entry = per.setdefault(entity.key, (entity, [], set()))
            entry[1].append(finding)
            if entity.key in targets:
                entry[2].add(id(finding))
    out = [_one(entity, items, settings, now, targeted) for entity, items, targeted in per.values()]
    return sorted(out, key=lambda r: (-r.score, r.entity.type, r.entity.value))


def _decayed(finding: dict[str, Any], settings: RiskSettings, now: dt.datetime) -> tuple[float, float]:
    seen = _parse(finding.get("last_seen"))
    age = max(0.0, (now - seen).total_seconds() / 3600) if seen else 0.0
    decay = 0.5 ** (age / settings.half_life_hours) if settings.half_life_hours > 0 else 1.0
    return float(finding["score"]) * decay, age


def _one(entity: Entity, findings: list[dict[str, Any]], settings: RiskSettings, now: dt.datetime,
         targeted: set[int] | frozenset = frozenset()) -> EntityRisk:
    by_detector: dict[str, list[tuple[float, float, dict[str, Any]]]] = defaultdict(list)
    for finding in findings:
        score, age = _decayed(finding, settings, now)
        if id(finding) in targeted:  # acted on, not acting: what it suffered counts less
            score *= settings.target_weight
        by_detector[finding["detector"]].append((score, age, finding))
    for items in by_detector.values():
        items.sort(key=lambda t: (-t[0], str(t[2]["entity"])))
    # detectors of one family, strongest first, overlap: the 2nd counts family_weight, the 3rd its square...
    rank_in_family: dict[str, int] = {}
    units = []
    for detector in sorted(by_detector, key=lambda d: (-by_detector[d][0][0], d)):
        family = _family(by_detector[detector][0][2])
        overlap = settings.family_weight ** rank_in_family.get(family, 0)
        rank_in_family[family] = rank_in_family.get(family, 0) + 1
        for rank, (score, age, finding) in enumerate(by_detector[detector]):
            weight = overlap * settings.repeat_weight ** rank
            units.append((-math.log(1 - min(score * weight, _CAP)), score, age, weight, finding))
    total = sum(u[0] for u in units)
    modifiers = _modifiers(entity, settings)
    factor = math.prod(m for _, m in modifiers)
    base = 1 - math.exp(-total)
    score = 1 - math.exp(-total * factor)
    contributions = []
    for evidence, decayed, age, weight, finding in units:
        share = base * evidence / total if total > 0 else 0.0
        contributions.append({
            "kind": "finding", "detector": finding["detector"], "finding": finding["entity"],
            "finding_score": finding["score"], "severity": finding.get("severity"),
            "first_seen": finding.get("first_seen"), "last_seen": finding.get("last_seen"),
            "age_hours": round(age, 3), "weight": round(weight, 6), "effective": round(decayed * weight, 6),
            "role": "target" if id(finding) in targeted else "actor", "share": share, "why": finding.get("why"),
        })
    logs = sum(math.log(m) for _, m in modifiers)
    for reason, m in modifiers:
        share = (score - base) * (math.log(m) / logs) if logs else 0.0
        contributions.append({"kind": "modifier", "reason": reason, "factor": m, "share": share})
    score = round(score, 6)
    _round_exactly(contributions, score)
    contributions.sort(key=lambda c: (-c["share"], c["kind"], str(c.get("detector")), str(c.get("finding"))))
    return EntityRisk(entity, score, contributions, findings)


def _round_exactly(contributions: list[dict[str, Any]], score: float) -> None:
    """Round shares to 6 places; the largest absorbs the rest so that they sum to ``score`` exactly."""
    if not contributions:
        return
    for c in contributions:
        c["share"] = round(c["share"], 6)
    largest = max(range(len(contributions)), key=lambda i: contributions[i]["share"])
    rest = sum(c["share"] for i, c in enumerate(contributions) if i != largest)
    contributions[largest]["share"] = round(score - rest, 6)
