"""EVE ingest speed: Winnow's Suricata EVE source vs DuckDB's own read_json -> Parquet, same file, one run.

    python benchmarks/ids.py [--copies N] [--data DIR]

The file is the 14 shared EVE samples (../shared/data/ids/suricata-eve, 12.7k lines of every event type)
concatenated ``--copies`` times into a temporary folder. Winnow parses, types, splits by event type into
ids.alert / net.* and writes its lake; DuckDB reads the same file with ``read_json(format='newline_delimited')``
(its schema inference over all fields; ``ignore_errors`` because real EVE has duplicate keys) and writes
one Parquet file. Timers: Python's ``time.perf_counter``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from winnow.ingest import ingest

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ids" / "suricata-eve"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    samples = sorted(p for p in args.data.iterdir() if not p.name.endswith("fast.log"))
    body = b"".join(p.read_bytes().rstrip(b"\n") + b"\n" for p in samples)
    with tempfile.TemporaryDirectory() as tmp:
        eve = Path(tmp) / "logs" / "eve.json"
        eve.parent.mkdir()
        eve.write_bytes(body * args.copies)
        lines = body.count(b"\n") * args.copies
        start = time.perf_counter()
        report = ingest([eve.parent], Path(tmp) / "lake")
        winnow_s = time.perf_counter() - start
        rows = {t: n for f in report.files for t, n in f.rows.items()}
        start = time.perf_counter()
        con = duckdb.connect()
        con.execute(f"COPY (SELECT * FROM read_json('{eve}', format='newline_delimited', union_by_name=true, "
                    f"ignore_errors=true, sample_size=-1)) TO '{Path(tmp) / 'duck.parquet'}' (FORMAT parquet)")
        duck_s = time.perf_counter() - start
    size = len(body) * args.copies / 1e6
    print(f"EVE file: {lines:,} lines, {size:.1f} MB; winnow rows written: {rows}")
    print(f"winnow ingest:            {winnow_s:6.2f} s  {lines / winnow_s:10,.0f} lines/s")
    print(f"duckdb read_json->parquet: {duck_s:6.2f} s  {lines / duck_s:10,.0f} lines/s")
    print(f"ratio winnow/duckdb: {winnow_s / duck_s:.2f}x")


if __name__ == "__main__":
    main()
