"""Per-channel beacon statistics: the numpy work behind the beacon detector.

Input: one channel's connections (timestamps, sizes, ports). Steps:

1. **Collapse bursts.** Connections closer than ``burst_gap`` to the previous one are tasking
   or retries, not callbacks; the first connection of each burst is the callback.
2. **Estimate the period** as the median of the densest window of log-intervals of width
   ``log(3)`` (a ±50 % jitter band). Missed callbacks make intervals of 2P, 3P…; they fall
   outside the band and do not move the estimate.
3. **Timing sub-score** from two robust facts of a beacon: it never calls back much sooner than
   its period (10th-percentile interval / P, against 0.1 for a Poisson process) and, after
   dividing intervals by their nearest multiple of P, their spread (IQR / median) is small.
4. **Size sub-score**: robust spread (IQR / median) of bytes sent and received per callback,
   relative, so Argus (header bytes) and Zeek (payload) give the same answer; a channel the
   server never answers has constant (zero) replies.
5. **Persistence sub-score**: how many callbacks, over how many periods (partial-day beacons
   are not penalised for the hours they were silent, only for having few callbacks).
6. **Confidence**: ``1 - exp(-(callbacks - 1) / CONFIDENCE_SCALE)``, how much a few callbacks can
   say: 6 give 0.57, a dozen 0.84, 25 or more about 1.

Flows without ports (ARP, IGMP, ICMP in Argus) have ``dport`` None.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

BAND = math.log(3.0)
#: callbacks at which the count part of persistence is full: more callbacks, more certainty
FULL_EVIDENCE = 200
#: callbacks over which confidence in a schedule grows (1 - e^-1 after this many intervals)
CONFIDENCE_SCALE = 6.0


def estimate_period(intervals: np.ndarray) -> float:
    """Period of a callback sequence with jitter and missed callbacks.

    Start from the median of the densest ``log(3)``-wide window of log intervals, then refine
    as total time over the number of periods it spans (each interval counts as its nearest
    whole number of periods) when at least a tenth of the intervals look like missed callbacks:
    that removes their pull on the first guess.
    """
    logs = np.sort(np.log(intervals))
    ends = np.searchsorted(logs, logs + BAND, side="right")
    start = int(np.argmax(ends - np.arange(len(logs))))
    period = float(np.exp(np.median(logs[start : ends[start]])))
    main = intervals[(intervals >= period / 3.0) & (intervals <= period * 4.0)]
    if len(main) < 3 or np.mean(main > 1.6 * period) < 0.1:
        return period
    for _ in range(8):
        periods = np.maximum(1.0, np.round(main / period))
        refined = float(main.sum() / periods.sum())
        if abs(refined - period) < 1e-9 * period:
            break
        period = refined
    return period


def quantiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """Linear-interpolated quantiles (numpy's default method) from one sort; faster than np.percentile."""
    ordered = np.sort(values)
    last = len(ordered) - 1
    out = []
    for q in qs:
        pos = q * last
        lo = int(pos)
        hi = min(lo + 1, last)
        out.append(float(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)))
    return out


def robust_spread(values: np.ndarray) -> float:
    """(q75 - q25) / median; 0 for constant values, large for scattered ones."""
    q25, q50, q75 = quantiles(values, (0.25, 0.5, 0.75))
    return float((q75 - q25) / q50) if q50 > 0 else (0.0 if q75 == q25 else 10.0)


def _histogram(intervals: np.ndarray) -> dict[str, list]:
    lo, hi = max(float(intervals.min()), 1e-3), max(float(intervals.max()), 1e-3)
    edges = np.geomspace(lo, hi * 1.0001, 9) if hi > lo * 1.01 else np.array([lo, hi * 1.0001 + 1e-3])
    counts, _ = np.histogram(intervals, bins=edges)
    return {"edges_s": [round(float(e), 3) for e in edges], "counts": [int(c) for c in counts]}


def _floats(values: np.ndarray) -> np.ndarray:
    """Numbers as float64 with NaN for missing ones (None in object arrays)."""
    values = np.asarray(values)
    if values.dtype == object:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return values.astype(np.float64)


def channel_stats(cols: dict[str, np.ndarray], min_callbacks: int, max_burst_gap: float) -> dict[str, Any] | None:
    """Statistics of one channel, or None when it has too few callbacks to judge."""
    ts = cols["ts"]
    src_bytes = np.nan_to_num(_floats(cols["src_bytes"]), nan=0.0)
    dst_bytes = np.nan_to_num(_floats(cols["dst_bytes"]), nan=0.0)
    order = np.lexsort((dst_bytes, src_bytes, ts))
    ts, src_bytes, dst_bytes = ts[order], src_bytes[order], dst_bytes[order]
    ports = _floats(cols["dst_port"])[order]
    n = len(ts)
    if n < min_callbacks:
        return None
    t = (ts - ts[0]).astype(np.float64) / 1e6
    gaps = np.diff(t)
    positive = gaps[gaps > 0]
    if len(positive) < min_callbacks - 1:
        return None
    burst_gap = min(max_burst_gap, 0.25 * quantiles(positive, (0.5,))[0])
    first = np.concatenate([[True], gaps >= burst_gap])
    callbacks = t[first]
    if len(callbacks) < min_callbacks:
        return None
    intervals = np.diff(callbacks)
    period = estimate_period(intervals)
    multiples = np.maximum(1.0, np.round(intervals / period))
    folded = intervals / multiples
    spread = robust_spread(folded)
    early = quantiles(intervals, (0.1,))[0] / period
    timing = float(np.clip((early - 0.15) / 0.45, 0, 1) * np.clip(1.0 - spread / 1.5, 0, 1))
    cb_src, cb_dst = src_bytes[first], dst_bytes[first]
    size_spread = max(robust_spread(cb_src + 1.0), robust_spread(cb_dst + 1.0))
    size = float(np.clip(1.0 - size_spread / 0.5, 0, 1))
    span = float(callbacks[-1] - callbacks[0])
    expected = span / period + 1.0
    coverage = float(min(1.0, len(callbacks) / expected))
    count_score = float(min(1.0, math.log(len(callbacks)) / math.log(FULL_EVIDENCE)))
    persistence = count_score * (0.5 + 0.5 * coverage)
    confidence = 1.0 - math.exp(-(len(callbacks) - 1) / CONFIDENCE_SCALE)
    values, counts = np.unique(ports[~np.isnan(ports)], return_counts=True)
    q25, q75 = quantiles(folded, (0.25, 0.75))
    return {
        "connections": int(n),
        "callbacks": int(len(callbacks)),
        "burst_connections": int(n - len(callbacks)),
        "period_s": round(period, 3),
        "jitter_s": round(float(q75 - q25) / 2.0, 3),
        "timing_spread": round(spread, 4),
        "early_ratio": round(early, 4),
        "missed_share": round(max(0.0, 1.0 - coverage), 4),
        "span_s": round(span, 3),
        "src_bytes_median": quantiles(cb_src, (0.5,))[0],
        "dst_bytes_median": quantiles(cb_dst, (0.5,))[0],
        "size_spread": round(size_spread, 4),
        "replied_share": round(float(np.mean(cb_dst > 0)), 4),
        "dport": int(values[np.argmax(counts)]) if len(values) else None,
        "timing": round(timing, 4),
        "size": round(size, 4),
        "persistence": round(persistence, 4),
        "coverage": round(coverage, 4),
        "confidence": round(confidence, 4),
        "histogram": json.dumps(_histogram(intervals)),
    }
