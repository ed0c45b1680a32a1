"""Accuracy of process attribution (``net.conn_proc``) on seeded simulations with known truth.

    python benchmarks/accuracy_attribution.py --seeds 1 2 3 --clock-skews 3 30 --hosts 200

For each seed and clock skew: ``winnow simulate --clock-skew S`` (Sysmon and auditd endpoint logs on
half of the workstations, each host's clock off by up to S seconds plus 0.5 s jitter, 2 % of the
network events not logged, port reuse by polling agents and the implant, inbound SMB), ingest it
(which builds ``net.conn_proc``), and score ``net.conn_proc`` against ``endpoint_truth.parquet``
with :mod:`winnow.sim.score_attribution` (its docstring defines prediction, correct, precision and
recall). The join is then rebuilt once more on its own (``refresh_conn_proc(full=True)``) to time
it apart from the ingest, and its match counts are checked against the ingest's.

Prints one JSON line per run, then a Markdown table (one row per run and OS, and the overall row).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def simulate(out: Path, hosts: int, seed: int, skew: float) -> float:
    """Run ``winnow simulate``; returns the seconds it took."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "winnow.cli.main", "simulate", "--out", str(out), "--hosts", str(hosts),
                    "--seed", str(seed), "--clock-skew", str(skew)], check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def run_one(work: Path, hosts: int, seed: int, skew: float) -> dict:
    """Simulate, ingest, score and time one (seed, skew)."""
    from winnow.enrich.refresh import refresh_conn_proc
    from winnow.lake import Lake
    from winnow.pipeline.ingest import ingest
    from winnow.sim.score_attribution import score_lake

    logs, lake = work / f"logs-{seed}-{skew:g}", work / f"lake-{seed}-{skew:g}"
    sim_s = simulate(logs, hosts, seed, skew)
    start = time.perf_counter()
    report = ingest([logs], lake)
    ingest_s = time.perf_counter() - start
    joined = report.derived.get("net.conn_proc")
    if joined is None:
        raise SystemExit("the ingest built no net.conn_proc (no endpoint logs simulated?)")
    result = score_lake(lake, logs / "endpoint_truth.parquet")
    start = time.perf_counter()
    rebuilt = refresh_conn_proc(Lake.open(lake), full=True)
    join_s = time.perf_counter() - start
    if rebuilt.matches != joined.matches:
        raise SystemExit(f"rebuilding gave other matches: {rebuilt.matches} != {joined.matches}")
    return {"seed": seed, "clock_skew_s": skew, "hosts": hosts, **result,
            "seconds": {"simulate": round(sim_s, 1), "ingest_with_join": round(ingest_s, 1), "join": round(join_s, 1)}}


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.3f}"


def markdown(results: list[dict]) -> str:
    """The runs as a Markdown table: one row per run and OS, then the run's overall row."""
    lines = [
        "| seed | skew (s) | OS | truth sides (logged) | precision % | recall % | with ambiguous: P % / R % "
        "| unlogged sides predicted % | exact / skew / ambiguous / unmatched | ingest s | join s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        strict, loose = r["strict"], r["with_ambiguous"]
        for name in [*sorted(strict["by_os"]), "all"]:
            last = name == "all"
            s = strict if last else strict["by_os"][name]
            a = loose if last else loose["by_os"][name]
            lines.append(_row(r, name, s, a, r["matches"], last))
    return "\n".join(lines)


def _row(r: dict, name: str, s: dict, a: dict, m: dict, last: bool) -> str:
    matches = f"{m['exact']:,} / {m['skew']:,} / {m['ambiguous']:,} / {m['unmatched']:,}" if last else ""
    secs = r["seconds"]
    return (f"| {r['seed']} | {r['clock_skew_s']:g} | {'**all**' if last else name} "
            f"| {s['truth_logged'] + s['truth_unlogged']:,} ({s['truth_logged']:,}) "
            f"| {_pct(s['precision'])} | {_pct(s['recall'])} | {_pct(a['precision'])} / {_pct(a['recall'])} "
            f"| {_pct(s['unlogged_predicted'])} | {matches} "
            f"| {secs['ingest_with_join'] if last else ''} | {secs['join'] if last else ''} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--clock-skews", type=float, nargs="+", default=[3.0, 30.0],
                        help="values of the simulator's --clock-skew (bound of each host's clock offset, s)")
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="keep logs and lakes in this folder instead of a temporary one")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="winnow-attr-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for skew in args.clock_skews:
            for seed in args.seeds:
                result = run_one(work, args.hosts, seed, skew)
                results.append(result)
                print(json.dumps(result), flush=True)
    print()
    print(markdown(results))


if __name__ == "__main__":
    main()
