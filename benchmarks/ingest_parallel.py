"""Benchmark: ingest of a folder of many log files with ``--workers 1`` (one file after another) against more workers.

    python benchmarks/ingest_parallel.py                       # simulate 400 hosts, 2 days, half with endpoint logs
    python benchmarks/ingest_parallel.py --hosts 100 --days 1  # smaller
    python benchmarks/ingest_parallel.py --logs DIR            # an existing folder
    python benchmarks/ingest_parallel.py --workers 1 2 --repeat 3

Each contender is the ingest step of ``winnow ingest`` (``ingest_files`` under the lake's lock; the
``net.conn_proc`` refresh that ``winnow ingest`` runs after it is the same whatever the workers, so it
is left out) into a fresh lake, in its own process; runs alternate between contenders (1, 2, 1, 2 ...),
so a machine shared with other work slows them alike, and the median of each is reported. Wall and
CPU time (user + system, the workers included) come from the OS (``wait4``); peak memory is the
largest sum over the process and its workers of their proportional set sizes (``Pss`` of
``/proc/PID/smaps_rollup``: pages shared by a forked worker and its parent counted once), sampled
every 0.1 s, and the peak RSS of the largest single process. The lakes of the last runs are then
compared part by part (``tests/lake_digest.py``): they must be the same.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_INGEST = ("import sys; from winnow.ingest.run import ingest_files; from winnow.lake import Lake; "
           "from winnow.lake.lock import lake_lock; lake = Lake.open(sys.argv[2], create=True)\n"
           "with lake_lock(lake): ingest_files(lake, [sys.argv[1]], workers=int(sys.argv[3]))")


def tree_pss(pid: int) -> int:
    """Bytes of the proportional set sizes of ``pid`` and its descendants (0 once it is gone)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run(logs: Path, lake: Path, workers: int) -> tuple[float, float, int, int]:
    """Wall seconds, CPU seconds, peak summed PSS and peak RSS of the largest process of one ingest."""
    shutil.rmtree(lake, ignore_errors=True)
    env = {**os.environ, "WINNOW_INGEST_COMMIT_SECONDS": "1000000"}  # the same commit groups on every run
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _INGEST, str(logs), str(lake), str(workers)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peak[0] = max(peak[0], tree_pss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"ingest with {workers} workers failed:\n{proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, peak[0], usage.ru_maxrss * 1024


def simulated(logs: Path, hosts: int, days: int, endpoint_share: float) -> Path:
    """``winnow simulate`` output (seed 4) in ``logs``."""
    print(f"simulating {hosts} hosts, {days} days into {logs} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "winnow.cli.main", "simulate", "--out", str(logs), "--hosts", str(hosts),
                    "--days", str(days), "--endpoint-share", str(endpoint_share), "--seed", "4"], check=True,
                   stdout=subprocess.DEVNULL)
    return logs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logs", type=Path, help="an existing folder of logs (default: simulate one)")
    parser.add_argument("--hosts", type=int, default=400)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--endpoint-share", type=float, default=0.5)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the simulated logs and the lakes")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="winnow-bench-"))
    try:
        logs = args.logs or simulated(work / "logs", args.hosts, args.days, args.endpoint_share)
        files = [p for p in logs.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        print(f"input: {len(files)} files, {size / 1e6:,.0f} MB", file=sys.stderr)
        runs: dict[int, list[tuple[float, float, int, int]]] = {w: [] for w in args.workers}
        for i in range(args.repeat):
            for workers in args.workers:
                runs[workers].append(run(logs, work / f"lake-{workers}", workers))
                wall, cpu, pss, rss = runs[workers][-1]
                print(f"run {i + 1}, workers {workers}: {wall:.1f} s wall, {cpu:.1f} s CPU, "
                      f"{pss / 2**20:,.0f} MB peak PSS, {rss / 2**20:,.0f} MB peak RSS", file=sys.stderr)
        load = os.getloadavg()[0]
        print(f"input: {len(files)} files, {size / 1e6:,.0f} MB; median of {args.repeat} alternating runs; "
              f"load average at the end {load:.1f}")
        print("| workers | wall s | CPU s | MB/s | peak PSS MB (all) | peak RSS MB (largest) | wall / first |")
        print("|---|---|---|---|---|---|---|")
        base = statistics.median(r[0] for r in runs[args.workers[0]])
        for workers, rs in runs.items():
            wall = statistics.median(r[0] for r in rs)
            cpu = statistics.median(r[1] for r in rs)
            print(f"| {workers} | {wall:.1f} | {cpu:.1f} | {size / wall / 1e6:.1f} | "
                  f"{max(r[2] for r in rs) / 2**20:,.0f} | {max(r[3] for r in rs) / 2**20:,.0f} | {wall / base:.2f}x |")
        if len(args.workers) < 2:  # nothing to compare the lake with
            return
        sys.path.insert(0, str(REPO / "tests"))
        from lake_digest import lake_digests

        digests = [lake_digests(work / f"lake-{w}") for w in args.workers]
        same = all(d == digests[0] for d in digests)
        print(f"lakes the same part by part: {'yes' if same else 'NO'} ({len(digests[0]) - 1} parts)")
        if not same:
            raise SystemExit(1)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
