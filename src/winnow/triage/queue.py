"""The triage queue: entities in review order, with why, their findings and what was already decided.

Entity risk is computed once per state of the findings store and cached in
``<lake>/_derived/risk.json`` (keyed by the store file's size and time and the risk settings), so
``winnow queue`` only reads it back. Entities are ordered by the newest expert model in the lake
(``winnow model fit``) when there is one, else by entity risk; each row says which (``ranked_by``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from winnow.triage.features import entity_features

CACHE = Path("_derived") / "risk.json"


def cached_risk(lake_root: Path, window: str | None, suppressions: Path | None = None) -> list[dict[str, Any]]:
    """Every entity's risk dict (``winnow risk --format json``), from the cache when it is current."""
    from winnow.config import current
    from winnow.engine import connect
    from winnow.risk import lake_risk
    from winnow.scoring import suppress
    from winnow.store import FindingsStore

    lake_root = Path(lake_root)
    store = lake_root / "findings.duckdb"
    rules_file = suppressions or lake_root / suppress.FILE_NAME
    stamp = [store.stat().st_size, store.stat().st_mtime_ns] if store.exists() else []
    if rules_file.exists():
        stamp += [rules_file.stat().st_size, rules_file.stat().st_mtime_ns]
    settings = current().changed(("risk.", "networks.", "infrastructure."))
    key = hashlib.sha256(json.dumps([stamp, window, settings], sort_keys=True).encode()).hexdigest()
    cache = lake_root / CACHE
    if cache.exists():
        try:
            data = json.loads(cache.read_text(encoding="utf-8"))
            if data.get("key") == key:
                return data["entities"]
        except ValueError:
            pass
    from winnow.lake import Lake

    lake = Lake.open(str(lake_root))
    with FindingsStore(lake, read_only=True) as findings_store:
        findings = findings_store.query()
    rules = suppress.load_rules(rules_file)
    if rules:
        findings, _ = suppress.apply(findings, rules)
    with connect("duckdb", lake_root) as engine:
        entities = [e.to_dict() for e in lake_risk(engine, findings, window)]
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": key, "entities": entities}), encoding="utf-8")
    tmp.replace(cache)
    return entities


def queue(lake_root: Path, window: str | None = None, types: tuple[str, ...] = (),
          suppressions: Path | None = None) -> list[dict[str, Any]]:
    """Entities in review order (see the module docstring)."""
    from winnow.triage.model import load_model
    from winnow.triage.ratings import RatingStore

    entities = [e for e in cached_risk(lake_root, window, suppressions) if not types or e["entity_type"] in types]
    model = load_model(lake_root)
    with RatingStore(lake_root, read_only=True) as store:
        ratings = store.all() if store.path.exists() else []
    decided: dict[str, list[dict[str, Any]]] = {}
    for r in ratings:
        decided.setdefault(r.subject.lower(), []).append(
            {"analyst": r.analyst, "rating": r.rating, "source": r.source, "note": r.note, "at": r.created_at,
             "subject": r.subject})
    rows = []
    for e in entities:
        subject = f"{e['entity_type']}:{e['entity']}"
        findings = [c for c in e["contributions"] if c.get("kind") == "finding"]
        decisions = list(decided.get(subject.lower(), []))
        for c in findings:
            decisions += decided.get(f"{c['detector']}:{c['finding']}".lower(), [])
        row = {"entity": e["entity"], "entity_type": e["entity_type"], "risk": e["score"],
               "findings": e["findings"], "detectors": e["detectors"],
               "top_findings": [{"detector": c["detector"], "finding": c["finding"], "score": c["finding_score"],
                                 "why": c.get("why")} for c in findings[:3]],
               "decisions": decisions}
        if model is not None:
            explained = model.explain(entity_features(e))
            row.update(ranked_by="model", score=explained["score"], order=explained["raw"], model=explained["model"],
                       why=f"{explained['score']:.2f} by model {explained['model']}: " + "; ".join(
                           t["text"] for t in explained["contributions"] if t["feature"] != "(average)")[:400],
                       contributions=explained["contributions"])
        else:
            row.update(ranked_by="risk", score=e["score"], order=e["score"], model=None, why=e["why"],
                       contributions=[{k: c[k] for k in ("kind", "detector", "finding", "reason", "share") if k in c}
                                      for c in e["contributions"]])
        rows.append(row)
    # the unbounded model output orders entities the bound would tie (several at 1.0)
    rows.sort(key=lambda r: (-r["score"], -r["order"], -r["risk"], r["entity_type"], r["entity"]))
    for r in rows:
        del r["order"]
    return rows
