"""Accuracy of lateral, accounts and linux_auth on the simulated domain of ``winnow.sim.logons``.

    python -P benchmarks/accuracy_lateral.py --users 1000 --days 7 --seeds 1 2 3 [--engine duckdb]

For each seed: a clean week (nothing planted: every finding is false) and a week with the planted
first-time admin logon chain, each simulated, ingested and judged over the days after the 3-day
baseline (``winnow.sim.logons.evaluate``). Prints one JSON line per run, then a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def main() -> None:
    from winnow.sim.logons import evaluate

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--engine", default="duckdb")
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        for plant in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                row = evaluate(Path(tmp), args.users, args.days, seed, plant, args.engine)
            print(json.dumps(row), flush=True)
            rows.append(row)
    print("\n| seed | planted | user-days judged | findings | recall | precision | false | false medium+ "
          "| false / 1,000 user-days |\n|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        recall, precision = ("-" if r[k] is None else r[k] for k in ("recall", "precision"))
        print(f"| {r['seed']} | {'chain' if r['plant'] else 'clean'} | {r['judged_user_days']:,} | {r['findings']} "
              f"| {recall} | {precision} "
              f"| {r['false_findings']} | {r['false_medium_or_higher']} | {r['false_per_1000_user_days']} |")


if __name__ == "__main__":
    main()
