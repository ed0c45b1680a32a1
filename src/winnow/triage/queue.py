"""The triage queue: entities in review order, with why, their findings and what was already decided.

Entity risk is computed once per state of the findings store and cached in
``<lake>/_derived/risk.parquet``: one row per entity with its features (for the model), its score,
and its risk dict as JSON (decoded only for the rows shown). The cache is keyed by the findings
store's and the suppressions file's size and time, the window and the risk settings, so
``winnow queue`` reads it back instead of recomputing. Entities are ordered by the newest expert
model in the lake (``winnow model fit``) when there is one, else by entity risk; each row says which
(``ranked_by``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from winnow.triage.features import NAMES, entity_features

CACHE = Path("_derived") / "risk.parquet"
ROW_GROUP = 2048  # rows per Parquet row group: the queue reads the risk JSON of the row groups it shows


def _key(lake_root: Path, window: str | None, rules_file: Path) -> str:
    from winnow.config import current

    store = lake_root / "findings.duckdb"
    stamp = [store.stat().st_size, store.stat().st_mtime_ns] if store.exists() else []
    if rules_file.exists():
        stamp += [rules_file.stat().st_size, rules_file.stat().st_mtime_ns]
    settings = current().changed(("risk.", "networks.", "infrastructure."))
    return hashlib.sha256(json.dumps([stamp, window, settings], sort_keys=True).encode()).hexdigest()


def risk_table(lake_root: Path, window: str | None = None, suppressions: Path | None = None,
               columns: list[str] | None = None) -> pa.Table:
    """The cached risk table (``columns`` of it; see the module docstring), computed when missing or stale."""
    from winnow.engine import connect
    from winnow.lake import Lake
    from winnow.risk import lake_risk
    from winnow.scoring import suppress
    from winnow.store import FindingsStore

    lake_root = Path(lake_root)
    rules_file = suppressions or lake_root / suppress.FILE_NAME
    key = _key(lake_root, window, rules_file)
    cache = lake_root / CACHE
    if cache.exists():
        with contextlib.suppress(OSError, pa.ArrowInvalid):  # a damaged cache is computed again below
            if (pq.read_schema(cache).metadata or {}).get(b"key") == key.encode():
                return pq.read_table(cache, columns=columns)
    with FindingsStore(Lake.open(str(lake_root)), read_only=True) as findings_store:
        findings = findings_store.query()
    rules = suppress.load_rules(rules_file)
    if rules:
        findings, _ = suppress.apply(findings, rules)
    with connect("duckdb", lake_root) as engine:
        entities = [e.to_dict() for e in lake_risk(engine, findings, window)]
    columns: dict[str, list] = {"entity": [], "entity_type": [], "score": [], "risk": []}
    columns.update({f"f_{n}": [] for n in NAMES})
    for e in entities:
        columns["entity"].append(e["entity"])
        columns["entity_type"].append(e["entity_type"])
        columns["score"].append(e["score"])
        columns["risk"].append(json.dumps(e))
        for name, value in entity_features(e).items():
            columns[f"f_{name}"].append(value)
    table = pa.table(columns).replace_schema_metadata({"key": key})
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    pq.write_table(table, tmp, row_group_size=ROW_GROUP)
    tmp.replace(cache)
    return table.select(columns) if columns else table


def cached_risk(lake_root: Path, window: str | None = None, suppressions: Path | None = None) -> list[dict[str, Any]]:
    """Every entity's risk dict (``winnow risk --format json`` objects), riskiest first."""
    return [json.loads(text) for text in risk_table(lake_root, window, suppressions).column("risk").to_pylist()]


def queue(lake_root: Path, window: str | None = None, types: tuple[str, ...] = (), limit: int | None = None,
          suppressions: Path | None = None) -> list[dict[str, Any]]:
    """The first ``limit`` entities in review order (all when None; see the module docstring)."""
    import pyarrow.compute as pc

    from winnow.triage.model import load_model
    from winnow.triage.ratings import RatingStore

    table = risk_table(lake_root, window, suppressions,
                       columns=["entity_type", "score"] + [f"f_{n}" for n in NAMES])
    table = table.append_column("row", pa.array(np.arange(table.num_rows)))
    if types:
        table = table.filter(pc.is_in(table.column("entity_type"), pa.array(list(types))))
    model = load_model(lake_root)
    risk = np.asarray(table.column("score").to_numpy(zero_copy_only=False), dtype=float)
    if model is not None:
        features = {n: table.column(f"f_{n}").to_numpy(zero_copy_only=False) for n in NAMES}
        raw = model.raw_columns(features, table.num_rows)
        bounded = np.clip(raw, 0.0, 1.0)
        order = np.lexsort((-risk, -raw, -bounded))  # the raw output orders what the bound ties
    else:
        order = np.argsort(-risk, kind="stable")
    if limit is not None:
        order = order[:limit]
    with RatingStore(lake_root, read_only=True) as store:
        ratings = store.all() if store.path.exists() else []
    decided: dict[str, list[dict[str, Any]]] = {}
    for r in ratings:
        decided.setdefault(r.subject.lower(), []).append(
            {"analyst": r.analyst, "rating": r.rating, "source": r.source, "note": r.note, "at": r.created_at,
             "subject": r.subject})
    rows = table.column("row").to_numpy()[order]
    return [_row(json.loads(text), model, decided) for text in _risk_texts(Path(lake_root) / CACHE, rows)]


def _risk_texts(cache: Path, rows: np.ndarray) -> list[str]:
    """The risk JSON of ``rows`` (cache row numbers), reading only their row groups."""
    parquet = pq.ParquetFile(cache)
    groups: dict[int, pa.Array] = {}
    out = []
    for row in rows:
        group, offset = divmod(int(row), ROW_GROUP)
        if group not in groups:
            groups[group] = parquet.read_row_group(group, columns=["risk"]).column("risk")
        out.append(groups[group][offset].as_py())
    return out


def _row(e: dict[str, Any], model: Any, decided: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    findings = [c for c in e["contributions"] if c.get("kind") == "finding"]
    decisions = list(decided.get(f"{e['entity_type']}:{e['entity']}".lower(), []))
    for c in findings:
        decisions += decided.get(f"{c['detector']}:{c['finding']}".lower(), [])
    row = {"entity": e["entity"], "entity_type": e["entity_type"], "risk": e["score"], "findings": e["findings"],
           "detectors": e["detectors"],
           "top_findings": [{"detector": c["detector"], "finding": c["finding"], "score": c["finding_score"],
                             "why": c.get("why")} for c in findings[:3]],
           "decisions": decisions}
    if model is not None:
        explained = model.explain(entity_features(e))
        terms = "; ".join(t["text"] for t in explained["contributions"] if t["feature"] != "(average)")
        row.update(ranked_by="model", score=explained["score"], model=explained["model"],
                   why=f"{explained['score']:.2f} by model {explained['model']}: {terms}"[:400],
                   contributions=explained["contributions"])
    else:
        row.update(ranked_by="risk", score=e["score"], model=None, why=e["why"],
                   contributions=[{k: c[k] for k in ("kind", "detector", "finding", "reason", "share") if k in c}
                                  for c in e["contributions"]])
    return row


def risk_of(lake_root: Path, value: str, entity_type: str | None = None,
            window: str | None = None) -> dict[str, Any] | None:
    """The risk dict of the entity named ``value`` (of ``entity_type``, else the first type in ENTITY_TYPES order)."""
    from winnow.risk.entities import ENTITY_TYPES

    table = risk_table(lake_root, window, columns=["entity", "entity_type"])
    names = [n.lower() if n else n for n in table.column("entity").to_pylist()]
    types = table.column("entity_type").to_pylist()
    rows = [i for i, n in enumerate(names) if n == value.lower() and entity_type in (None, types[i])]
    if not rows:
        return None
    rows.sort(key=lambda i: ENTITY_TYPES.index(types[i]) if types[i] in ENTITY_TYPES else len(ENTITY_TYPES))
    return json.loads(_risk_texts(Path(lake_root) / CACHE, np.array(rows[:1]))[0])


def risk_scores(lake_root: Path, window: str | None = None) -> dict[tuple[str, str], float]:
    """Every entity's risk score by (type, lower-case name)."""
    table = risk_table(lake_root, window, columns=["entity", "entity_type", "score"])
    return {(t, (n or "").lower()): s for n, t, s in zip(table.column("entity").to_pylist(),
                                                         table.column("entity_type").to_pylist(),
                                                         table.column("score").to_pylist(), strict=True)}
