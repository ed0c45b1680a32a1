"""The decoder's output: column lists that grow by blocks, and the net.conn batch table built from them."""

from __future__ import annotations

import contextlib

import numpy as np
import pyarrow as pa

#: the net.conn columns the decoder fills, with their Arrow types
CONN_TYPES = {
    "ts": pa.timestamp("us", tz="UTC"), "uid": pa.string(), "src_ip": pa.string(), "src_port": pa.int32(),
    "dst_ip": pa.string(), "dst_port": pa.int32(), "proto": pa.string(), "duration": pa.float64(),
    "src_bytes": pa.int64(), "dst_bytes": pa.int64(), "src_pkts": pa.int64(), "dst_pkts": pa.int64(),
    "src_ip_bytes": pa.int64(), "dst_ip_bytes": pa.int64(), "_line": pa.int64(),
}


class Columns:
    """Column lists that grow by blocks; a column missing from a block is padded with nulls."""

    def __init__(self) -> None:
        self.rows = 0
        self.data: dict[str, list] = {}

    def add(self, block: dict[str, list], n: int) -> None:
        for name, values in block.items():
            col = self.data.get(name)
            if col is None:
                col = self.data[name] = [None] * self.rows
            col.extend(values)
        self.rows += n
        for col in self.data.values():
            if len(col) < self.rows:
                col.extend([None] * (self.rows - len(col)))


def conn_table(core: dict[str, list], extra: dict[str, list], n: int) -> pa.Table:
    """A net.conn batch table (data columns, ``extra``, ``_line``) of ``n`` rows from column lists."""
    from winnow.sources.coerce import build_extra

    out = {}
    for name, typ in CONN_TYPES.items():
        values = core.get(name)
        if values is None:
            out[name] = pa.nulls(n, typ)
        elif name == "ts":
            out[name] = pa.array(values, pa.int64()).cast(typ)
        else:
            out[name] = _typed(values, typ)
    out["extra"] = build_extra({k: _any_array(v) for k, v in extra.items()}, n)
    return pa.table(out)


def _typed(values: list, typ: pa.DataType) -> pa.Array:
    """Arrow array of ``typ``; values that do not fit (a 64-bit counter past int64, text) become null."""
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        # the common case, no nulls: through numpy, several times faster than from a list
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            return pa.array(np.array(values, dtype=typ.to_pandas_dtype()))
    try:
        return pa.array(values, typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        if pa.types.is_integer(typ):
            limit = 2**31 - 1 if typ == pa.int32() else 2**63 - 1
            values = [v if isinstance(v, int) and 0 <= v <= limit else None for v in values]
        else:
            values = [v if isinstance(v, int | float) else None for v in values]
        return pa.array(values, typ)


def _any_array(values: list) -> pa.Array:
    if type(values[0]) is int:
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            return pa.array(np.array(values, dtype=np.int64))
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
