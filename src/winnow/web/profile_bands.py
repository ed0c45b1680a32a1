"""An entity's profiles (:mod:`winnow.profiles`) as charts against a baseline band.

The band of an hour of the day is the median of the entity's own values at that hour over the
stored days, ± 1.4826 × their median absolute deviation, on log1p values as the baseline detector
judges them (so a band never goes below zero).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def bands(lake: Path, subject: Any) -> list[dict[str, Any]]:
    """One chart per profile that covers ``subject``: hours, values, band low and high."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from winnow.profiles import profiles, read_profile

    keys = {"src_ip": list(subject.addresses), "host": [subject.host] if subject.host else [],
            "user": [subject.user] if subject.user else []}
    if subject.type == "process":
        return []
    out = []
    for profile in profiles():
        names = {n.lower() for n in keys.get(profile.entity, []) if n}
        if not names:
            continue
        table = read_profile(Path(lake), profile.name)
        if table.num_rows == 0:
            continue
        rows = table.filter(pc.is_in(pc.utf8_lower(table.column("entity")), pa.array(sorted(names))))
        if rows.num_rows == 0:
            continue
        rows = rows.sort_by("hour")
        hours = rows.column("hour").to_pylist()
        values = np.asarray(rows.column("value").to_numpy(zero_copy_only=False), dtype=float)
        low, high = _band([h.hour for h in hours], values)
        out.append({"profile": profile.name, "unit": profile.unit, "entity_column": profile.entity,
                    "hours": [h.timestamp() for h in hours], "values": values.tolist(), "low": low, "high": high})
    return out


def _band(hour_of_day: list[int], values: np.ndarray) -> tuple[list[float], list[float]]:
    logs = np.log1p(np.maximum(values, 0.0))
    hod = np.asarray(hour_of_day)
    low, high = np.zeros(len(values)), np.zeros(len(values))
    for h in range(24):
        at = hod == h
        if not at.any():
            continue
        med = np.median(logs[at])
        spread = 1.4826 * np.median(np.abs(logs[at] - med))
        low[at], high[at] = np.expm1(max(med - spread, 0.0)), np.expm1(med + spread)
    return low.tolist(), high.tolist()
