"""Which real attack recordings the lateral, accounts and linux_auth detectors fire on, file by file.

    python benchmarks/lateral_samples.py [--data ../shared/data] [--folders "Lateral Movement" ...]

Each file (an EVTX sample of sbousseaden/EVTX-ATTACK-SAMPLES, a Mordor atomic zip, an auditd or
loghub log) is ingested into a lake of its own, the three detectors run over it on DuckDB, and the
file is listed as firing (with its findings' kinds and best severity) or not. Prints one JSON line per
file, then per folder the share of files with a finding of medium severity or higher.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

DETECTORS = ("lateral", "accounts", "linux_auth")
FOLDERS = ("evtx-attack-samples/Lateral Movement", "evtx-attack-samples/Persistence",
           "evtx-attack-samples/Privilege Escalation", "evtx-attack-samples/Defense Evasion", "mordor/atomic",
           "auditd/izysec-usecases", "loghub-ssh-linux/OpenSSH", "loghub-ssh-linux/Linux")
SUFFIXES = (".evtx", ".zip", ".log")
RANK = {"info": 0, "low": 1, "medium": 2, "high": 3}


def judge(path: Path, root: Path) -> dict:
    from winnow.detections import get_detector
    from winnow.engine import Window, connect
    from winnow.ingest import ingest

    lake = root / "lake"
    ingest([path], lake)
    findings = []
    if lake.exists():
        with connect("duckdb", lake) as engine:
            findings = [f for name in DETECTORS for f in get_detector(name).find(engine, Window())]
    best = max((f.severity for f in findings), key=RANK.__getitem__, default=None)
    return {"file": path.name, "findings": len(findings), "best": best,
            "kinds": sorted({f"{f.detector}/{f.evidence['kind']}" for f in findings})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--folders", nargs="*", default=FOLDERS)
    args = parser.parse_args()
    summary = []
    for folder in args.folders:
        files = sorted(p for p in (args.data / folder).iterdir()
                       if p.suffix in SUFFIXES and not p.name.endswith(("_network.zip", "_enriched.log")))
        rows = []
        for path in files:
            with tempfile.TemporaryDirectory() as tmp:
                row = {"folder": folder, **judge(path, Path(tmp))}
            print(json.dumps(row), flush=True)
            rows.append(row)
        medium = [r for r in rows if r["best"] in ("medium", "high")]
        summary.append((folder, len(rows), len(medium), sum(1 for r in rows if r["findings"])))
    print("\n| folder | files | medium or higher | any finding |\n|---|---:|---:|---:|")
    for folder, n, medium, anything in summary:
        print(f"| {folder} | {n} | {medium} ({100 * medium / max(n, 1):.0f} %) | {anything} |")


if __name__ == "__main__":
    main()
