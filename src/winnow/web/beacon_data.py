"""A source -> destination pair seen as a beacon: its connections, intervals, period and jitter, sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

HISTOGRAM_BINS = 40


def beacon_data(engine: Any, lake: Path, src: str, dst: str, dport: int | None = None) -> dict[str, Any]:
    """The beacon page's data: one point per connection (the earliest ``web.beacon_points``), and the estimate,
    read through ``engine`` (DuckDB over ``lake``)."""
    from winnow.config import current
    from winnow.engine import fetch
    from winnow.errors import WinnowError

    limit = current().get("web.beacon_points")
    conn = engine.table("net.conn")
    if conn is None:
        raise WinnowError("no net.conn in the lake: ingest network logs (Zeek conn, NetFlow) first")
    pair = conn.filter((conn.src_ip == src) & (conn.dst_ip == dst))
    if dport is not None:
        pair = pair.filter(pair.dst_port == dport)
    rows = fetch(pair.order_by("ts").limit(limit + 1).select("ts", "dst_port", "src_bytes", "dst_bytes", "duration",
                                                            "conn_state")).to_pylist()
    total = len(rows) if len(rows) <= limit else int(fetch(pair.aggregate(n=pair.count())).column("n")[0].as_py())
    rows = rows[:limit]
    times = np.array([r["ts"].timestamp() for r in rows], dtype=float)
    intervals = np.diff(times)
    title = f"{src} -> {dst}" + (f":{dport}" if dport is not None else "")
    return {"title": f"beacon {title}", "src": src, "dst": dst, "dport": dport, "connections": total,
            "shown": len(rows), "estimate": estimate(intervals), "histogram": histogram(intervals),
            "series": {"ts": times.tolist(), "src_bytes": [r["src_bytes"] for r in rows],
                       "dst_bytes": [r["dst_bytes"] for r in rows], "duration": [r["duration"] for r in rows]},
            "ports": sorted({r["dst_port"] for r in rows if r["dst_port"] is not None}),
            "findings": _findings(lake, src, dst, dport)}


def pair_of(entity: str) -> tuple[str, str, int | None] | None:
    """(src, dst, port) of a network finding's entity ``src->dst[:port]``; None for any other entity."""
    src, arrow, rest = entity.partition("->")
    if not arrow or not rest:
        return None
    dst, _, port = rest.partition(":")
    port = port.split("/", 1)[0]
    return src, dst, int(port) if port.isdigit() else None


def estimate(intervals: np.ndarray) -> dict[str, float | None]:
    """Period (the median interval) and jitter (1.4826 × the median absolute deviation), in seconds."""
    if intervals.size == 0:
        return {"period_s": None, "jitter_s": None, "mean_s": None, "intervals": 0}
    period = float(np.median(intervals))
    return {"period_s": period, "jitter_s": float(1.4826 * np.median(np.abs(intervals - period))),
            "mean_s": float(intervals.mean()), "intervals": int(intervals.size)}


def histogram(intervals: np.ndarray) -> dict[str, list[float]]:
    """Counts of intervals in equal bins up to 1.5 × their 99th percentile (longer gaps in the last bin)."""
    if intervals.size == 0:
        return {"edges": [], "counts": []}
    top = max(float(np.percentile(intervals, 99)) * 1.5, 1.0)
    counts, edges = np.histogram(np.minimum(intervals, top), bins=HISTOGRAM_BINS, range=(0.0, top))
    return {"edges": edges[:-1].tolist(), "counts": counts.astype(float).tolist()}


def _findings(lake: Path, src: str, dst: str, dport: int | None) -> list[dict[str, Any]]:
    """Stored findings about the pair (any detector)."""
    from winnow.lake import Lake
    from winnow.store import FindingsStore

    with FindingsStore(Lake.open(str(lake)), read_only=True) as store:
        return [f for f in store.query() if f.get("src") == src and f.get("dst") == dst
                and (dport is None or f.get("dport") in (None, dport))]
