"""Time ``winnow queue`` once risk is computed, at the entity count of a 10,000-host day.

    PYTHONPATH=src python -P benchmarks/triage_queue.py --lake LAKE [--hosts-in-lake 30] [--hosts 10000]
        [--work /tmp/triage-queue] [--runs 5]

LAKE is a detected simulated lake (e.g. the one ``benchmarks/triage_workload.py`` builds). Its risk
cache is computed, then its entities are replicated under new names until the cache holds as many
entities per host as LAKE has, times --hosts (the queue's cost depends on the number of entities, not
on how they were made). ``winnow queue --limit 20`` (the table an analyst opens) and ``--format jsonl``
of the whole queue are timed as subprocesses, with and without an expert model. Peer: the same
ordering in DuckDB over the cache file (``ORDER BY score DESC LIMIT 20``), the near-limit reference.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def timed(args: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "winnow.cli.main", *args], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--hosts-in-lake", type=int, default=30)
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/triage-queue"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from winnow.config import load, use
    from winnow.scoring import suppress
    from winnow.triage.model import ExpertModel, save_model
    from winnow.triage.queue import CACHE, ROW_GROUP, _key, risk_table

    lake = args.work / "lake"
    if lake.exists():
        shutil.rmtree(lake)
    lake.mkdir(parents=True)
    shutil.copy(args.lake / "findings.duckdb", lake / "findings.duckdb")
    with use(load(lake)):
        base = risk_table(args.lake)
        copies = max(1, round(args.hosts / args.hosts_in_lake))
        parts = []
        for k in range(copies):
            renamed = pa.array([f"{e}#{k}" for e in base.column("entity").to_pylist()])
            parts.append(base.set_column(0, "entity", renamed))
        scaled = pa.concat_tables(parts).replace_schema_metadata(
            {"key": _key(lake, None, lake / suppress.FILE_NAME)})
        (lake / CACHE).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(scaled, lake / CACHE, row_group_size=ROW_GROUP)
    size = (lake / CACHE).stat().st_size
    print(f"{scaled.num_rows:,} entities ({base.num_rows:,} in a {args.hosts_in_lake}-host lake × {copies}); "
          f"cache {size / 1e6:.0f} MB")
    results = {"entities": scaled.num_rows}
    results["queue_table_risk_s"] = timed(["queue", "--lake", str(lake), "--limit", "20", "--format", "json"],
                                          args.runs)
    features = [json.loads(t) for t in base.column("risk").to_pylist()[:200]]
    from winnow.triage.features import entity_features

    rows = [entity_features(f) for f in features]
    save_model(lake, ExpertModel.fit(rows, [1 + round(4 * r["max_score"]) for r in rows]))
    results["queue_table_model_s"] = timed(["queue", "--lake", str(lake), "--limit", "20", "--format", "json"],
                                           args.runs)
    start = time.perf_counter()
    duckdb.sql(f"SELECT entity, score FROM read_parquet('{lake / CACHE}') ORDER BY score DESC LIMIT 20").fetchall()
    results["duckdb_order_s"] = round(time.perf_counter() - start, 3)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import winnow.cli.main"], check=True)
    results["python_start_s"] = round(time.perf_counter() - start, 3)
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()}))


if __name__ == "__main__":
    main()
