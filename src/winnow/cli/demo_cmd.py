"""winnow demo: simulate -> ingest -> detect -> top findings, no arguments."""

from __future__ import annotations

import time
from pathlib import Path

import click

DEMO_DIR = Path("winnow-demo")


@click.command("demo")
@click.option("--hosts", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--top", type=click.IntRange(min=1), default=12, show_default=True)
def demo(hosts: int, seed: int, top: int) -> None:
    """Simulate a small network with planted attacks, ingest it, detect, and print the top findings.

    Everything goes under ./winnow-demo (logs, truth.json, lake); run it again to reuse it.
    """
    from winnow.cli.findings_view import print_findings
    from winnow.config import load
    from winnow.engine import connect
    from winnow.pipeline.detect import run_detectors
    from winnow.pipeline.ingest import ingest
    from winnow.sim import simulate
    from winnow.store import FindingsStore

    logs, lake = DEMO_DIR / "logs", DEMO_DIR / "lake"
    started = time.perf_counter()
    say = lambda text: click.echo(text, err=True)  # noqa: E731
    say(f"1/3 simulating {hosts} hosts for one day (seed {seed}) -> {logs}")
    summary = simulate(logs, hosts=hosts, days=1, seed=seed)
    say(f"    {', '.join(f'{k} {v:,}' for k, v in summary.get('rows', {}).items())} rows")
    say(f"2/3 ingesting into the lake {lake}")
    report = ingest([logs], lake)
    say(f"    {sum(report.totals().values()):,} new rows, {sum(f.warnings for f in report.files)} warnings")
    say("3/3 detecting (DuckDB)")
    with connect("duckdb", lake) as engine:
        for run in run_detectors(engine, config=load(lake=lake)):
            say(f"    {run.detector:<12} {run.findings:>5} findings in {run.seconds:.2f} s")
    with FindingsStore(engine.lake, read_only=True) as store:
        rows = store.query(limit=top)
    print_findings(rows, title=f"Top {len(rows)} findings")
    say(f"done in {time.perf_counter() - started:.1f} s. Next:")
    say(f"  winnow queue --lake {lake}                               # which host or user first, and why")
    say(f"  winnow lake --lake {lake}                                # what the lake holds")
    say(f"  winnow findings --lake {lake} --format jsonl | head      # every field, for tools")
    say(f"  winnow findings --lake {lake} --detector beacon         # one detector")
    say(f"  winnow processes --lake {lake}                          # which process moved the bytes")
    say(f"  winnow sensors --lake {lake} --all                      # which hosts and feeds report, and how much")
    say(f"  winnow detect --lake {lake} --engine spark               # same analytics on Spark")
    say(f"  cat {logs}/truth.json                                # what was planted")
