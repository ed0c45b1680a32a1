"""What a lake holds, as digests that two runs of an ingest can be compared by (run ids and clock left out)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

#: columns that differ between two runs of the same ingest: the run's id and when it ran
RUN_COLUMNS = {"_ingest_id", "ingest_id", "ts"}
RUN_KEYS = {"ingest_id", "ingested_at"}


def lake_digests(lake: Path) -> dict[str, str]:
    """A digest of every Parquet part (by path under the lake, the warnings' day left out) and of the manifest.

    A part's digest covers its schema and its rows in order, less :data:`RUN_COLUMNS` of the
    ``ingest_warnings`` table and ``_ingest_id`` elsewhere; the manifest's covers every entry in
    order, less :data:`RUN_KEYS`.
    """
    out = {}
    for part in sorted(lake.glob("*/day=*/*.parquet")):
        table = part.parent.parent.name
        data = pq.read_table(part)
        drop = RUN_COLUMNS if table == "ingest_warnings" else {"_ingest_id"}
        data = data.drop_columns([c for c in data.column_names if c in drop])
        sink = pa.BufferOutputStream()  # one chunk per column: the bytes depend on the rows, not on how they were read
        with pa.ipc.new_stream(sink, data.schema) as writer:
            writer.write_table(data.combine_chunks())
        digest = hashlib.sha256(sink.getvalue())
        name = f"{table}/{part.name}" if table == "ingest_warnings" else str(part.relative_to(lake))
        out[name] = digest.hexdigest()
    entries = [json.loads(line) for line in (lake / "_manifest.jsonl").read_text().splitlines() if line.strip()]
    out["_manifest.jsonl"] = hashlib.sha256(json.dumps(
        [{k: v for k, v in e.items() if k not in RUN_KEYS} for e in entries], sort_keys=True).encode()).hexdigest()
    return out


def table_digests(lake: Path) -> dict[str, tuple[int, str]]:
    """``(rows, digest)`` of every table, its rows sorted by every column: the same whatever parts hold them.

    For lakes whose parts may be grouped differently (commit groups close on a clock); run columns left out as in
    :func:`lake_digests`.
    """
    out = {}
    for folder in sorted(p for p in lake.iterdir() if p.is_dir() and not p.name.startswith("_")):
        parts = sorted(folder.glob("day=*/*.parquet"))
        if not parts:
            continue
        data = pa.concat_tables(pq.read_table(p) for p in parts)
        drop = RUN_COLUMNS if folder.name == "ingest_warnings" else {"_ingest_id"}
        data = data.drop_columns([c for c in data.column_names if c in drop])
        data = data.sort_by([(c, "ascending") for c in data.column_names])
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, data.schema) as writer:
            writer.write_table(data.combine_chunks())
        out[folder.name] = (data.num_rows, hashlib.sha256(sink.getvalue()).hexdigest())
    return out
