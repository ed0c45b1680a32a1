"""Columns already named as a table's columns -> a typed ``Batch`` of that table (IDS sources).

Each column is converted to its declared type (:func:`~winnow.sources.coerce.coerce`): a value that does
not convert becomes null with a warning naming the line and field; rows without a timestamp are dropped
with a warning; unmapped fields go to ``extra``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from winnow.schema import get_table
from winnow.sources.base import Batch, ParseContext
from winnow.sources.coerce import build_extra, coerce, drop_untimed


def table_batch(
    table_name: str,
    columns: dict[str, pa.Array],
    lines: np.ndarray,
    ctx: ParseContext,
    extra: dict[str, pa.Array] | None = None,
    sensor: pa.Array | None = None,
) -> Batch | None:
    """A batch of ``table_name`` from ``columns`` (missing ones null), or None when no row has a time."""
    table = get_table(table_name)
    n = len(lines)
    out: dict[str, pa.Array] = {}
    for col in table.columns:
        arr = columns.get(col.name)
        if arr is None:
            out[col.name] = pa.nulls(n, col.type)
            continue
        value, bad = coerce(arr, col.type)
        for row, raw in bad:
            ctx.warn(int(lines[row]), f"field {col.name!r}: cannot read {str(raw)[:60]!r} as {col.type}", str(raw),
                     kept=True)
        out[col.name] = value
    out["extra"] = build_extra(extra or {}, n)
    out["_line"] = pa.array(lines, pa.int64())
    out["sensor"] = coerce(sensor, pa.string())[0] if sensor is not None else pa.nulls(n, pa.string())
    data = drop_untimed(pa.table(out), lines, ctx)
    return Batch(table_name, data) if data.num_rows else None
