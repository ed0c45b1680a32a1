"""Profiles, baselines, first-seen and sensor health over a lake: what one new day costs.

    PYTHONPATH=src python -P benchmarks/profiles.py --lake LAKE

On a lake of several days (for example the one `benchmarks/triage_workload.py --hosts 1000 --days 7`
builds): (1) every profile built from scratch, (2) the busiest day's profiles removed and brought up to
date again, which is what one new day costs, (3) a second update with nothing new, (4) the
`baseline`, `first_seen` and `sensor_health` detectors over that day (history from the days
before), each timed with ``time.perf_counter``; the profile folder's size is reported too. The peer is
the lake itself: DuckDB's plain scan of that day's rows of each profiled table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--day", help="the day treated as new (default: the busiest day of the first profile)")
    args = parser.parse_args()
    from winnow.detections import get_detector
    from winnow.engine import Window, connect, fetch
    from winnow.profiles import profiles, update_profiles
    from winnow.profiles.store import folder

    chosen = profiles()
    root = args.lake
    out: dict[str, object] = {}
    shutil.rmtree(root / "_derived" / "profiles", ignore_errors=True)
    with connect("duckdb", root) as engine:
        started = time.perf_counter()
        days = update_profiles(engine, chosen)
        out["build_all_s"] = round(time.perf_counter() - started, 2)
        out["days"] = days
        # the busiest day (the largest profile file), not a short day at the edge of the simulated ones
        last = args.day or max(folder(root, chosen[0].name).glob("day=*.parquet"),
                               key=lambda p: p.stat().st_size).stem[len("day="):]
        out["day"] = last
        for profile in chosen:  # forget that day: the next update computes it as a new day
            ledger = folder(root, profile.name) / "_sources.json"
            if ledger.exists():
                data = json.loads(ledger.read_text())
                data.pop(last, None)
                ledger.write_text(json.dumps(data))
        started = time.perf_counter()
        update_profiles(engine, chosen)
        out["one_new_day_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        update_profiles(engine, chosen)
        out["nothing_new_s"] = round(time.perf_counter() - started, 2)
        day = dt.date.fromisoformat(last)
        since = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        window = Window(since, since + dt.timedelta(days=1))
        scans = 0.0
        for table in sorted({p.table for p in chosen}):
            t = engine.table(table, window)
            if t is not None:
                started = time.perf_counter()
                fetch(t.aggregate(n=t.count()))
                scans += time.perf_counter() - started
        out["peer_raw_scan_last_day_s"] = round(scans, 2)
        for name in ("baseline", "first_seen", "sensor_health"):
            started = time.perf_counter()
            found = get_detector(name).find(engine, window)
            out[f"{name}_s"] = round(time.perf_counter() - started, 2)
            out[f"{name}_findings"] = len(found)
    size = sum(p.stat().st_size for p in (root / "_derived" / "profiles").rglob("*") if p.is_file())
    out["profiles_bytes"] = size
    print(json.dumps(out))


if __name__ == "__main__":
    main()
