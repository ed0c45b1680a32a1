"""Benchmark: the ``windows_json`` source on the Mordor Windows event JSON exports (zipped), records/s; or
``winnow ingest`` of a Sysmon JSON lines file against DuckDB's ``read_json`` -> Parquet of the same file.

    python benchmarks/windows_json.py               # every Windows-event JSON member of the mordor/ zips
    python benchmarks/windows_json.py --repeat 5
    python benchmarks/windows_json.py --hosts 400   # simulate a day (endpoint/<day>/sysmon.json), ingest vs DuckDB
    python benchmarks/windows_json.py --log F.json  # the same on an existing file
    python benchmarks/windows_json.py --log F.json --variant WINNOW_INGEST_PARSE_WORKERS=1  # one more contender
    python benchmarks/windows_json.py --log F.json --parse-only  # the source alone on the file, CPU seconds

With ``--hosts`` or ``--log``, each contender runs as its own process, alternating (see ``peer_runs.py``):
``duckdb`` is DuckDB's ``COPY (SELECT * FROM read_json(F)) TO parquet`` (every field, its own type inference),
``winnow`` is ``winnow ingest F`` into a fresh lake (typed ``win.event`` / ``proc.*`` tables, manifest);
``--variant NAME=VALUE`` adds ``winnow ingest F`` run with that environment variable (a setting, or
``PYTHONPATH=OTHER/src`` for another source tree), ``--line-by-line`` the line-by-line path.

The members are read from their zips into memory first (not timed); then the source parses each one
(every batch built, nothing written), ``--repeat`` passes, best pass reported. Run it with two source trees
on ``PYTHONPATH`` (before and after a change) in one sitting to compare: the records are the same.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("WINNOW_TEST_DATA") or REPO.parent / "shared" / "data")


def members(root: Path) -> list[tuple[str, bytes]]:
    """``(zip!member, bytes)`` of the JSON members that the source claims."""
    from winnow.sources import get_source

    source = get_source("windows_json")
    out = []
    for path in sorted(root.rglob("*.zip")):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if not name.endswith(".json"):
                    continue
                data = archive.read(name)
                if source.sniff(data[:65536], name):
                    out.append((f"{path.name}!{name}", data))
    return out


def against_duckdb(log: Path | None, hosts: int, repeat: int, line_by_line: bool, variants: list[str]) -> None:
    """``winnow ingest`` of a Sysmon JSON lines file against DuckDB's read_json -> Parquet (see the module text)."""
    if str(REPO / "benchmarks") not in sys.path:  # run with -P
        sys.path.insert(0, str(REPO / "benchmarks"))
    from peer_runs import compare, duckdb_copy, duckdb_json, table, winnow_ingest

    work = Path(tempfile.mkdtemp(prefix="winnow-bench-"))
    try:
        if log is None:
            from winnow.sim import simulate

            simulate(work / "sim", hosts=hosts, days=1, seed=4)
            log = next((work / "sim").rglob("sysmon.json"))
        contenders = {"duckdb": duckdb_copy(duckdb_json(log), work / "peer.parquet"),
                      "winnow": winnow_ingest(log, work / "lake")}
        if line_by_line:  # the way of earlier versions, every line decoded and mapped on its own
            variants = [*variants, "WINNOW_INGEST_JSON_SHAPE_ROWS=1000000000"]
        for variant in variants:
            contenders[f"winnow {variant}"] = ["env", variant, *winnow_ingest(log, work / "lake")]
        before = os.getloadavg()[0]
        results = compare(log, contenders, work, repeat)
        print(table(log, results, repeat))
        print(f"load average (1 min) {before:.1f} before, {os.getloadavg()[0]:.1f} after")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def parse_only(log: Path, repeat: int) -> None:
    """The source alone on one file, streamed from disk: CPU (this process, every thread) and wall seconds."""
    from winnow.sources import ParseContext, get_source

    source = get_source("windows_json")
    for _ in range(repeat):
        rows: Counter = Counter()
        cpu, wall = time.process_time(), time.perf_counter()
        with log.open("rb") as stream:
            for batch in source.parse(stream, ParseContext(log.name)):
                rows[batch.table] += batch.data.num_rows
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"{log.stat().st_size / 1e6:.1f} MB, {rows['win.event']:,} records: {cpu:.2f} CPU s, {wall:.2f} s, "
              f"load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", type=Path, default=DEFAULT_DATA / "mordor", help="folder of zips")
    parser.add_argument("--repeat", type=int, default=3, help="passes (or alternating runs); the best (median) "
                        "is reported")
    parser.add_argument("--log", type=Path, help="a Windows JSON lines file: ingest it against DuckDB")
    parser.add_argument("--hosts", type=int, help="simulate a day of this many hosts and ingest its sysmon.json "
                        "against DuckDB")
    parser.add_argument("--line-by-line", action="store_true", help="also time the line-by-line path "
                        "(ingest.json_shape_rows set past any block)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=VALUE", help="also time "
                        "winnow ingest with this environment variable set (repeatable)")
    parser.add_argument("--parse-only", action="store_true", help="with --log: time the source alone on the file "
                        "(every batch built, nothing written), CPU and wall seconds of each pass")
    args = parser.parse_args()
    if args.log and args.parse_only:
        parse_only(args.log, args.repeat)
        return
    if args.log or args.hosts:
        against_duckdb(args.log, args.hosts or 0, args.repeat, args.line_by_line, args.variant)
        return
    from winnow.sources import ParseContext, get_source

    files = members(args.path)
    source = get_source("windows_json")
    best, rows = float("inf"), Counter()
    for _ in range(args.repeat):
        rows = Counter()
        began = time.perf_counter()
        for name, data in files:
            for batch in source.parse(io.BytesIO(data), ParseContext(name)):
                rows[batch.table] += batch.data.num_rows
        best = min(best, time.perf_counter() - began)
    records = rows["win.event"]
    print(f"{len(files)} members, {sum(len(d) for _, d in files) / 1e6:.1f} MB, {records:,} records; best of "
          f"{args.repeat}: {best:.2f} s, {records / best:,.0f} records/s")
    print("rows per table: " + ", ".join(f"{t} {n:,}" for t, n in sorted(rows.items())), file=sys.stderr)


if __name__ == "__main__":
    main()
