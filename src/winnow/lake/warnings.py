"""The ``ingest_warnings`` table: problems met while reading a file, stored as rows of the lake."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.lake.layout import Lake

TABLE = "ingest_warnings"


class ParseWarning(Protocol):
    """What a parser reported (:class:`winnow.sources.base.Warning_`)."""

    line: int | None
    reason: str
    snippet: str


def write_warnings(lake: Lake, digest: str, run_id: str, source_file: str, source_format: str,
                   warnings: Sequence[ParseWarning]) -> tuple[Path, Path]:
    """Write one file's warnings to a temporary part; return its (temporary, final) paths for publication.

    Args:
        lake: the lake being written.
        digest: content hash of the file (names the part, so a re-run overwrites rather than duplicates).
        run_id: id of the ingest or collector run (its temporary folder).
        source_file: display name of the file.
        source_format: registered source name.
        warnings: the problems, each with ``line``, ``reason`` and ``snippet``.
    """
    from winnow.lake.conform import parquet_options
    from winnow.schema import get_table

    schema = get_table(TABLE).arrow_schema
    now = dt.datetime.now(dt.UTC)
    n = len(warnings)
    data = pa.table(
        {
            "ts": pa.array([now] * n, schema.field("ts").type),
            "file": [source_file] * n,
            "line": pa.array([w.line for w in warnings], pa.int64()),
            "reason": [w.reason for w in warnings],
            "snippet": [w.snippet for w in warnings],
            "source_format": [source_format] * n,
            "ingest_id": [run_id] * n,
        },
        schema=schema,
    )
    final = lake.partition(TABLE, now.strftime("%Y-%m-%d")) / f"{digest[:32]}.parquet"
    tmp = lake.tmp_dir / run_id / TABLE / f"{digest[:32]}.parquet"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(data, tmp, compression=parquet_options()["compression"])
    return tmp, final
