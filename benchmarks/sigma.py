"""Sigma rules over the shared EVTX attack samples: Winnow (DuckDB) against pySigma's SQLite backend.

    PYTHONPATH=src python -P benchmarks/sigma.py [--data ../shared/data] [--work /tmp/attack-samples]
        [--rules ../shared/data/sigma/rules/windows] [--scale N]

The events are the lake ``benchmarks/attack_samples.py`` builds from ``evtx-attack-samples`` (reused
from --work); ``--scale N`` repeats every event N times (one Parquet file per table and day, as a large
ingest writes them; the peer gets the same N copies), to see the cost per event rather than per query.
Winnow: every rule of --rules that compiles runs through ``winnow.sigma.scan`` (rules of one log source
share one read of its rows), timed from the compiled SQL to the matched rows in Python. Peer: the
approach of Zircolite (wagga40/Zircolite): the same events flattened into one SQLite table (one
column per event data field, as Zircolite does), every rule converted to SQL by pySigma's SQLite
backend (``pysigma-backend-sqlite``, extra ``[bench]``) and run by Python's sqlite3, timed from the
converted queries to the fetched rows. Rule parsing and conversion are timed apart and excluded
from both (Winnow's compilation to SQL is the peer's conversion). Reported: events, rules run, seconds
and events/s (events × rules / s is the same ratio).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def flatten(engine) -> tuple[list[str], list[tuple]]:
    """Every win.event row as Zircolite sees it: Channel, EventID, Computer and each event data field."""
    from winnow.engine import fetch

    events = engine.table("win.event")
    rows = fetch(events.select("channel", "event_id", "host", "data")).to_pylist()
    columns: dict[str, str] = {"channel": "Channel", "eventid": "EventID", "computer": "Computer"}
    flat = []
    for row in rows:
        try:
            data = json.loads(row["data"]) if row["data"] else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        record = {"Channel": row["channel"], "EventID": row["event_id"], "Computer": row["host"]}
        for key, value in data.items():
            if isinstance(value, (dict, list)):
                value = json.dumps(value)
            elif isinstance(value, int) and not -2**63 <= value < 2**63:
                value = str(value)  # beyond SQLite's integers
            name = columns.setdefault(key.lower(), key)  # SQLite column names ignore case, as Windows' do
            record[name] = value
        flat.append(record)
    names = list(columns.values())
    return names, [tuple(r.get(n) for n in names) for r in flat]


def peer(rules_dir: Path, names: list[str], rows: list[tuple]) -> dict:
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection

    db = sqlite3.connect(":memory:")
    quoted = ", ".join(f'"{n}"' for n in names)
    db.execute(f"CREATE TABLE logs ({quoted})")
    db.executemany(f"INSERT INTO logs VALUES ({', '.join('?' for _ in names)})", rows)
    started = time.perf_counter()
    backend = sqliteBackend()
    queries = []
    for path in sorted(rules_dir.rglob("*.yml")):
        try:
            collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"))
            queries += [q.replace("<TABLE_NAME>", "logs") for q in backend.convert(collection) if isinstance(q, str)]
        except Exception:  # noqa: BLE001 - a rule the peer cannot convert is left out, as Zircolite does
            continue
    convert_s = time.perf_counter() - started
    started = time.perf_counter()
    ran = matched = 0
    for query in queries:
        try:
            matched += len(db.execute(query).fetchall())
            ran += 1
        except sqlite3.Error:  # a field no event has: Zircolite skips such rules too
            continue
    return {"rules": ran, "seconds": round(time.perf_counter() - started, 2), "convert_s": round(convert_s, 1),
            "matches": matched}


def winnow(engine, rules_dir: Path) -> dict:
    from winnow.sigma.rules import load_rules
    from winnow.sigma.scan import compile_scans, run_scans

    started = time.perf_counter()
    ruleset = load_rules(rules_dir)
    parse_s = time.perf_counter() - started
    started = time.perf_counter()
    scans = compile_scans(engine, ruleset.rules, 200)
    compile_s = time.perf_counter() - started
    started = time.perf_counter()
    matched = 0
    for matches in run_scans(engine, scans):
        for index in range(len(matches.rules)):
            matched += matches.of(index).num_rows
    return {"rules": len(ruleset.rules), "seconds": round(time.perf_counter() - started, 2),
            "parse_s": round(parse_s, 1), "compile_s": round(compile_s, 1), "matches": matched}


def scaled(lake: Path, work: Path, times: int) -> Path:
    """A copy of ``lake`` with every row of every table ``times`` times, one Parquet file per table and day."""
    import shutil

    import duckdb

    out = work / f"lake-x{times}"
    if (out / ".complete").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(lake, out, ignore=shutil.ignore_patterns("day=*"))
    con = duckdb.connect()
    for table in sorted(p for p in lake.iterdir() if p.is_dir() and any(p.glob("day=*"))):
        glob = str(table / "day=*" / "*.parquet").replace("'", "''")
        target = str(out / table.name).replace("'", "''")
        con.execute(f"COPY (SELECT x.* FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true) "
                    f"AS x, range({times})) TO '{target}' (FORMAT parquet, PARTITION_BY (day), OVERWRITE_OR_IGNORE)")
    (out / ".complete").touch()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=Path("/tmp/attack-samples"))
    parser.add_argument("--rules", type=Path, default=None)
    parser.add_argument("--scale", type=int, default=1, help="repeat every event this many times")
    args = parser.parse_args()
    import importlib.util

    # by path: on sys.path, benchmarks/sigma.py would hide pySigma's namespace package 'sigma'
    spec = importlib.util.spec_from_file_location("attack_samples", Path(__file__).with_name("attack_samples.py"))
    attack_samples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(attack_samples)
    ingest_once = attack_samples.ingest_once

    from winnow.engine import connect

    rules_dir = args.rules or args.data / "sigma" / "rules" / "windows"
    args.work.mkdir(parents=True, exist_ok=True)
    lake = ingest_once(args.data, args.work)
    if args.scale > 1:
        lake = scaled(lake, args.work, args.scale)
    with connect("duckdb", lake) as engine:
        names, rows = flatten(engine)
        ours = winnow(engine, rules_dir)
    theirs = peer(rules_dir, names, rows)
    events = len(rows)
    for name, r in (("winnow (DuckDB)", ours), ("pySigma SQLite backend", theirs)):
        print(f"{name:24} {r['rules']:5d} rules  {r['seconds']:8.2f} s  {events / r['seconds']:12,.0f} events/s "
              f"({events * r['rules'] / r['seconds']:,.0f} event-rules/s)")
    ratio = (events * ours["rules"] / ours["seconds"]) / (events * theirs["rules"] / theirs["seconds"])
    print(json.dumps({"events": events, "columns": len(names), "winnow": ours, "peer": theirs,
                      "event_rules_per_s_ratio": round(ratio, 2)}))


if __name__ == "__main__":
    main()
