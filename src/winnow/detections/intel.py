"""Threat intel: the lake's addresses, domains, URLs, hashes, JA3, certificates, user agents and users
matched against indicator feeds at query time.

The feeds are the files of the folder the ``intel.feeds`` setting names (empty: ``<lake>/intel``; a
parameter of this detector, so each run records which folder it read),
read by :mod:`winnow.intel` on every run (CSV, Zeek intel, STIX 2.1, MISP JSON; a bad record is one
warning naming its file and line). The same value listed by several feeds is one indicator that
names every feed, with the highest confidence any of them gives. The indicators become one small
table joined against the lake in the engine (``_intel_match``); a domain matches its subdomains, a
subnet its addresses.

One finding per (indicator, local entity) — the host on our side of the traffic or the endpoint
that logged it — however many rows matched: the evidence lists every table and column that matched
with its row count and first/last seen. The score is the indicator's confidence placed in the
severity bands by ``high_confidence`` and ``medium_confidence``: a confidence at or above the first
is high (score 0.8-1), at or above the second medium (0.6-0.8), else low (0.4-0.6), so the
severity a feed's confidence earns is a setting.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

from winnow.addresses import is_address
from winnow.detections._intel_match import TABLES, indicator_table, matches
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.errors import WinnowError
from winnow.scoring import Finding

log = logging.getLogger(__name__)
VALUES_SHOWN = 10  # observed values (subdomains, subnet addresses) listed per matched column


@register
class Intel(Detector):
    """Args:
    feeds: folder of indicator files (CSV, Zeek intel, STIX 2.1, MISP JSON; formats in winnow/intel/) read at
        every run, so changing them needs no re-ingest; empty: <lake>/intel.
    default_confidence: confidence (0-100) of an indicator whose feed gives none.
    min_confidence: indicators below this confidence (0-100) are not matched.
    high_confidence: confidence (0-100) from which a match is a high-severity finding.
    medium_confidence: confidence (0-100) from which a match is a medium-severity finding (low below).
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "intel"
    description: ClassVar[str] = "addresses, domains, URLs, hashes, JA3 and user agents listed by threat intel feeds"
    tables: ClassVar[tuple[str, ...]] = TABLES

    def __init__(self, feeds: str = "", default_confidence: float = 50.0, min_confidence: float = 0.0,
                 high_confidence: float = 75.0, medium_confidence: float = 50.0, limit: int = 5000) -> None:
        self.feeds = feeds
        self.default_confidence = default_confidence
        self.min_confidence = min_confidence
        self.high_confidence = high_confidence
        self.medium_confidence = medium_confidence
        self.limit = limit

    def score(self, confidence: float) -> float:
        """The score a confidence earns: high, medium and low bands cut at the two settings."""
        c, high, medium = min(max(confidence, 0.0), 100.0), self.high_confidence, self.medium_confidence
        if c >= high:
            return 0.8 + 0.2 * (c - high) / max(100.0 - high, 1e-9)
        if c >= medium:
            return 0.6 + 0.2 * (c - medium) / max(high - medium, 1e-9)
        return 0.4 + 0.2 * c / max(medium, 1e-9)

    def indicators(self, engine: Engine) -> list[dict[str, Any]]:
        """The feeds' indicators, one per (kind, value), with their feeds and confidence."""
        from winnow.intel import load_feeds

        folder = Path(self.feeds) if self.feeds else engine.lake.root / "intel"
        if not folder.exists():
            if self.feeds:
                raise WinnowError(f"intel.feeds names {folder}, which does not exist")
            log.info("no intel feeds: %s does not exist", folder)
            return []
        feeds = load_feeds(folder)
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        names = {f: Path(f).name for f in feeds.files}
        for ind in feeds.indicators:
            confidence = self.default_confidence if ind.confidence is None else ind.confidence
            entry = merged.setdefault((ind.kind, ind.value), {"kind": ind.kind, "value": ind.value, "feeds": [],
                                                              "confidence": confidence})
            entry["confidence"] = max(entry["confidence"], confidence)
            named = {"feed": ind.feed, "confidence": confidence, "source": ind.source,
                     "description": ind.description, "file": names[ind.file], "line": ind.line}
            if named not in entry["feeds"]:
                entry["feeds"].append(named)
        kept = [e for e in merged.values() if e["confidence"] >= self.min_confidence]
        return sorted(kept, key=lambda e: (-self.score(e["confidence"]), e["kind"], e["value"]))  # id = rank

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        listed = self.indicators(engine)
        if not listed:
            return []
        expr = matches(engine, window, indicator_table([e["kind"] for e in listed], [e["value"] for e in listed]))
        if expr is None:
            return []
        # ids are ranks (highest score first): only the first ``limit`` (indicator, local entity) pairs come back
        pairs = expr.select("id", "local").distinct().order_by(["id", "local"]).limit(self.limit)
        kept = expr.semi_join(pairs, ["id", "local"])
        rows = fetch(kept.order_by(["id", "local", "tbl", "col", "value"])).to_pylist()
        groups: dict[tuple[int, str], dict[tuple[str, str], dict]] = {}
        for r in rows:
            per = groups.setdefault((r["id"], r["local"]), {})
            hit = per.setdefault((r["tbl"], r["col"]), {**r, "n": 0, "values": []})
            hit["n"] += r["n"]
            hit["first_seen"] = min(hit["first_seen"], r["first_seen"])
            hit["last_seen"] = max(hit["last_seen"], r["last_seen"])
            hit["values"].append(r["value"])
        return [self._finding(listed[i], local, list(hits.values())) for (i, local), hits in groups.items()]

    def _finding(self, indicator: dict[str, Any], local: str, hits: list[dict]) -> Finding:
        kind, value, confidence = indicator["kind"], indicator["value"], indicator["confidence"]
        score = self.score(confidence)
        first = min(h["first_seen"] for h in hits)
        last = max(h["last_seen"] for h in hits)
        total = sum(h["n"] for h in hits)
        feeds = indicator["feeds"]
        seen = [{"table": h["tbl"], "column": h["col"], "rows": h["n"], "first_seen": h["first_seen"],
                 "last_seen": h["last_seen"], "values": h["values"][:VALUES_SHOWN], "distinct_values": len(h["values"])}
                for h in hits]
        evidence: dict[str, Any] = {
            "indicator": value, "type": kind, "confidence": confidence, "feeds": feeds,
            "local": local, "rows": total, "matched": seen,
        }
        where = ", ".join(f"{h['tbl']} {h['col']} ({h['n']})" for h in hits)
        named = ", ".join(sorted({f["feed"] for f in feeds}))
        about = next((f["description"] for f in feeds if f["description"]), "")
        why = (f"{local} met {value} ({kind.replace('_', ' ')}"
               + (f": {about}" if about else "")
               + f"), listed by {named} with confidence {confidence:g}, in {total} row{'s' * (total != 1)}: {where}")
        local_is_address = is_address(local)
        return Finding(
            detector=self.name, score=score, entity=f"{value} @ {local}", first_seen=first, last_seen=last,
            components={"confidence": score}, evidence=evidence, why=why,
            src=local if local_is_address else None,
            dst=value if local_is_address and kind == "ip" else None,
            host=None if local_is_address else local, user=value if kind == "user" else None,
        )
