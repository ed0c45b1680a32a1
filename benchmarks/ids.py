"""EVE ingest speed: Winnow's Suricata EVE source vs DuckDB's own read_json -> Parquet, same file, one run.

    python benchmarks/ids.py [--copies N] [--data DIR]
    python benchmarks/ids.py --snort-mb 100   # Snort 3 alert_json instead (see below)
    python benchmarks/ids.py --copies 5 --alternate   # EVE, each contender its own process, alternating

The file is the 14 shared EVE samples (../shared/data/ids/suricata-eve, 12.7k lines of every event type)
concatenated ``--copies`` times into a temporary folder. Winnow parses, types, splits by event type into
ids.alert / net.* and writes its lake; DuckDB reads the same file with ``read_json(format='newline_delimited')``
(its schema inference over all fields; ``ignore_errors`` because real EVE has duplicate keys) and writes
one Parquet file. Timers: Python's ``time.perf_counter``.

With ``--snort-mb``, the shared Snort 3 alert_json sample (../shared/data/ids/snort, 240 alerts) is repeated to
about that many MB, and ``winnow ingest`` of it runs against DuckDB's read_json -> Parquet, each as its own
process, alternating (``peer_runs.py``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from winnow.ingest import ingest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # peer_runs.py beside this file, also under -P

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ids" / "suricata-eve"


def snort(megabytes: int, repeat: int) -> None:
    """Snort 3 alert_json: ``winnow ingest`` against DuckDB's read_json -> Parquet (see the module text)."""
    from peer_runs import compare, duckdb_copy, duckdb_json, table, winnow_ingest

    sample = (DEFAULT_DATA.parent / "snort" / "patel-aum_snort3_alert_json.txt").read_bytes().rstrip(b"\n") + b"\n"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        log = work / "alert_json.txt"
        log.write_bytes(sample * max(1, megabytes * 1_000_000 // len(sample)))
        contenders = {"duckdb": duckdb_copy(duckdb_json(log), work / "peer.parquet"),
                      "winnow": winnow_ingest(log, work / "lake")}
        print(table(log, compare(log, contenders, work, repeat), repeat))


def _alternate(log: Path, read: str, repeat: int) -> None:
    """``winnow ingest`` of ``log`` against DuckDB's COPY of ``read``, as processes, alternating (peer_runs)."""
    from peer_runs import compare, duckdb_copy, table, winnow_ingest

    work = log.parent
    contenders = {"duckdb": duckdb_copy(read, work / "peer.parquet"), "winnow": winnow_ingest(log, work / "lake")}
    print(table(log, compare(log, contenders, work, repeat), repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--snort-mb", type=int, help="time Snort 3 alert_json of about this many MB instead")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each (--snort-mb, --alternate)")
    parser.add_argument("--alternate", action="store_true", help="EVE: each contender its own process, "
                        "alternating, median of --repeat")
    args = parser.parse_args()
    if args.snort_mb:
        snort(args.snort_mb, args.repeat)
        return
    samples = sorted(p for p in args.data.iterdir() if not p.name.endswith("fast.log"))
    body = b"".join(p.read_bytes().rstrip(b"\n") + b"\n" for p in samples)
    with tempfile.TemporaryDirectory() as tmp:
        eve = Path(tmp) / "logs" / "eve.json"
        eve.parent.mkdir()
        eve.write_bytes(body * args.copies)
        lines = body.count(b"\n") * args.copies
        if args.alternate:
            _alternate(eve, f"read_json('{eve}', format='newline_delimited', union_by_name=true, "
                       "ignore_errors=true, sample_size=-1)", args.repeat)
            return
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
