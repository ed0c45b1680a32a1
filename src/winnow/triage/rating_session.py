"""A rating session: the cards on offer and the next one to show (``winnow rate`` and the web workbench)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from winnow.triage.ratings import Rating


def candidates(lake_root: Path, synthetic: bool = True) -> list[dict[str, Any]]:
    """Cards to rate: every entity with risk, and with ``synthetic`` the scenarios designed around them."""
    from winnow.triage import design
    from winnow.triage.features import entity_features
    from winnow.triage.queue import cached_risk

    real = [{"id": f"{e['entity_type']}:{e['entity']}", "kind": "entity", "features": entity_features(e),
             "card": {"title": f"{e['entity_type']} {e['entity']}", "facts": [e["why"]]}}
            for e in cached_risk(lake_root, None)]
    out = list(real)
    if synthetic:
        out += [{**s, "kind": "scenario"} for s in design.scenarios([r["features"] for r in real], 200)]
    return out


def next_card(offered: list[dict[str, Any]], ratings: list[Rating]) -> dict[str, Any] | None:
    """The card the model is least sure about, or one two analysts disagree on; None when all are rated."""
    from winnow.triage import design

    rows, values = [r.features for r in ratings], [r.rating for r in ratings]
    argued = disputed(ratings)
    chosen = design.pick(offered, rows, values, k=1, seed=len(ratings),
                         disputed=[c for c in offered if c["id"].lower() in argued])
    return chosen[0] if chosen else None


def disputed(ratings: list[Rating]) -> set[str]:
    """Subjects two analysts rated two or more points apart."""
    by: dict[str, dict[str, int]] = {}
    for r in ratings:
        by.setdefault(r.subject.lower(), {})[r.analyst] = r.rating
    return {s for s, who in by.items() if len(who) > 1 and max(who.values()) - min(who.values()) >= 2}


def rate(lake_root: Path, card: dict[str, Any], rating: int, analyst: str, note: str | None = None) -> Rating:
    """Store ``analyst``'s ``rating`` (1-5) of ``card`` (committed at once)."""
    from winnow.triage.ratings import RatingStore

    stored = Rating(card["kind"], card["id"], int(rating), analyst, card["features"], card["card"], note or None)
    with RatingStore(lake_root) as store:
        store.add(stored)
    return stored
