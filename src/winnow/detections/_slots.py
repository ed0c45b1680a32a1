"""Counting in time windows without splitting a burst: two grids of windows, half a window apart.

A burst shorter than half a window lies whole in a window of one grid or the other, so "most
distinct accounts (services...) in any window" is the best window over both grids. Used by the
identity detectors (guessing, roasting).
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir


def two_grids(rows: ir.Table, seconds: int) -> ir.Table:
    """``rows`` twice, with ``grid`` (0 or 1) and ``slot`` (the window's number on its grid)."""
    epoch = rows.ts.epoch_seconds().cast("int64")
    parts = [rows.mutate(grid=ibis.literal(g, "int64"), slot=(epoch + g * (seconds // 2)) // seconds) for g in (0, 1)]
    return ibis.union(*parts, distinct=False)


def best_slot(counts: ir.Table, keys: list[str], order: list) -> ir.Table:
    """Per ``keys``, the one (grid, slot) row first in ``order`` (then earliest)."""
    ranked = counts.mutate(rank=ibis.row_number().over(ibis.window(group_by=keys, order_by=[*order, "grid", "slot"])))
    return ranked.filter(ranked.rank == 0).drop("rank")


def slot_start(grid: int, slot: int, seconds: int) -> dt.datetime:
    """When window ``slot`` of ``grid`` starts."""
    return dt.datetime.fromtimestamp(int(slot) * seconds - int(grid) * (seconds // 2), dt.UTC)
