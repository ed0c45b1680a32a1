"""Benchmark: Zeek conn.log (TSV) -> typed columns, ours vs zat vs DuckDB, on the same file in one run.

    python benchmarks/ingest_zeek.py                      # simulate ~5 M conn rows, then measure
    python benchmarks/ingest_zeek.py --log path/conn.log  # measure an existing log

Each contender runs in its own process, the runs alternating (winnow, zat, DuckDB, ... again), after one untimed
warm-up run each; wall time, CPU time and peak RSS come from the OS (wait4; ``peer_runs.py``).
Contenders:
  winnow   `winnow ingest` of the file into a fresh lake (TSV -> typed Parquet, day partitions, manifest)
  zat      zat's LogToDataFrame (TSV -> typed pandas DataFrame, in memory; the Python peer)
  duckdb-copy   DuckDB COPY (SELECT * FROM read_csv(...)) TO parquet (typed by DuckDB's CSV reader)
  duckdb-count  DuckDB's bare count(*) scan of the file: the near-limit reference for reading it at all
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # peer_runs.py beside this file, also under -P

ZEEK_TO_DUCKDB = {"time": "DOUBLE", "interval": "DOUBLE", "double": "DOUBLE", "port": "INTEGER",
                  "count": "UBIGINT", "int": "BIGINT", "bool": "VARCHAR"}


def header(path: Path) -> tuple[list[str], list[str]]:
    fields, types = [], []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            if line.startswith("#fields"):
                fields = line.rstrip("\n").split("\t")[1:]
            elif line.startswith("#types"):
                types = line.rstrip("\n").split("\t")[1:]
    return fields, types


def data_rows(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for line in fh if not line.startswith(b"#"))


def duckdb_read(path: Path) -> str:
    fields, types = header(path)
    columns = ", ".join(f"'{f}': '{ZEEK_TO_DUCKDB.get(t, 'VARCHAR')}'" for f, t in zip(fields, types, strict=True))
    return (f"read_csv('{path}', delim='\\t', header=false, auto_detect=false, quote='', escape='', "
            f"comment='#', nullstr='-', columns={{{columns}}})")


def contenders(log: Path, work: Path) -> dict[str, list[str]]:
    py = sys.executable
    zat_code = ("import sys; from zat.log_to_dataframe import LogToDataFrame; "
                "df = LogToDataFrame().create_dataframe(sys.argv[1]); print(len(df))")
    copy_sql = f"COPY (SELECT * FROM {duckdb_read(log)}) TO '{work / 'peer.parquet'}' (FORMAT parquet)"
    count_sql = f"SELECT count(*) FROM {duckdb_read(log)}"
    duck = ("import duckdb, sys; sql = sys.argv[1]; "
            "print(duckdb.sql(sql).fetchall() if 'COPY' not in sql else duckdb.execute(sql))")
    return {
        "winnow": [py, "-m", "winnow.cli.main", "ingest", str(log), "--lake", str(work / "lake"), "--report", "json"],
        "zat": [py, "-c", zat_code, str(log)],
        "duckdb-copy": [py, "-c", duck, copy_sql],
        "duckdb-count": [py, "-c", duck, count_sql],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", type=Path, help="an existing Zeek TSV conn.log (default: simulate one)")
    parser.add_argument("--hosts", type=int, default=1830,
                        help="hosts to simulate when --log is not given (1830 hosts: 5.08 M conn rows)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender; the median is reported")
    parser.add_argument("--skip", nargs="*", default=[], help="contenders to leave out")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="winnow-bench-"))
    try:
        log = args.log
        if log is None:
            from winnow.sim import simulate

            simulate(work / "sim", hosts=args.hosts, days=1, seed=1)
            log = next((work / "sim").rglob("conn.log"))
        from peer_runs import compare

        rows, size = data_rows(log), log.stat().st_size
        chosen = {k: v for k, v in contenders(log, work).items() if k not in args.skip}
        results = compare(log, chosen, work, args.repeat)
        base = next((r["seconds"] for r in results if r["contender"] == "winnow"), None)
        for r in results:
            r["rows_per_s"] = round(rows / r["seconds"])
            r["time_vs_winnow"] = round(r["seconds"] / base, 2) if base else None
        if args.json:
            print(json.dumps({"rows": rows, "bytes": size, "results": results}, indent=2))
        else:
            print(f"input: {log.name}, {rows:,} rows, {size / 1e6:.0f} MB, median of {args.repeat} alternating runs")
            print("| contender | seconds | CPU seconds | rows/s | MB/s | peak RSS MB | time vs winnow |")
            print("|---|---|---|---|---|---|---|")
            for r in results:
                print(f"| {r['contender']} | {r['seconds']} | {r['cpu_seconds']} | {r['rows_per_s']:,} | "
                      f"{r['mb_per_s']} | {r['peak_rss_mb']} | {r['time_vs_winnow']}x |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
