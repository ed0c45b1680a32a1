"""The per-group hook: run a Python function on each group's arrays, on any engine.

Some analytics (a beacon's interval statistics, a periodogram) are per-group numeric work that
SQL expresses badly. ``Engine.map_groups`` runs such a function without collecting a whole
table into Python:

* DuckDB: ``SELECT keys, list(col ORDER BY ...) ... GROUP BY keys`` streamed as Arrow batches;
* Spark: ``groupBy(keys).applyInPandas`` on the executors.

The function sees the same input on both engines: ``key`` (a dict of the key values) and
``cols`` (a dict of numpy arrays; timestamp columns arrive as int64 epoch microseconds, rows in
no particular order — sort them yourself), and returns a list of output rows (dicts of
scalars matching ``schema``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

GroupFunc = Callable[[dict[str, Any], dict[str, np.ndarray]], list[dict[str, Any]]]


def numpy_column(values: pa.Array) -> np.ndarray:
    """An Arrow column as numpy; timestamps as int64 epoch microseconds, nulls of numbers as NaN."""
    if pa.types.is_timestamp(values.type):
        return np.asarray(values.cast(pa.timestamp("us", tz=values.type.tz)).cast(pa.int64()).fill_null(0))
    if pa.types.is_integer(values.type) and values.null_count:
        return np.asarray(values.cast(pa.float64()).to_numpy(zero_copy_only=False))
    return values.to_numpy(zero_copy_only=False)


def apply_to_batch(batch: pa.RecordBatch, keys: list[str], values: list[str], func: GroupFunc) -> list[dict]:
    """Call ``func`` for each row of a batch whose value columns are lists (one row per group)."""
    out: list[dict] = []
    key_cols = {k: batch.column(k).to_pylist() for k in keys}
    flat = {}
    for v in values:
        lists = batch.column(v)
        flat[v] = (numpy_column(lists.flatten()), np.asarray(lists.offsets))
    for i in range(batch.num_rows):
        key = {k: key_cols[k][i] for k in keys}
        cols = {v: arr[offsets[i] - offsets[0]: offsets[i + 1] - offsets[0]] for v, (arr, offsets) in flat.items()}
        out.extend(func(key, cols))
    return out


def to_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Output rows as an Arrow table of ``schema``."""
    return pa.Table.from_pylist(rows, schema=schema)


def spark_type(dtype: pa.DataType) -> str:
    """Spark SQL DDL type of a scalar Arrow type."""
    if pa.types.is_string(dtype):
        return "string"
    if pa.types.is_floating(dtype):
        return "double"
    if pa.types.is_integer(dtype):
        return "bigint"
    if pa.types.is_boolean(dtype):
        return "boolean"
    raise TypeError(f"map_groups outputs scalars only, not {dtype}")
