"""Sigma: the rules of a folder (SigmaHQ's, or your own) over the endpoint tables, on any engine.

Rules are parsed by pySigma and compiled to Ibis predicates (:mod:`winnow.sigma`); the rules of one log
source are evaluated in one scan. Matches are grouped per (rule, host), so a rule that matches 10,000 events
on a host is one finding with the count. The score is the rule's level (``score_<level>``: critical and high
rules make high findings, medium ones medium...), and the finding carries the rule's id, title, references
and ATT&CK tags, the table, the event count, the event ids and a few example events.

Sigma correlation rules (event_count, value_count, temporal) are applied to the matched events of the
rules they reference (:mod:`winnow.sigma.correlate`) and make findings of their own.

Rules Winnow cannot run are counted and listed by ``winnow sigma --check``; the detector logs how many.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window
from winnow.errors import WinnowError
from winnow.scoring import Finding

log = logging.getLogger(__name__)

#: evidence columns of an example event, when present
EXAMPLE_COLUMNS = ("ts", "event_id", "record_id", "channel", "user", "image")


@register
class SigmaRules(Detector):
    """Args:
    rules: folder (or file) of Sigma rules; empty: the lake's own ``<lake>/sigma`` folder, and nothing
        when it does not exist.
    score_informational: score of a finding of an informational rule (info severity).
    score_low: score of a finding of a low rule (low severity).
    score_medium: score of a finding of a medium rule (medium severity).
    score_high: score of a finding of a high rule (high severity).
    score_critical: score of a finding of a critical rule (high severity, ranked above high rules).
    rules_per_scan: most rules of one log source evaluated in one query.
    examples: example events kept as evidence per finding.
    """

    name: ClassVar[str] = "sigma"
    description: ClassVar[str] = "Sigma rules (pySigma-parsed, compiled to Ibis) over win.event and the proc tables"
    tables: ClassVar[tuple[str, ...]] = ("win.event", "proc.exec", "proc.net", "proc.file")

    def __init__(self, rules: str = "", score_informational: float = 0.3, score_low: float = 0.5,
                 score_medium: float = 0.7, score_high: float = 0.85, score_critical: float = 0.95,
                 rules_per_scan: int = 200, examples: int = 3) -> None:
        self.rules = rules
        self.score_informational = score_informational
        self.score_low = score_low
        self.score_medium = score_medium
        self.score_high = score_high
        self.score_critical = score_critical
        self.rules_per_scan = rules_per_scan
        self.examples = examples

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        folder = Path(self.rules) if self.rules else engine.lake.root / "sigma"
        if not self.rules and not folder.is_dir():
            return []
        try:
            from winnow.sigma.rules import load_rules
        except ImportError as exc:
            raise WinnowError(f"the sigma detector needs pySigma: pip install 'winnow[sigma]' ({exc})") from exc
        ruleset = load_rules(folder)
        if ruleset.problems:
            log.warning("sigma: %d of %d rules cannot run (winnow sigma --check --rules %s lists them)",
                        len(ruleset.problems), ruleset.total, folder)
        return self.find_rules(engine, window, ruleset)

    def find_rules(self, engine: Engine, window: Window, ruleset: Any) -> list[Finding]:
        """Findings of the compiled rules of ``ruleset`` (a :class:`winnow.sigma.rules.RuleSet`)."""
        from winnow.sigma.correlate import correlate
        from winnow.sigma.scan import scan

        findings: list[Finding] = []
        matched: dict[str, pa.Table] = {}
        for matches in scan(engine, ruleset.rules, window, self.rules_per_scan):
            for index, compiled in enumerate(matches.rules):
                rows = matches.of(index)
                if rows.num_rows == 0:
                    continue
                matched[compiled.rule_id] = rows
                findings.extend(self._findings(compiled.rule, matches.source.table, rows))
        for corr, groups in correlate(ruleset.correlations, matched):
            findings.extend(self._correlation_finding(corr, key, rows) for key, rows in groups)
        findings.sort(key=lambda f: (-f.score, f.entity))  # engines return rows in no particular order
        return findings

    def _findings(self, rule: Any, table: str, rows: pa.Table) -> list[Finding]:
        order = [(c, "ascending") for c in ("ts", "record_id", "host") if c in rows.column_names]
        rows = rows.sort_by(order) if order else rows
        by_host: dict[str, list[int]] = defaultdict(list)
        for i, host in enumerate(rows.column("host").to_pylist() if "host" in rows.column_names else []):
            by_host[host or "?"].append(i)
        return [self._finding(rule, table, host, rows.take(indices)) for host, indices in by_host.items()]

    def _finding(self, rule: Any, table: str, host: str, rows: pa.Table, extra: dict | None = None) -> Finding:
        level = rule.level.name.lower() if getattr(rule, "level", None) else "medium"
        score = float(getattr(self, f"score_{level}", self.score_medium))
        ts = [t for t in rows.column("ts").to_pylist() if t is not None] if "ts" in rows.column_names else []
        event_ids = sorted({e for e in rows.column("event_id").to_pylist() if e is not None}) \
            if "event_id" in rows.column_names else []
        keep = [c for c in EXAMPLE_COLUMNS if c in rows.column_names]
        evidence = {
            "rule_id": str(rule.id) if rule.id else None, "title": rule.title, "level": level,
            "references": [str(r) for r in (rule.references or [])][:5],
            "tags": [f"{t.namespace}.{t.name}" for t in (rule.tags or [])],
            "table": table, "events": rows.num_rows, "event_ids": event_ids,
            "examples": rows.select(keep).slice(0, self.examples).to_pylist(),
            **(extra or {}),
        }
        ids = f" (event id {', '.join(map(str, event_ids[:5]))})" if event_ids else ""
        why = (f"Sigma rule \"{rule.title}\" (level {level}) matched {rows.num_rows} {table} "
               f"event{'s' if rows.num_rows != 1 else ''}{ids} on {host}")
        return Finding(detector=self.name, score=score, entity=f"{host}: {rule.title}", host=host,
                       first_seen=min(ts) if ts else None, last_seen=max(ts) if ts else None,
                       components={"level": score}, evidence=evidence, why=why)

    def _correlation_finding(self, corr: Any, key: dict, rows: pa.Table) -> Finding:
        host = str(key.get("host") or key.get("Computer") or next(iter(key.values()), "?"))
        extra = {"correlation": corr.type.name.lower(), "group": {k: str(v) for k, v in key.items()}}
        return self._finding(corr, "correlation", host, rows, extra)
