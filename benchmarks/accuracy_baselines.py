"""Baselines, first-seen and sensor health on a simulated month with planted behaviour (and without it).

    PYTHONPATH=src python -P benchmarks/accuracy_baselines.py [--hosts 40] [--days 28] [--seed 7]
        [--work /tmp/baselines-month]

Two folders from one seed: ``winnow simulate --logons`` for ``--days`` days (network, endpoint and logon
logs with weekday and working-hour seasonality, and the simulator's own attacks), then
:func:`winnow.sim.behaviour.plant` in one of them: a night exfiltration, an unusual-hour logon, logons
to many new hosts, a new admin, Word starting a shell, a silent endpoint, a 90 % feed drop and a
drifting clock. Both are ingested and every detector runs at default settings. Printed: for each
planted kind whether a detector meant for it found it (score, reason) and which others did; for
``baseline``, ``first_seen`` and ``sensor_health`` their medium-or-higher findings, how many name
something planted, and the false ones per 1,000 entity-days — on the planted month and on the clean one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path


def build(root: Path, hosts: int, days: int, seed: int, planted: bool) -> dict:
    """Simulate (and plant), ingest, detect; cached in ``root`` once done."""
    if (root / "done.json").exists():
        return json.loads((root / "done.json").read_text())
    shutil.rmtree(root, ignore_errors=True)
    cli = [sys.executable, "-m", "winnow.cli.main"]
    times = {}
    began = time.perf_counter()
    subprocess.run(cli + ["simulate", "--out", str(root), "--hosts", str(hosts), "--days", str(days), "--seed",
                          str(seed), "--logons"], check=True, capture_output=True)
    if planted:
        from winnow.sim.behaviour import plant

        plant(root, seed)
    times["simulate_s"] = round(time.perf_counter() - began, 1)
    for step, args in (("ingest_s", ["ingest", str(root / "zeek"), str(root / "endpoint"), "--lake",
                                     str(root / "lake")]),
                       ("detect_s", ["detect", "--lake", str(root / "lake")])):
        began = time.perf_counter()
        subprocess.run(cli + args, check=True, capture_output=True)
        times[step] = round(time.perf_counter() - began, 1)
    (root / "done.json").write_text(json.dumps(times) + "\n")
    return times


def findings_of(root: Path) -> list[dict]:
    from winnow.lake import Lake
    from winnow.store import FindingsStore

    with FindingsStore(Lake.open(str(root / "lake")), read_only=True) as store:
        return store.query()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=40)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path("/tmp/baselines-month"))
    args = parser.parse_args()
    from winnow.sim.score_behaviour import BASELINE_DETECTORS, other_attacks, score, short

    name = f"h{args.hosts}-d{args.days}-s{args.seed}"
    planted_root, clean_root = args.work / f"{name}-planted", args.work / f"{name}-clean"
    times = build(planted_root, args.hosts, args.days, args.seed, True)
    clean_times = build(clean_root, args.hosts, args.days, args.seed, False)
    result = score(findings_of(planted_root), planted_root)
    print(f"{args.hosts} hosts, {args.days} days, seed {args.seed}: planted month {times}, clean month {clean_times}")
    print(f"{'kind':20} {'found by a meant detector':28} also found by")
    for kind, k in result["kinds"].items():
        meant = f"{'/'.join(k['meant'])} {k['score']:.2f}" if k["found"] else f"MISSED ({'/'.join(k['meant'])})"
        print(f"{kind:20} {meant:28} {', '.join(d for d in k['found_by'] if d not in k['meant']) or '-'}")
        if k["why"]:
            print(f"{'':22}{k['why'][:220]}")
    print(f"recall {result['recall']:.0%} of {len(result['kinds'])} kinds; entity-days {result['entity_days']:,}")
    # the clean month: the simulator's own attacks are still there, so findings naming them are not false
    attacked = other_attacks(clean_root)
    clean = findings_of(clean_root)
    from winnow.sim.score_behaviour import entity_days, names_of

    days = entity_days(clean_root)
    for detector in BASELINE_DETECTORS:
        d = result["detectors"][detector]
        medium = [f for f in clean if f["detector"] == detector and f.get("severity") in ("medium", "high")]
        false = [f for f in medium if not names_of(f) & {short(n) for n in attacked}]
        print(f"{detector:14} planted month: {d['medium_or_higher']} medium+ ({d['true']} on planted entities, "
              f"{d['false']} false = {d['false_per_1000_entity_days']:.2f} per 1,000 entity-days); clean month: "
              f"{len(medium)} medium+, {len(false)} false = {1000 * len(false) / days:.2f} per 1,000 entity-days")
        for f in false[:5]:
            print(f"{'':16}false on the clean month: {f['score']:.2f} {f['why'][:160]}")
        for example in d["false_examples"][:5]:
            print(f"{'':16}false on the planted month: {example}")


if __name__ == "__main__":
    main()
