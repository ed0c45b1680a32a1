"""Check the values a table declares a rule for (ports, addresses, counts), column-wise.

A column's ``check`` (see :class:`winnow.schema.Column`) says what a valid value is: ``port``
0-65535, ``address`` an IPv4 or IPv6 address, ``count`` not negative. An invalid value is stored
as null and becomes a warning naming the line and the field; the rest of the row is kept, and such
rows do not count toward abandoning a file. The checks are Arrow compute over whole columns: one
min/max for numbers, one regular expression over the distinct addresses, Python only for the distinct values
that are not dotted quads (IPv6 and the invalid ones).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.addresses import is_address
from winnow.schema import get_table
from winnow.sources.base import Batch, ParseContext

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"^{_OCTET}(?:\.{_OCTET}){{3}}$"
_RANGES = {"port": (0, 65535, "a port (0-65535)"), "count": (0, None, "a count (negative)")}


def check_values(batch: Batch, ctx: ParseContext) -> Batch:
    """``batch`` with every invalid value of a checked column nulled, each reported to ``ctx``."""
    if batch.checked:
        return batch
    data = batch.data
    for column in get_table(batch.table).columns:
        if not column.check or column.name not in data.column_names:
            continue
        values = data[column.name]
        if values.null_count == len(values):
            continue
        bad = _address_invalid(values) if column.check == "address" else _out_of_range(values, column.check)
        if bad is None:
            continue
        what = "an IPv4 or IPv6 address" if column.check == "address" else _RANGES[column.check][2]
        lines = data["_line"]
        for row in np.flatnonzero(bad):
            raw = values[int(row)].as_py()
            ctx.warn(lines[int(row)].as_py(), f"field {column.name!r}: {raw!r} is not {what}; stored as null",
                     str(raw), kept=True)
        mask = pa.array(bad)
        data = data.set_column(data.schema.get_field_index(column.name), column.name,
                               pc.if_else(mask, pa.scalar(None, values.type), values))
    return batch if data is batch.data else Batch(batch.table, data)


def _out_of_range(values: pa.ChunkedArray | pa.Array, check: str) -> np.ndarray | None:
    low, high, _ = _RANGES[check]
    bounds = pc.min_max(values)
    if bounds["min"].as_py() >= low and (high is None or bounds["max"].as_py() <= high):
        return None
    outside = pc.less(values, low)
    if high is not None:
        outside = pc.or_(outside, pc.greater(values, high))
    return np.asarray(pc.fill_null(outside, False))


def _address_invalid(values: pa.ChunkedArray | pa.Array) -> np.ndarray | None:
    distinct = pc.unique(values)  # a few thousand addresses in a million rows: the regex runs on those only
    candidates = distinct if len(distinct) * 2 < len(values) else values
    quad = pc.match_substring_regex(candidates, _IPV4)
    if pc.all(quad).as_py() is not False:  # nulls are skipped: null is not invalid
        return None
    others = pc.unique(pc.filter(candidates, pc.invert(quad)))  # filter drops the nulls
    invalid = [v for v in others.to_pylist() if v is not None and not is_address(v)]
    if not invalid:
        return None
    return np.asarray(pc.fill_null(pc.is_in(values, pa.array(invalid, values.type)), False))
