"""Threat intel matching speed: N indicators against a simulated day's lake, against DuckDB's own raw join.

    python benchmarks/intel.py [--hosts 500] [--indicators 100000] [--work DIR] [--lake LAKE] [--spark]

Simulates a day (``winnow simulate --hosts N``) and ingests it unless ``--lake`` names a lake, then writes
one CSV feed of ``--indicators`` indicators: 1 % taken from the lake (destination addresses, registered
domains of DNS queries, user agents, JA3) so there are matches, and the rest random addresses, IPv4 /24
subnets (1 %), domains and SHA-256 hashes, as a real blocklist mostly names things a site never sees.

Measured: loading the feed (``winnow.intel.load_feeds``), the ``intel`` detector's ``find`` on DuckDB
(and Spark with ``--spark``) with its default ``limit`` and with every (indicator, local) pair made a
finding, each including the feed's loading; and the reference: DuckDB's own SQL over the lake's
Parquet files joining the same indicator table on exact equality to the same columns (no subdomain or
subnet matching, no normalization), grouped per (indicator, local entity): the near-limit cost of the
joins alone.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.dataset as ds

#: (table, value column, local column) joined by the reference, exact equality only
EXACT = [("net.conn", "dst_ip", "src_ip"), ("net.conn", "src_ip", "dst_ip"), ("net.dns", "query", "src_ip"),
         ("net.http", "host", "src_ip"), ("net.http", "user_agent", "src_ip"), ("net.tls", "server_name", "src_ip"),
         ("net.tls", "ja3", "src_ip"), ("proc.net", "dst_ip", "host")]


def _lake(args: argparse.Namespace) -> Path:
    if args.lake:
        return Path(args.lake)
    work = Path(args.work)
    lake = work / "lake"
    if not lake.exists():
        cli = [sys.executable, "-m", "winnow.cli.main"]
        subprocess.run([*cli, "simulate", "--out", str(work / "logs"), "--hosts", str(args.hosts), "--seed", "1"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*cli, "ingest", str(work / "logs"), "--lake", str(lake)], check=True, stdout=subprocess.DEVNULL)
    return lake


def _distinct(lake: Path, table: str, column: str, limit: int) -> list[str]:
    if not (lake / table).exists():
        return []
    values = ds.dataset(lake / table, format="parquet", partitioning="hive").to_table(columns=[column]).column(0)
    return sorted({v for v in values.to_pylist() if v})[:limit]


def write_feed(lake: Path, folder: Path, n: int, seed: int = 1) -> dict[str, int]:
    """One CSV feed of ``n`` indicators, 1 % of them present in the lake; the count of each kind."""
    from winnow.detections._domains import registered_domain_py

    rng = random.Random(seed)
    real = max(1, n // 100)
    rows: list[tuple[str, str]] = []
    rows += [("ip", v) for v in rng.sample(_distinct(lake, "net.conn", "dst_ip", 100_000), real // 2)]
    domains = sorted({registered_domain_py(q) for q in _distinct(lake, "net.dns", "query", 100_000)} - {""})
    rows += [("domain", v) for v in rng.sample(domains, min(len(domains), real // 4)) if "." in v]
    rows += [("user_agent", v) for v in _distinct(lake, "net.http", "user_agent", real // 8)]
    rows += [("ja3", v) for v in _distinct(lake, "net.tls", "ja3", real // 8)]
    while len(rows) < n:
        pick = rng.random()
        if pick < 0.5:
            rows.append(("ip", str(ipaddress.IPv4Address(rng.getrandbits(32)))))
        elif pick < 0.51:
            rows.append(("cidr", f"{ipaddress.IPv4Address(rng.getrandbits(24) << 8)}/24"))
        elif pick < 0.8:
            rows.append(("domain", "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=10)) + ".example-bad.com"))
        else:
            rows.append(("sha256", f"{rng.getrandbits(256):064x}"))
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "bench.csv", "w") as fh:
        fh.write("type,value,confidence\n")
        for kind, value in rows:
            fh.write(f'{kind},"{value.replace(chr(34), chr(34) * 2)}",80\n')
    counts: dict[str, int] = {}
    for kind, _ in rows:
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def reference(lake: Path, feed: Path) -> tuple[float, int]:
    """Seconds and (indicator, local) pairs of DuckDB's raw exact joins over the lake's Parquet files."""
    con = duckdb.connect()
    started = time.perf_counter()
    con.execute(f"CREATE TABLE ind AS SELECT type, value FROM read_csv('{feed}', header=true, all_varchar=true)")
    parts = [f"SELECT {col} AS value, ts, {local} AS local FROM read_parquet('{lake / table}/*/*.parquet')"
             for table, col, local in EXACT if (lake / table).exists()]
    sql = (f"SELECT i.value, o.local, count(*) AS n, min(o.ts), max(o.ts) FROM ({' UNION ALL '.join(parts)}) o "
           "JOIN ind i ON o.value = i.value GROUP BY i.value, o.local")
    pairs = len(con.execute(sql).fetchall())
    return time.perf_counter() - started, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--indicators", type=int, default=100_000)
    parser.add_argument("--work", default="/tmp/winnow-bench-intel")
    parser.add_argument("--lake", default="")
    parser.add_argument("--spark", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from winnow.detections import get_detector
    from winnow.engine import Window, connect
    from winnow.intel import load_feeds

    lake = _lake(args)
    feed = Path(args.work) / f"feeds-{args.indicators}"
    kinds = write_feed(lake, feed, args.indicators)
    rows = {t: ds.dataset(lake / t, format="parquet", partitioning="hive").count_rows()
            for t in sorted({t for t, _, _ in EXACT}) if (lake / t).exists()}
    started = time.perf_counter()
    loaded = load_feeds(feed)
    load_s = time.perf_counter() - started
    out = {"indicators": kinds, "loaded": len(loaded.indicators), "lake_rows": rows, "load_s": round(load_s, 3)}
    for engine_name in ["duckdb"] + (["spark"] if args.spark else []):
        with connect(engine_name, lake) as engine:
            for label, limit in (("default limit", None), ("every pair", 10**9)):
                detector = get_detector("intel", feeds=str(feed), **({} if limit is None else {"limit": limit}))
                times, found = [], []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    found = detector.find(engine, Window())
                    times.append(time.perf_counter() - started)
                out[f"{engine_name}, {label}"] = {"seconds": round(min(times), 3), "findings": len(found)}
    times = []
    for _ in range(args.repeat):
        seconds, pairs = reference(lake, feed / "bench.csv")
        times.append(seconds)
    out["duckdb_raw_join"] = {"seconds": round(min(times), 3), "pairs": pairs}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
