"""Time ``winnow ingest`` of one file against DuckDB's own read of the same file, side by side in one run.

Each contender runs as its own process (imports included); wall time, CPU time and peak RSS come from the OS
(``wait4``). Runs alternate between the contenders (ours, peer, ours, peer ...) so a machine shared with other
work slows both alike; the median of each is reported, with the ratio ours / peer.

The children run as an installed package does: Python may cache compiled bytecode (``PYTHONDONTWRITEBYTECODE``
is dropped from their environment; pip compiles an installed package's modules, while a development shell that
sets it makes every run recompile ours, about 75 ms), and each contender runs once untimed first.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

_DUCK = ("import duckdb, sys; duckdb.execute(sys.argv[1])")


def winnow_ingest(path: Path, lake: Path) -> list[str]:
    """``winnow ingest PATH --lake LAKE`` as a command."""
    return [sys.executable, "-m", "winnow.cli.main", "ingest", str(path), "--lake", str(lake), "--report", "json"]


def duckdb_copy(read: str, out: Path) -> list[str]:
    """DuckDB ``COPY (SELECT * FROM <read>) TO out (FORMAT parquet)`` as a command."""
    return [sys.executable, "-c", _DUCK, f"COPY (SELECT * FROM {read}) TO '{out}' (FORMAT parquet)"]


def duckdb_json(path: Path) -> str:
    """DuckDB's own reader of a JSON lines file (every field, its own type inference)."""
    return f"read_json('{path}', format='newline_delimited', ignore_errors=true)"


def run(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and peak RSS in bytes of one child process."""
    started = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
        raise SystemExit(f"{cmd[:4]} failed:\n{err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def compare(path: Path, contenders: dict[str, list[str]], work: Path, repeat: int) -> list[dict]:
    """Run every contender ``repeat`` times, alternating; one result per contender (medians, peak of peaks)."""
    size = path.stat().st_size
    times: dict[str, list[tuple[float, float, int]]] = {name: [] for name in contenders}
    for turn in range(repeat + 1):
        for name, cmd in contenders.items():
            for leftover in ("lake", "peer.parquet"):
                target = work / leftover
                shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
            timed = run(cmd)
            if turn:  # the first turn warms the caches (bytecode, page cache) and is not counted
                times[name].append(timed)
    results = []
    for name, runs in times.items():
        wall = statistics.median(r[0] for r in runs)
        results.append({"contender": name, "seconds": round(wall, 2), "cpu_seconds": round(statistics.median(
            r[1] for r in runs), 2), "mb_per_s": round(size / wall / 1e6, 1), "peak_rss_mb": round(max(
                r[2] for r in runs) / 2**20)})
    return results


def table(path: Path, results: list[dict], repeat: int) -> str:
    """The results as a Markdown table, with each contender's time against the first's."""
    base = results[0]["seconds"]
    out = [f"input: {path.name}, {path.stat().st_size / 1e6:.0f} MB, median of {repeat} alternating runs",
           "| contender | seconds | CPU seconds | MB/s | peak RSS MB | time / first |", "|---|---|---|---|---|---|"]
    out += [f"| {r['contender']} | {r['seconds']} | {r['cpu_seconds']} | {r['mb_per_s']} | {r['peak_rss_mb']} | "
            f"{r['seconds'] / base:.2f}x |" for r in results]
    return "\n".join(out)
