"""Small vectorized helpers for ragged groups (events per host, visits per session, ...)."""

from __future__ import annotations

import numpy as np


def position_in_group(counts: np.ndarray) -> np.ndarray:
    """For `np.repeat(x, counts)`, each element's position 0..count-1 within its group."""
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    return np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)


def group_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at every group of `np.repeat(x, counts)`-shaped `values`."""
    counts = np.asarray(counts, dtype=np.int64)
    total = np.cumsum(values)
    if not len(total):
        return total
    starts = np.cumsum(counts) - counts
    before = np.where(starts > 0, total[np.maximum(starts - 1, 0)], 0)
    return total - np.repeat(before, counts)


def sample_cdf(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    """`n` indexes drawn from a cumulative distribution."""
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)
