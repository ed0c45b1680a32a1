"""Network analytics at scale: every network detector on a simulated day of a large network, against peers.

    python benchmarks/network.py --hosts 10000 --work /tmp/winnow-net      # simulate + ingest once, then time
    python benchmarks/network.py --lake LAKE --spark                         # time an existing lake, Spark too

Contenders, each a separate process timed with ``time.perf_counter`` and its peak memory sampled as the
summed RSS of its process tree (the Spark JVM included) every 0.2 s:

* ``winnow detect`` on DuckDB, all detectors;
* ``winnow detect --detector beacon`` on DuckDB (the like-for-like task for the peer);
* ``rita_peer.py``: RITA v5's published beacon scoring in pandas, vectorized (see that file);
* DuckDB's raw scan: one GROUP BY (src, dst) with count/min/max over ``net.conn``, the near-limit reference;
* ``winnow detect --engine spark`` with ``--spark`` (local mode, all cores).

Prints a Markdown table (seconds, rows/s, ratio to the DuckDB run, peak memory) and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree_rss(pid: int) -> int:
    """Bytes resident in ``pid`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        child = int(entry.name)
        children.setdefault(int(fields[1]), []).append(child)
        rss[child] = int(fields[21]) * PAGE
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0)
        todo.extend(children.get(current, ()))
    return total


def timed(name: str, argv: list[str], env: dict | None = None) -> dict:
    """Run ``argv``; return wall seconds and the peak summed RSS of its process tree."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"{name} failed ({proc.returncode}):\n{err[-2000:]}")
    return {"name": name, "seconds": round(seconds, 1), "peak_mb": round(peak[0] / 2**20), "stdout": out}


def winnow(*args: str) -> list[str]:
    return [sys.executable, "-m", "winnow.cli.main", *args]


def count_rows(lake: Path) -> int:
    import duckdb

    return duckdb.sql(f"select count(*) from read_parquet('{lake}/net.conn/*/*.parquet')").fetchall()[0][0]


def prepare(args: argparse.Namespace) -> Path:
    """Simulate and ingest unless an existing lake was given."""
    if args.lake:
        return args.lake
    logs, lake = args.work / "logs", args.work / "lake"
    if not (logs / "truth.json").exists():
        print(f"simulating {args.hosts} hosts into {logs} ...", file=sys.stderr)
        subprocess.run(winnow("simulate", "--out", str(logs), "--hosts", str(args.hosts), "--seed", str(args.seed)),
                       check=True)
    if not (lake / "net.conn").exists():
        print(f"ingesting into {lake} ...", file=sys.stderr)
        subprocess.run(winnow("ingest", str(logs), "--lake", str(lake), "--report", "jsonl"), check=True,
                       stdout=subprocess.DEVNULL)
    return lake


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", type=Path, help="an existing lake (skips simulate + ingest)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/winnow-net"), help="where to simulate and ingest")
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--spark", action="store_true", help="also time the Spark engine (local mode)")
    args = parser.parse_args()
    lake = prepare(args)
    rows = count_rows(lake)
    runs = [
        timed("winnow detect, all detectors (DuckDB)", winnow("detect", "--lake", str(lake), "--engine", "duckdb")),
        timed("winnow detect --detector beacon (DuckDB)",
              winnow("detect", "--lake", str(lake), "--engine", "duckdb", "--detector", "beacon")),
        timed("RITA v5 beacon scoring in pandas (peer)", [sys.executable, str(HERE / "rita_peer.py"), str(lake)]),
        timed("DuckDB raw scan: GROUP BY src, dst (reference)", [sys.executable, "-c", (
            "import duckdb,sys; duckdb.sql(\"select src_ip, dst_ip, count(*), min(ts), max(ts) from "
            f"read_parquet('{lake}/net.conn/*/*.parquet') group by all\").fetchall()")]),
    ]
    if args.spark:
        runs.append(timed("winnow detect, all detectors (Spark local)",
                          winnow("detect", "--lake", str(lake), "--engine", "spark")))
    base = runs[0]["seconds"]
    print(f"\nnet.conn rows: {rows:,}\n")
    print("| contender | seconds | conn rows/s | time vs winnow all (DuckDB) | peak memory |")
    print("|---|---|---|---|---|")
    for run in runs:
        print(f"| {run['name']} | {run['seconds']} | {rows / run['seconds'] / 1e6:.2f} M | "
              f"{run['seconds'] / base:.2f}x | {run['peak_mb']:,} MB |")
    print(json.dumps({"rows": rows, "runs": [{k: v for k, v in r.items() if k != "stdout"} for r in runs]}))


if __name__ == "__main__":
    main()
