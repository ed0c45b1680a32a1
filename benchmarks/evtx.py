"""Benchmark: EVTX files -> records, ours vs raw pyevtx-rs vs python-evtx, on the same files in one run.

    python benchmarks/evtx.py                          # the shared data's EVTX files (attack samples + corpus)
    python benchmarks/evtx.py --path some/folder --repeat 3
    python benchmarks/evtx.py --python-evtx-cap 20     # seconds python-evtx may run (it is ~1000x slower)

Each contender runs in its own process; wall time and peak RSS come from the OS (wait4).
Contenders:
  winnow-ingest  winnow.ingest of the files into a fresh lake (records -> win.event + mapped tables, Parquet, manifest);
                 the time inside ``ingest()`` (removing the scratch lake afterwards is not counted)
  winnow-parse   the ``evtx`` source alone: every batch built, nothing written (the parser's share of the ingest)
  pyevtx-rs      raw ``evtx.PyEvtxParser(path).records_json()`` iterated (JSON text per record, not decoded)
  python-evtx    ``Evtx.Evtx`` records and ``.xml()`` until the time cap, on the same file list from the start
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# this script is named like the package it measures: keep its folder off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
DEFAULT_DATA = Path(os.environ.get("WINNOW_TEST_DATA") or REPO.parent / "shared" / "data")


def run_contender(name: str, files: list[str], repeat: int, cap: float) -> dict:
    """Run one contender in this process; return records read and seconds (imports are not timed)."""
    if name.startswith("winnow"):
        import winnow.pipeline.ingest  # noqa: F401
        import winnow.sources.evtx_file  # noqa: F401  (pyarrow, the source registry)
    start = time.perf_counter()
    records = 0
    if name == "winnow-ingest":
        from winnow.pipeline.ingest import ingest

        busy = 0.0  # time inside ingest(): creating and removing the scratch lakes is not counted
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as lake:
                began = time.perf_counter()
                report = ingest([Path(f) for f in files], lake)
                busy += time.perf_counter() - began
                records += report.totals().get("win.event", 0)
        return {"records": records, "seconds": busy}
    elif name == "winnow-parse":
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

        for file in files:
            with Evtx(file) as log:
                for record in log.records():
                    record.xml()
                    records += 1
                    if time.perf_counter() - start > cap:
                        break
            if time.perf_counter() - start > cap:
                break
    return {"records": records, "seconds": time.perf_counter() - start}


def measure(name: str, files_list: Path, repeat: int, cap: float) -> dict:
    """Run a contender in a child process; add its peak RSS (MB)."""
    cmd = [sys.executable, __file__, "--run", name, "--files", str(files_list), "--repeat", str(repeat),
           "--python-evtx-cap", str(cap)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
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
    parser.add_argument("--repeat", type=int, default=3, help="passes over the files for the fast contenders")
    parser.add_argument("--python-evtx-cap", type=float, default=20.0, help="seconds python-evtx may run")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--files", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        files = args.files.read_text().splitlines()
        print(json.dumps(run_contender(args.run, files, args.repeat, args.python_evtx_cap)))
        return
    paths = args.path or [DEFAULT_DATA / "evtx-attack-samples", DEFAULT_DATA / "evtx-parser-corpus"]
    files = sorted(str(f) for p in paths for f in ([p] if p.is_file() else p.rglob("*.evtx")))
    size = sum(Path(f).stat().st_size for f in files)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(files))
        files_list = Path(fh.name)
    try:
        results = {name: measure(name, files_list, args.repeat, args.python_evtx_cap)
                   for name in ("winnow-ingest", "winnow-parse", "pyevtx-rs", "python-evtx")}
    finally:
        files_list.unlink()
    raw = results["pyevtx-rs"]["records"] / results["pyevtx-rs"]["seconds"]
    print(f"{len(files)} files, {size / 1e6:.1f} MB, {results['pyevtx-rs']['records'] // args.repeat:,} records "
          f"per pass, {args.repeat} passes (python-evtx: one pass, capped at {args.python_evtx_cap:.0f} s)\n")
    print("| contender | records | seconds | records/s | vs pyevtx-rs | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        rate = r["records"] / r["seconds"] if r["seconds"] else 0.0
        print(f"| {name} | {r['records']:,} | {r['seconds']:.2f} | {rate:,.0f} | {rate / raw:.3f}x | "
              f"{r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
