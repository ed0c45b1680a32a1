"""Profiles computed day by day into the lake, only for source days that are new or changed.

Each profile is stored as ``<lake>/_derived/profiles/<name>/day=YYYY-MM-DD.parquet`` with one row per
(entity, hour): ``entity``, ``hour`` (UTC, start of the hour), ``value``. ``_sources.json`` beside them
remembers, per day, a signature of the source table's Parquet files for that day (names, sizes,
modification times): a day whose files did not change is not read again (the changed days are read in
one query, from the first to the last), so re-running over the same
days changes nothing and one new day costs one day's scan. A file is written to a temporary name and
renamed, so a killed run leaves the previous state.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow.engine import Engine, Window, fetch
from winnow.profiles.definitions import Profile

SCHEMA = pa.schema([("entity", pa.string()), ("hour", pa.timestamp("us", tz="UTC")), ("value", pa.float64())])


def folder(root: Path, name: str) -> Path:
    return root / "_derived" / "profiles" / name


def update_profiles(engine: Engine, profiles: tuple[Profile, ...]) -> dict[str, int]:
    """Bring every profile up to date with its table; returns the days computed per profile."""
    computed = {}
    for profile in profiles:
        computed[profile.name] = _update(engine, profile)
    return computed


def _update(engine: Engine, profile: Profile) -> int:
    lake = engine.lake
    if not lake.has_table(profile.table):
        return 0
    out = folder(lake.root, profile.name)
    out.mkdir(parents=True, exist_ok=True)
    ledger_path = out / "_sources.json"
    ledger = json.loads(ledger_path.read_text()) if ledger_path.exists() else {}
    changed = {}
    for day_dir in sorted(lake.table_dir(profile.table).glob("day=*")):
        day = day_dir.name[len("day="):]
        signature = _signature(day_dir)
        if ledger.get(day) != signature or not (out / f"day={day}.parquet").exists():
            changed[day] = signature
    if not changed:
        return 0
    # one query from the first changed day to the last (days between them that did not change are dropped)
    first, last = dt.date.fromisoformat(min(changed)), dt.date.fromisoformat(max(changed))
    rows = _compute(engine, profile, first, (last - first).days + 1)
    days = pc.strftime(rows["hour"], format="%Y-%m-%d")
    for day, signature in changed.items():
        _write(out / f"day={day}.parquet", rows.filter(pc.equal(days, day)))
        ledger[day] = signature
        _write_json(ledger_path, ledger)
    return len(changed)


def _compute(engine: Engine, profile: Profile, day: dt.date, days: int = 1) -> pa.Table:
    since = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    table = engine.table(profile.table, Window(since, since + dt.timedelta(days=days)))
    if profile.table == "net.conn":
        from winnow.detections._orient import oriented

        table = oriented(table)
    rows = profile.rows(table)
    rows = rows.filter(rows[profile.entity].notnull() & rows.ts.notnull())
    if profile.internal_only:
        from winnow.detections._networks import internal_networks, is_internal

        internal_networks()  # a bad networks.internal is a user error here as in the detectors
        rows = rows.filter(is_internal(rows[profile.entity]))
    rows = rows.mutate(entity=rows[profile.entity].cast("string"), hour=rows.ts.truncate("h"))
    per = rows.group_by(["entity", "hour"]).aggregate(value=profile.value(rows).cast("float64"))
    return fetch(per.order_by(["entity", "hour"])).cast(SCHEMA)


def read_profile(root: Path, name: str, since: dt.datetime | None = None,
                 until: dt.datetime | None = None) -> pa.Table:
    """The stored rows of profile ``name`` with ``since <= hour < until`` (either end open)."""
    parts = []
    for path in sorted(folder(root, name).glob("day=*.parquet")):
        day = dt.date.fromisoformat(path.stem[len("day="):])
        start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        if (until is not None and start >= until) or (since is not None and start + dt.timedelta(days=1) <= since):
            continue
        parts.append(pq.read_table(path).cast(SCHEMA))
    table = pa.concat_tables(parts) if parts else SCHEMA.empty_table()
    keep = None
    if since is not None:
        keep = pc.greater_equal(table["hour"], pa.scalar(since, pa.timestamp("us", tz="UTC")))
    if until is not None:
        below = pc.less(table["hour"], pa.scalar(until, pa.timestamp("us", tz="UTC")))
        keep = below if keep is None else pc.and_(keep, below)
    return table.filter(keep) if keep is not None else table


def _signature(day_dir: Path) -> str:
    stats = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in day_dir.glob("*.parquet"))
    return hashlib.sha1(json.dumps(stats).encode()).hexdigest()


def _write(path: Path, table: pa.Table) -> None:
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)
