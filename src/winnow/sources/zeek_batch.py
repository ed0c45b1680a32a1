"""Turn columns named as Zeek names them into a batch of a normalized table."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from winnow.schema import get_table
from winnow.sources.base import Batch, ParseContext
from winnow.sources.coerce import build_extra, coerce, drop_untimed
from winnow.sources.zeek_fields import DERIVED, SENSOR_FIELDS, ZEEK_LOGS, canonical_field


def to_batch(
    path: str,
    columns: dict[str, pa.Array],
    lines: np.ndarray,
    ctx: ParseContext,
    set_sep: str = ",",
) -> Batch | None:
    """Rename, type and pack Zeek columns into ``Batch`` rows of the table ``path`` maps to.

    Values that do not convert become null with a warning; rows without a timestamp are
    dropped with a warning (they cannot be placed in time). Columns a log implies rather than
    names (ssh.log rows are logons) are filled by the log's ``DERIVED`` function.
    """
    table_name, mapping = ZEEK_LOGS[path]
    table = get_table(table_name)
    n = len(lines)
    mapped: dict[str, pa.Array] = {}
    extra: dict[str, pa.Array] = {}
    sensor: pa.Array | None = None
    for name, arr in columns.items():
        target = mapping.get(canonical_field(name))
        if target is not None and target not in mapped:
            mapped[target] = arr
        else:
            extra[name] = arr
        if name in SENSOR_FIELDS and sensor is None:
            sensor = coerce(arr, pa.string())[0]
    out: dict[str, pa.Array] = {}
    for col in table.columns:
        arr = mapped.get(col.name)
        if arr is None:
            out[col.name] = pa.nulls(n, col.type)
            continue
        value, bad = coerce(arr, col.type, set_sep)
        for row, raw in bad:
            ctx.warn(int(lines[row]), f"field {col.name!r}: cannot read {str(raw)[:60]!r} as {col.type}", str(raw))
        out[col.name] = value
    if path in DERIVED:
        DERIVED[path](out, n)
    out["extra"] = build_extra(extra, n, set_sep)
    out["_line"] = pa.array(lines, pa.int64())
    out["sensor"] = sensor if sensor is not None else pa.nulls(n, pa.string())
    data = drop_untimed(pa.table(out), lines, ctx)
    return Batch(table_name, data) if data.num_rows else None
