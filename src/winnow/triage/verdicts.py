"""Verdicts: an analyst's tp/fp on a finding or an entity, stored as a rating, optionally a suppression.

A subject is written as the CLI shows it: ``DETECTOR:ENTITY`` for a finding (``beacon:10.1.0.5->
203.0.113.9:443``) or ``TYPE:VALUE`` for an entity (``host:ws01``, ``user:alice``, ``external:203.0.113.9``).
A verdict is a rating (tp -> 5, fp -> 1, source ``verdict``) with the subject's features, so the
expert model learns from it. ``fp --suppress`` also appends a rule to the lake's suppressions file,
marked with the rating's id so that it is visible there and ``--undo`` removes it again.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from winnow.addresses import is_address
from winnow.errors import WinnowError
from winnow.risk.entities import ENTITY_TYPES
from winnow.triage.features import entity_features

if TYPE_CHECKING:
    from winnow.triage.ratings import Rating

RATING = {"tp": 5, "fp": 1}
_MARK = "# verdict "


def resolve(lake_root: Path, subject: str, window: str | None = None) -> tuple[str, str, dict[str, Any]]:
    """(kind, canonical subject, the finding or entity risk dict) for a subject as typed."""
    from winnow.detections import detectors
    from winnow.triage.queue import cached_risk

    prefix, _, rest = subject.partition(":")
    if not rest:
        raise WinnowError(f"{subject!r}: write DETECTOR:ENTITY for a finding or TYPE:VALUE for an entity "
                          f"(types: {', '.join(ENTITY_TYPES)})")
    if prefix in ENTITY_TYPES:
        for e in cached_risk(lake_root, window):
            if e["entity_type"] == prefix and e["entity"].lower() == rest.lower():
                return "entity", f"{prefix}:{e['entity']}", e
        raise WinnowError(f"{subject}: no such entity in the lake's risk (see 'winnow risk --type {prefix}')")
    if prefix in detectors():
        from winnow.lake import Lake
        from winnow.store import FindingsStore

        with FindingsStore(Lake.open(str(lake_root)), read_only=True) as store:
            for f in store.query(detectors=[prefix]):
                if f["entity"].lower() == rest.lower():
                    return "finding", f"{prefix}:{f['entity']}", f
        raise WinnowError(f"{subject}: no such finding (see 'winnow findings --detector {prefix}')")
    raise WinnowError(f"{subject!r}: {prefix!r} is neither a detector nor an entity type ({', '.join(ENTITY_TYPES)})")


def features_of(kind: str, item: dict[str, Any]) -> dict[str, float]:
    """Features of an entity risk dict, or of one finding seen as an entity with that finding alone."""
    if kind == "entity":
        return entity_features(item)
    as_entity = {"contributions": [{"kind": "finding", "detector": item["detector"], "finding": item["entity"],
                                    "finding_score": item["score"], "why": item.get("why"),
                                    "first_seen": item.get("first_seen"), "last_seen": item.get("last_seen")}]}
    return entity_features(as_entity)


def suppression_rule(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    """The allow-list rule that hides what an fp verdict was about."""
    if kind == "finding":
        name = (item.get("evidence") or {}).get("server_name")
        if name:
            return {"domain": name, "detectors": [item["detector"]]}
        for address in (item.get("dst"), item.get("src")):  # the destination, else the source (a host name is no rule)
            if address and is_address(address):
                return {"cidr": _host_cidr(address), "detectors": [item["detector"]]}
    elif item["entity_type"] in ("ip", "external"):
        return {"cidr": _host_cidr(item["entity"])}
    elif item["entity_type"] == "domain":
        return {"domain": item["entity"]}
    raise WinnowError("a suppression can name an address or a domain; this subject has neither "
                      "(the verdict can still be stored without --suppress)")


def _host_cidr(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise WinnowError(f"{address!r} is not an address, so no allow-list rule can name it "
                          "(the verdict can still be stored without --suppress)") from None
    return f"{address}/{32 if ip.version == 4 else 128}"


def add_suppression(path: Path, rule: dict[str, Any], rating_id: str, reason: str) -> str:
    """Append ``rule`` to the suppressions file, marked with ``rating_id``; returns the text written."""
    import json

    lines = [f"{_MARK}{rating_id}", "[[rule]]"]
    for key, value in rule.items():
        lines.append(f"{key} = {json.dumps(value)}")
    lines += [f"reason = {json.dumps(reason)}", "factor = 0.0", f"{_MARK}{rating_id} end", ""]
    text = "\n".join(lines)
    with path.open("a", encoding="utf-8") as out:
        out.write(("\n" if path.exists() and path.stat().st_size else "") + text)
    from winnow.scoring import suppress

    suppress.load_rules(path)  # the file still parses
    return text


def remove_suppression(path: Path, rating_id: str) -> bool:
    """Remove the rule marked with ``rating_id``; False when there is none."""
    if not path.exists():
        return False
    out, skipping, found = [], False, False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() == f"{_MARK}{rating_id}":
            skipping = found = True
            continue
        if skipping:
            if line.strip() == f"{_MARK}{rating_id} end":
                skipping = False
            continue
        out.append(line)
    if found:
        path.write_text("\n".join(out).strip("\n") + ("\n" if out else ""), encoding="utf-8")
    return found


def record(lake_root: Path, subject: str, verdict: str, note: str | None = None, analyst: str | None = None,
           suppress: bool = False) -> Rating:
    """Store a tp/fp verdict on ``subject`` (and with ``suppress``, its allow-list rule); returns the rating."""
    from winnow.scoring import suppress as allow
    from winnow.triage.ratings import Rating, RatingStore, default_analyst

    if verdict not in RATING:
        raise WinnowError(f"verdict {verdict!r}: give tp or fp")
    if suppress and verdict != "fp":
        raise WinnowError("a suppression goes with an fp verdict")
    analyst = analyst or default_analyst()
    kind, canonical, item = resolve(lake_root, subject)
    card = {"title": canonical, "why": item.get("why"), "score": item.get("score")}
    rating = Rating(kind, canonical, RATING[verdict], analyst, features_of(kind, item), card, note or None,
                    source="verdict")
    if suppress:
        rules = Path(lake_root) / allow.FILE_NAME
        reason = f"verdict fp by {analyst} on {canonical}" + (f": {note}" if note else "")
        add_suppression(rules, suppression_rule(kind, item), rating.rating_id, reason)
        rating.suppression = str(rules)
    with RatingStore(lake_root) as store:
        store.add(rating)
    return rating


def undo(lake_root: Path, subject: str, analyst: str | None = None) -> int:
    """Remove ``analyst``'s verdicts on ``subject`` and their suppressions; returns how many."""
    from winnow.scoring import suppress as allow
    from winnow.triage.ratings import RatingStore, default_analyst

    analyst = analyst or default_analyst()
    with RatingStore(lake_root) as store:
        mine = [r for r in store.all() if r.source == "verdict" and r.analyst == analyst
                and r.subject.lower() == subject.lower()]
        for r in mine:
            remove_suppression(Path(lake_root) / allow.FILE_NAME, r.rating_id)
            store.remove(r.rating_id)
    return len(mine)
