"""Accuracy of the identity detectors (guessing, roasting, dcsync) on simulations and on real recordings.

    python benchmarks/accuracy_identity.py --seeds 1 2 3 --hosts 500 --clean-hosts 200 --clean-days 7 \\
        --real ../shared/data

* **Simulations**: for each seed, ``winnow simulate --hosts H --seed S`` (the domain's Windows Security
  logs with the planted identity attacks, ``winnow.sim.endpoint_security``); the Security logs are
  ingested and the three detectors run; :mod:`winnow.sim.score_identity` gives precision and recall
  per planted kind.
* **Clean week**: ``winnow simulate --no-identity-attacks --days D``; every finding is false: the
  rate per 1,000 user-days (users = workstations).
* **Real recordings** (``--real``): every EVTX file of ``evtx-attack-samples`` holding Security events,
  and the Mordor host recordings (``mordor/**/*host*.zip``, the Log4Shell Security export,
  ``lsass_campaign_01``), each ingested on its own; lists the findings of each file (and the files with none).

Prints JSON lines, then Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DETECTORS = ("guessing", "roasting", "dcsync")
# this folder holds benchmarks/evtx.py, which would hide the evtx package the EVTX reader imports
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def _simulate(out: Path, hosts: int, days: int, seed: int, clean: bool) -> None:
    args = [sys.executable, "-m", "winnow.cli.main", "simulate", "--out", str(out), "--hosts", str(hosts),
            "--days", str(days), "--seed", str(seed)]
    if clean:
        args.append("--no-identity-attacks")
    subprocess.run(args, check=True, capture_output=True, text=True)


def _findings(paths: list[Path], lake: Path, engine: str = "duckdb") -> tuple[list, float]:
    from winnow.detections import get_detector
    from winnow.engine import Window, connect
    from winnow.ingest import ingest

    ingest(paths, lake)
    start = time.perf_counter()
    with connect(engine, lake) as eng:
        found = [f for name in DETECTORS for f in get_detector(name).find(eng, Window())]
    return found, time.perf_counter() - start


def simulated(work: Path, hosts: int, days: int, seed: int, clean: bool) -> dict:
    """Simulate, ingest the Security logs, detect and score one seed."""
    from winnow.sim.score_identity import score

    logs = work / f"logs-{seed}-{'clean' if clean else 'attacks'}"
    _simulate(logs, hosts, days, seed, clean)
    found, seconds = _findings(sorted(logs.glob("endpoint/*/security.json")), work / f"lake-{logs.name}")
    result = score(found, json.loads((logs / "truth.json").read_text()))
    return {"seed": seed, "hosts": hosts, "days": days, "clean": clean, "detect_s": round(seconds, 2), **result}


def real(data: Path, work: Path) -> list[dict]:
    """Each real recording with Security events on its own: its findings."""
    index = data / "evtx-attack-samples" / "_generated_index.tsv"
    files = []
    for line in index.read_text().splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) > 5 and "Security:" in cols[5]:
            files.append(data / "evtx-attack-samples" / cols[0])
    mordor = data / "mordor"
    files += sorted(mordor.rglob("*host*.zip")) + sorted(mordor.glob("log4shell/securityauditing_*.zip"))
    files += sorted(mordor.glob("lsass_campaign_01/*dump.zip"))
    out = []
    for i, path in enumerate(files):
        found, _ = _findings([path], work / f"real-{i}")
        out.append({"file": str(path.relative_to(data)), "findings": [
            {"detector": f.detector, "severity": f.severity, "entity": f.entity, "why": f.why} for f in found]})
    return out


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--clean-hosts", type=int, default=200)
    parser.add_argument("--clean-days", type=int, default=7)
    parser.add_argument("--clean-seed", type=int, default=4)
    parser.add_argument("--real", type=Path, help="the shared data folder (evtx-attack-samples, mordor)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="winnow-identity-") as tmp:
        work = Path(tmp)
        runs = [simulated(work, args.hosts, args.days, seed, False) for seed in args.seeds]
        clean = simulated(work, args.clean_hosts, args.clean_days, args.clean_seed, True)
        recordings = real(args.real, work) if args.real else []
    for run in [*runs, clean]:
        print(json.dumps({k: v for k, v in run.items() if k != "missed"}, default=str))
    for rec in recordings:
        print(json.dumps(rec))
    print("\n| seed | kind | attacks | found | findings | precision % | recall % |\n|---|---|---|---|---|---|---|")
    for run in runs:
        for kind, row in run["kinds"].items():
            print(f"| {run['seed']} | {kind} | {row['attacks']} | {row['found']} | {row['findings']} | "
                  f"{_pct(row['precision'])} | {_pct(row['recall'])} |")
    print(f"\nclean week: {clean['hosts']} users x {clean['days']} days = {clean['user_days']} user-days, "
          f"{clean['false']} findings, {clean['false_per_1000_user_days']:.2f} per 1,000 user-days")
    for f in clean["false_findings"]:
        print(f"  false: {f['detector']} {f['entity']}: {f['why']}")
    if recordings:
        print("\n| file | findings |\n|---|---|")
        for rec in recordings:
            shown = "; ".join(f"{f['detector']} {f['severity']}: {f['entity']}" for f in rec["findings"]) or "none"
            print(f"| {rec['file']} | {shown} |")


if __name__ == "__main__":
    main()
