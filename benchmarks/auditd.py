"""Benchmark: parse a large synthetic audit.log with the auditd source; report MB/s, records/s and peak RSS.

    python benchmarks/auditd.py                     # 1 M records built from the shared real samples
    python benchmarks/auditd.py --records 200000    # fewer
    python benchmarks/auditd.py --log path/audit.log

The synthetic log repeats the raw events of the shared samples (``auditd/`` in the shared data: execve,
connect/accept, PAM and other records) with fresh serials, timestamps and pids, interleaving every
other event's records with its neighbour's. Parsing runs in a child process so peak RSS is its own;
CPU time is reported beside wall time because a shared machine makes wall time noisy. The peer is the
record-by-record path (``ingest.auditd_column_events`` 0) on the same file in the same run.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WINNOW_TEST_DATA") or REPO.parent / "shared" / "data") / "auditd"
_HEAD = re.compile(r"msg=audit\(\d+\.\d+:\d+\):?")  # with its colon: the new stamp brings one


def sample_events() -> list[list[str]]:
    """Raw events (lists of record lines without their header time) from the shared samples."""
    events: dict[tuple[str, str], list[str]] = {}
    for path in sorted(SHARED.rglob("*.log")):
        if "_enriched" in path.name or "_secure" in path.name:
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            m = re.match(r"(?:node=\S+ )?type=\S+ msg=audit\((\d+\.\d+):(\d+)\)", line)
            if m:
                events.setdefault((path.name, m.group(2)), []).append(line)
    return list(events.values())


def build(path: Path, records: int) -> int:
    """Write about ``records`` records to ``path``; return the exact count."""
    events = sample_events()
    written, serial, pid = 0, 1, 10_000
    with open(path, "w", encoding="utf-8") as out:
        while written < records:
            for i, event in enumerate(events):
                stamp = f"msg=audit({1_700_000_000 + serial // 100}.{serial % 1000:03d}:{serial}):"
                lines = [_HEAD.sub(stamp, line).replace(" pid=", f" pid={pid}", 1) for line in event]
                if i % 2 and len(lines) > 1:  # interleave: move this event's first record one event later
                    held = lines.pop(0)
                    lines.append(held)
                out.write("\n".join(lines) + "\n")
                written += len(lines)
                serial += 1
                pid += 1
                if written >= records:
                    break
    return written


def measure(path: Path, gather: int | None) -> None:
    """Child process: parse ``path`` and print rows, seconds and peak RSS."""
    from winnow.sources import ParseContext, sources

    source = sources()["auditd"]
    ctx = ParseContext(str(path), auditd_column_events=gather)
    start, cpu = time.perf_counter(), time.process_time()
    rows: dict[str, int] = {}
    with open(path, "rb") as fh:
        for batch in source.parse(io.BufferedReader(fh), ctx):
            rows[batch.table] = rows.get(batch.table, 0) + batch.data.num_rows
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds:.3f} {cpu:.3f} {peak:.0f} {rows} warnings={len(ctx.warnings)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--log", type=Path)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--gather", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.gather)
        return
    with tempfile.TemporaryDirectory() as tmp:
        log = args.log
        if log is None:
            log = Path(tmp) / "audit.log"
            records = build(log, args.records)
        else:
            with open(log, "rb") as fh:
                records = sum(1 for _ in fh)
        size = log.stat().st_size / 1e6
        print(f"{records:,} records, {size:.0f} MB")
        for label, gather in (("column-wise (default)", None), ("peer: record by record", 0)):
            command = [sys.executable, __file__, "--measure", str(log)]
            if gather is not None:
                command += ["--gather", str(gather)]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout.split(maxsplit=3)
            seconds, cpu, peak, rest = float(out[0]), float(out[1]), out[2], out[3].strip()
            print(f"{label}: {seconds:.2f} s wall ({size / seconds:.1f} MB/s), {cpu:.2f} s CPU ({size / cpu:.1f} MB/s, "
                  f"{records / cpu:,.0f} records/s), peak RSS {peak} MB; rows {rest}")


if __name__ == "__main__":
    main()
