"""Rows in a table's declared shape, and the Parquet options every part of the lake is written with.

Every writer of the lake (ingest, the NetFlow collector, derived tables, compaction) goes through
:func:`conform` and :func:`parquet_options`, so a part's columns, types and encoding never depend
on who wrote it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from winnow.schema import get_table

if TYPE_CHECKING:
    from winnow.config import Config

#: unique per row (or nearly): dictionary encoding would only be tried and abandoned. ``data`` is the
#: win.event JSON text of each record's event data (record ids, times and GUIDs make it unique).
HIGH_CARDINALITY = frozenset({"uid", "query", "uri", "referrer", "cert_chain_fps", "answers", "ttls", "_line", "ts",
                              "data"})
#: columns whose min/max statistics prune scans (time ranges, address and port look-ups)
STATISTICS = frozenset({"ts", "src_ip", "dst_ip", "src_port", "dst_port", "proto", "query", "server_name", "host"})
#: integer columns that rise (nearly) row by row, delta-encoded
DELTA = frozenset({"_line", "ts"})
#: the codecs Parquet (and every engine reading the lake) knows
CODECS = ("snappy", "zstd", "gzip", "lz4", "brotli", "none")


def _encoding(schema: pa.Schema) -> dict:
    """Parquet options: dictionaries for repetitive text, statistics where they prune (about 30 % faster)."""
    dictionary = [f.name for f in schema if pa.types.is_string(f.type) and f.name not in HIGH_CARDINALITY]
    dictionary += [f.name for f in schema if f.name in ("dst_port", "qtype", "rcode", "status")]
    # values go to the encoders 64 k at a time (Arrow's default: 1 k): about 5 % less CPU, the same pages
    # line numbers and times mostly rise row by row: delta encoding stores them in a few bits a value
    delta = {f.name: "DELTA_BINARY_PACKED" for f in schema if f.name in DELTA and pa.types.is_integer(f.type)
             or f.name in DELTA and pa.types.is_timestamp(f.type)}
    return {"use_dictionary": dictionary, "write_statistics": [f.name for f in schema if f.name in STATISTICS],
            "write_batch_size": 64 << 10, **({"column_encoding": delta} if delta else {})}


_LAYOUTS: dict[str, tuple[object, pa.Schema, dict, str]] = {}


def layout(table_name: str) -> tuple[pa.Schema, dict, str]:
    """``(Arrow schema, Parquet encoding options, time column)`` of a table, built once per table declaration."""
    table = get_table(table_name)
    cached = _LAYOUTS.get(table_name)
    if cached is None or cached[0] is not table:  # first use, or the table was declared again (a plugin)
        schema = table.arrow_schema
        cached = _LAYOUTS[table_name] = (table, schema, _encoding(schema), table.time_column)
    return cached[1], cached[2], cached[3]


def parquet_options(table_name: str | None = None, config: Config | None = None) -> dict:
    """Keyword arguments of a Parquet writer: the ``ingest.compression`` in force, and ``table_name``'s encoding.

    ``config``: the settings already read (default: those in force, read now).
    """
    from winnow.config import ConfigError, current

    config = config or current()
    codec = str(config.get("ingest.compression")).lower()
    if codec not in CODECS:
        raise ConfigError(f"{config.origin('ingest.compression')}: ingest.compression: expected one of "
                          f"{', '.join(CODECS)}, got {codec!r}")
    return {"compression": codec, **(layout(table_name)[1] if table_name else {})}


#: (value, type) -> the longest column of that value built so far: a batch takes a slice, not a new copy
_REPEATS: dict[tuple[str, pa.DataType], pa.Array] = {}


def _repeat(value: str, kind: pa.DataType, n: int) -> pa.Array:
    """``n`` times ``value`` (the provenance constants of a file's rows: one per row of every batch)."""
    key = (value, kind)
    column = _REPEATS.get(key)
    if column is None or len(column) < n:
        if len(_REPEATS) >= 8:  # the constants of the last file or two: bounded memory
            _REPEATS.clear()
        column = _REPEATS[key] = pa.repeat(pa.scalar(value, kind), n)
    return column.slice(0, n)


def conform(table_name: str, data: pa.Table, constants: dict[str, str], sensor: str | None = None) -> pa.Table:
    """``data`` with exactly the declared columns of ``table_name``, in order and of their declared types.

    Provenance columns the batch lacks take ``constants`` (``_source_file``, ...), other missing columns
    are null; ``sensor`` fills the nulls of the ``sensor`` column. Only columns of another type are cast.
    """
    schema = layout(table_name)[0]
    n = data.num_rows
    names = set(data.column_names)
    columns = []
    for f in schema:
        if f.name in names:
            column = data[f.name]
            if not column.type.equals(f.type):
                column = column.cast(f.type)
        elif f.name in constants:
            column = _repeat(constants[f.name], f.type, n)
        else:
            column = pa.nulls(n, f.type)
        if sensor and f.name == "sensor" and column.null_count:
            column = pc.fill_null(column, sensor)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)
