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
