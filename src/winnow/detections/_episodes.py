"""Events of one kind on one host cut into episodes: what happened hours apart is another incident.

Endpoint detectors group events per (host, what, who); over a week or a month the same pair can
recur for unrelated reasons (a service installed in March and another in May). Cutting each group
where two consecutive events lie more than ``gap`` apart keeps each finding's time range, and its
evidence, to one burst of activity.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable


def episodes(rows: Iterable[dict], gap_hours: float) -> list[list[dict]]:
    """``rows`` (dicts with ``ts``) in time order, cut where consecutive rows are over ``gap_hours`` apart.

    Rows without a time go to the first episode; ``gap_hours`` <= 0 keeps one episode.
    """
    ordered = sorted(rows, key=lambda r: (r.get("ts") is not None, r.get("ts") or dt.datetime.min,
                                          r.get("record_id") or 0))
    out: list[list[dict]] = []
    last = None
    for row in ordered:
        ts = row.get("ts")
        if out and (ts is None or last is None or gap_hours <= 0 or (ts - last).total_seconds() <= gap_hours * 3600):
            out[-1].append(row)
        else:
            out.append([row])
        last = ts if ts is not None else last
    return out


def episode_label(rows: list[dict], split: bool) -> str:
    """`` (YYYY-MM-DD HH:MM)`` of the episode's first event when its group was split, else empty."""
    first = next((r["ts"] for r in rows if r.get("ts") is not None), None)
    return f" ({first:%Y-%m-%d %H:%M})" if split and first is not None else ""
