"""IDS alert records (Python dicts from EVE or Snort) -> ``ids.alert`` batches, and ATT&CK ids from rule metadata."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from winnow.sources.base import Batch, ParseContext
from winnow.sources.table_batch import table_batch

#: rule-metadata keys whose values are ATT&CK ids (ET Open / ETPRO ``metadata:`` keywords)
ATTACK_KEYS = ("mitre_technique_id", "mitre_tactic_id")


def attack_ids(metadata: object) -> list[str] | None:
    """Sorted ATT&CK technique and tactic ids named in a rule's metadata object (None when none)."""
    if not isinstance(metadata, dict):
        return None
    found: set[str] = set()
    for key in ATTACK_KEYS:
        values = metadata.get(key)
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, str) and value.strip():
                found.add(value.strip().upper())
    return sorted(found) or None


def metadata_text(metadata: object) -> str | None:
    """Rule metadata as compact JSON text (None when absent)."""
    if not metadata:
        return None
    return json.dumps(metadata, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _array(values: list | pa.Array) -> pa.Array:
    """Typed when the values agree, else text (a bad value is then reported by the type conversion)."""
    if isinstance(values, pa.Array):
        return values
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def alert_batch(rows: list[dict], lines: list[int], ctx: ParseContext) -> Batch | None:
    """An ``ids.alert`` batch from dicts keyed by column name; ``sensor`` and ``extra`` (a dict) are optional keys."""
    if not rows:
        return None
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    columns = {name: [row.get(name) for row in rows] for name in names if name not in ("extra", "sensor")}
    extra_keys: dict[str, None] = {}
    for row in rows:
        extra_keys.update(dict.fromkeys(row.get("extra") or {}))
    extra = {key: [(row.get("extra") or {}).get(key) for row in rows] for key in extra_keys}
    sensor = [row.get("sensor") for row in rows] if "sensor" in names else None
    return column_batch(columns, extra, lines, ctx, sensor)


def column_batch(columns: dict[str, list | pa.Array], extra: dict[str, list | pa.Array], lines: list[int] | np.ndarray,
                 ctx: ParseContext, sensor: list | None = None) -> Batch | None:
    """An ``ids.alert`` batch from the values (Python lists or arrays) per column and per ``extra`` field."""
    return table_batch("ids.alert", {name: _array(v) for name, v in columns.items()},
                       np.asarray(lines, dtype=np.int64), ctx, {key: _array(v) for key, v in extra.items()},
                       None if sensor is None else _array(sensor))
