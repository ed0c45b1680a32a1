"""Benchmark: EVTX files -> records, ours vs raw pyevtx-rs vs python-evtx, on the same files in one sitting.

    python benchmarks/evtx.py                          # the shared data's EVTX files (attack samples + corpus)
    python benchmarks/evtx.py --path some/folder --repeat 3 --rounds 5
    python benchmarks/evtx.py --python-evtx-cap 20     # seconds python-evtx may run (it is ~1000x slower)
    python benchmarks/evtx.py --old-src /tmp/old/src   # also the code of another checkout, alternated with this one

Each contender runs in its own process, ``--repeat`` passes over the files; the contenders take turns,
``--rounds`` times (ours, the peers, ours ...), so a machine shared with other work slows them alike, and
the median of the rounds is reported. CPU seconds are user + system time of the contender's process and of
its worker processes, over the timed work only (imports, the scratch lakes' creation and removal are not
counted); peak RSS comes from the OS (wait4). Ratios are against raw pyevtx-rs, by CPU time and by wall time.
pyevtx-rs runs with its default ``number_of_threads`` (0: one thread per core) in every contender, as
``winnow.sources.evtx_file`` calls it.

Contenders:
  winnow-ingest   winnow.ingest of the files into a fresh lake (records -> win.event + mapped tables, Parquet,
                  manifest); ``--workers`` as ``winnow ingest --workers`` (default: the ``ingest.workers`` setting)
  winnow-parse    the ``evtx`` source alone: every batch built, nothing written (the parser's share of the ingest)
  lake-parts      writing the Parquet parts one ingest of the files makes, from Arrow tables already in memory,
                  with the lake's own code (``SharedParts``: a temporary file each; one commit renames them into
                  their day folders): what the one-part-per-(table, UTC day) layout costs by itself
  table-parts     the same rows written as one part per table (every day in it): a coarser layout's cost, for
                  comparison only (the lake is not written this way)
  pyevtx-rs       raw ``evtx.PyEvtxParser(path).records_json()`` iterated (JSON text per record, not decoded)
  python-evtx     ``Evtx.Evtx`` records and ``.xml()`` until the time cap, on the same file list from the start
                  (first round only)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# this script is named like the package it measures: keep its folder off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
DEFAULT_DATA = Path(os.environ.get("WINNOW_TEST_DATA") or REPO.parent / "shared" / "data")
CONTENDERS = ("winnow-ingest", "winnow-parse", "lake-parts", "table-parts", "pyevtx-rs", "python-evtx")
#: contenders that run the winnow code (also run on ``--old-src``)
OURS = ("winnow-ingest", "winnow-parse")


def _cpu() -> float:
    """CPU seconds (user + system) of this process and of its finished children so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class _Clock:
    """Wall and CPU seconds of the timed parts of a run (``with clock:`` around each)."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> _Clock:
        self._wall, self._cpu = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._wall
        self.cpu += _cpu() - self._cpu


def _lake_parts(files: list[str], workers: int | None) -> list[tuple[str, str, object]]:
    """``(table, day, rows)`` of every Parquet part one ingest of ``files`` writes (the warnings table left out)."""
    import pyarrow.parquet as pq

    from winnow.pipeline.ingest import ingest

    with tempfile.TemporaryDirectory() as lake:
        ingest([Path(f) for f in files], lake, workers=workers)
        return [(p.parent.parent.name, p.parent.name, pq.read_table(p))
                for p in sorted(Path(lake).glob("*/day=*/*.parquet")) if p.parent.parent.name != "ingest_warnings"]


def _write_parts(parts: list[tuple[str, str, object]], clock: _Clock) -> None:
    """Write ``parts`` into a scratch lake with the lake's own code: shared parts, then one commit publishing them."""
    from winnow.lake import Commit, Lake, publish
    from winnow.lake.writer import SharedParts

    with tempfile.TemporaryDirectory() as root, clock:
        lake = Lake.open(root)
        shared = SharedParts(lake, "bench")
        shared.add("0" * 64, {(table, day.removeprefix("day=")): [rows] for table, day, rows in parts})
        publish(lake, Commit(moves=list(shared.close().values())))


def run_contender(name: str, files: list[str], repeat: int, cap: float, workers: int | None) -> dict:
    """Run one contender in this process; return records read, wall and CPU seconds (imports not timed)."""
    if name.startswith("winnow") or name.endswith("parts"):
        import winnow.pipeline.ingest  # noqa: F401
        import winnow.sources.evtx_file  # noqa: F401  (pyarrow, the source registry)
    clock = _Clock()
    records = 0
    if name == "winnow-ingest":
        from winnow.pipeline.ingest import ingest

        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as lake:
                with clock:
                    report = ingest([Path(f) for f in files], lake, workers=workers)
                records += report.totals().get("win.event", 0)
        return {"records": records, "seconds": clock.wall, "cpu": clock.cpu}
    if name in ("lake-parts", "table-parts"):
        import pyarrow as pa

        parts = _lake_parts(files, workers)
        events = sum(rows.num_rows for table, _, rows in parts if table == "win.event")
        if name == "table-parts":
            by_table: dict[str, list] = {}
            for table, _, rows in parts:
                by_table.setdefault(table, []).append(rows)
            parts = [(table, "all", pa.concat_tables(rows)) for table, rows in by_table.items()]
        for _ in range(repeat):
            _write_parts(parts, clock)
            records += events
        return {"records": records, "seconds": clock.wall, "cpu": clock.cpu, "parts": len(parts),
                "rows_per_part": sum(rows.num_rows for _, _, rows in parts) / max(1, len(parts))}
    with clock:
        if name == "winnow-parse":
            from winnow.sources import ParseContext, get_source

            source = get_source("evtx")
            for _ in range(repeat):
                for file in files:
                    with open(file, "rb") as fh:
                        records += sum(b.data.num_rows for b in source.parse(fh, ParseContext(file))
                                       if b.table == "win.event")
        elif name == "pyevtx-rs":
            from evtx import PyEvtxParser

            for _ in range(repeat):
                for file in files:
                    it = PyEvtxParser(file).records_json()
                    while True:
                        try:
                            next(it)
                        except StopIteration:
                            break
                        except RuntimeError:
                            continue
                        records += 1
        elif name == "python-evtx":
            from Evtx.Evtx import Evtx

            start = time.perf_counter()
            for file in files:
                with Evtx(file) as log:
                    for record in log.records():
                        record.xml()
                        records += 1
                        if time.perf_counter() - start > cap:
                            break
                if time.perf_counter() - start > cap:
                    break
    return {"records": records, "seconds": clock.wall, "cpu": clock.cpu}


def measure(name: str, files_list: Path, args: argparse.Namespace, src: str | None = None) -> dict:
    """Run a contender in a child process (with ``src`` first on its import path); add its peak RSS (MB)."""
    cmd = [sys.executable, "-P", __file__, "--run", name, "--files", str(files_list), "--repeat", str(args.repeat),
           "--python-evtx-cap", str(args.python_evtx_cap)] + (["--workers", str(args.workers)] if args.workers else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{name} failed with status {status}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", type=Path, action="append",
                        help="folder or .evtx file (repeatable; default: the shared data's EVTX folders)")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the files in each run of a contender")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each contender, in turn (the median is shown)")
    parser.add_argument("--python-evtx-cap", type=float, default=20.0,
                        help="seconds python-evtx may run (0: leave it out)")
    parser.add_argument("--workers", type=int, help="worker processes of winnow-ingest (default: ingest.workers)")
    parser.add_argument("--old-src", help="the src folder of another checkout: its ingest and parse run too")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--files", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        files = args.files.read_text().splitlines()
        print(json.dumps(run_contender(args.run, files, args.repeat, args.python_evtx_cap, args.workers)))
        return
    paths = args.path or [DEFAULT_DATA / "evtx-attack-samples", DEFAULT_DATA / "evtx-parser-corpus"]
    files = sorted(str(f) for p in paths for f in ([p] if p.is_file() else p.rglob("*.evtx")))
    size = sum(Path(f).stat().st_size for f in files)
    runs: list[tuple[str, str, str | None]] = [(name, name, None) for name in CONTENDERS
                                               if name != "python-evtx" or args.python_evtx_cap > 0]
    if args.old_src:
        runs[1:1] = [(f"{name} (old)", name, args.old_src) for name in OURS]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(files))
        files_list = Path(fh.name)
    results: dict[str, list[dict]] = {label: [] for label, _, _ in runs}
    loads = [os.getloadavg()[0]]
    try:
        for round_ in range(args.rounds):
            for label, name, src in runs:
                if name != "python-evtx" or round_ == 0:
                    results[label].append(measure(name, files_list, args, src))
            loads.append(os.getloadavg()[0])
    finally:
        files_list.unlink()

    def median(label: str, key: str) -> float:
        return statistics.median(r[key] for r in results[label])

    raw_wall = median("pyevtx-rs", "records") / median("pyevtx-rs", "seconds")
    raw_cpu = median("pyevtx-rs", "records") / median("pyevtx-rs", "cpu")
    print(f"{len(files)} files, {size / 1e6:.1f} MB, {results['pyevtx-rs'][0]['records'] // args.repeat:,} records "
          f"per pass, {args.repeat} passes a run, median of {args.rounds} rounds (python-evtx: one run, capped at "
          f"{args.python_evtx_cap:.0f} s); load average {min(loads):.1f}-{max(loads):.1f}")
    for label in ("lake-parts", "table-parts"):
        first = results[label][0]
        print(f"{label}: {first['parts']} parts, {first['rows_per_part']:.0f} rows each on average")
    print("\n| contender | records | wall s | CPU s | records per CPU s | vs raw (CPU) | records/s (wall) | "
          "vs raw (wall) | MB/s (wall) | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, _, _ in runs:
        records, wall, cpu = median(label, "records"), median(label, "seconds"), median(label, "cpu")
        per_cpu, per_wall = records / cpu if cpu else 0.0, records / wall if wall else 0.0
        mb = size * args.repeat / wall / 1e6 if wall and not label.startswith("python") else float("nan")
        rss = max(r["peak_rss_mb"] for r in results[label])
        print(f"| {label} | {records:,.0f} | {wall:.3f} | {cpu:.3f} | {per_cpu:,.0f} | {per_cpu / raw_cpu:.3f}x | "
              f"{per_wall:,.0f} | {per_wall / raw_wall:.3f}x | {mb:.1f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
