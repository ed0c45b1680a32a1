"""Keep ``net.conn_proc`` in the lake up to date, one UTC day at a time.

A day of ``net.conn_proc`` depends on that day's ``net.conn`` parts, the ``proc.net`` parts of the
day and its neighbours (clock skew and connections across midnight; for a host whose clock is days
off, see ``sensor_shifts``, the days its shifted events fall on) and the ``proc.exec`` parts up
to the next day (command lines of processes started earlier). Each built day records a fingerprint
of those inputs (part names and sizes; parts are content-named, so a changed input has a new name)
in ``_derived/net.conn_proc.json``; a refresh rebuilds only the days whose fingerprint changed, so
new data on either side reaches the join without recomputing the rest. Each rebuilt day is one
commit of the lake's protocol (:mod:`winnow.lake.commit`): its part, written under ``_tmp``, replaces
the old one in the same commit that records its fingerprint, so a killed refresh keeps the days it
finished and redoes the others.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.lake import Lake
from winnow.lake.commit import Commit, publish
from winnow.lake.conform import conform, parquet_options

if TYPE_CHECKING:
    from winnow.enrich.conn_proc import JoinParams

TABLE = "net.conn_proc"
PART = "conn_proc.parquet"


@dataclass
class RefreshReport:
    """What a refresh did: days rebuilt, days unchanged, rows per match quality."""

    built: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    matches: dict[str, int] = field(default_factory=dict)
    #: per-host coarse clock offsets (ms) found, for hosts far from the network sensor's clock
    shifts: dict[str, int] = field(default_factory=dict)


def _days(lake: Lake, table: str) -> set[dt.date]:
    directory = lake.table_dir(table)
    if not directory.is_dir():
        return set()
    return {dt.date.fromisoformat(p.name[4:]) for p in directory.glob("day=*") if any(p.glob("*.parquet"))}


def _parts(lake: Lake, table: str, days: list[dt.date]) -> list[str]:
    out = []
    for day in days:
        for part in sorted(lake.partition(table, day.isoformat()).glob("*.parquet")):
            out.append(f"{table}/{day}/{part.name}:{part.stat().st_size}")
    return out


def _near(day: dt.date, day_shifts: set[int]) -> list[dt.date]:
    """Endpoint days whose events can describe connections of ``day`` (neighbours, and shifted clocks)."""
    return sorted({day + dt.timedelta(days=k + s) for k in (-1, 0, 1) for s in day_shifts})


def _fingerprint(lake: Lake, day: dt.date, exec_days: set[dt.date], params: JoinParams,
                 shifts: dict[str, int]) -> str:
    near = _near(day, _day_shifts(shifts))
    inputs = (_parts(lake, "net.conn", [day]) + _parts(lake, "proc.net", near)
              + _parts(lake, "proc.exec", sorted(d for d in exec_days if d <= near[-1]))
              + [repr(params), json.dumps(shifts, sort_keys=True)])
    return hashlib.sha256("\n".join(inputs).encode()).hexdigest()


def _day_shifts(shifts: dict[str, int]) -> set[int]:
    """Whole days by which endpoint clocks are ahead of the network's (0 always included)."""
    return {0} | {round(ms / 86_400_000) for ms in shifts.values()}


def _state_path(lake: Lake) -> Path:
    return lake.root / "_derived" / f"{TABLE}.json"


def refresh_conn_proc(lake: Lake, engine_url: str = "duckdb", params: JoinParams | None = None,
                      full: bool = False) -> RefreshReport:
    """Rebuild the days of ``net.conn_proc`` whose inputs changed (all of them with ``full``).

    The caller holds the lake's lock (the ingest pipeline, :mod:`winnow.pipeline.ingest`, calls this
    after a run that brought new rows of its inputs; ``winnow attribute`` by hand).
    """
    from winnow.engine import connect
    from winnow.enrich.conn_proc import JoinParams, sensor_shifts

    params = params or JoinParams.from_config()
    report = RefreshReport()
    proc_days, conn_days = _days(lake, "proc.net"), _days(lake, "net.conn")
    exec_days = _days(lake, "proc.exec")
    if not proc_days or not conn_days:
        return report
    with connect(engine_url, lake) as engine:
        shifts = sensor_shifts(engine, params)
        report.shifts = shifts
        day_shifts = _day_shifts(shifts)
        wanted = {d - dt.timedelta(days=s) + dt.timedelta(days=k)
                  for d in proc_days for s in day_shifts for k in (-1, 0, 1)} & conn_days
        _refresh_days(lake, engine, wanted, exec_days, params, shifts, full, report)
    return report


def _refresh_days(lake: Lake, engine, wanted: set[dt.date], exec_days: set[dt.date], params: JoinParams,
                  shifts: dict[str, int], full: bool, report: RefreshReport) -> None:
    from winnow.engine import Window
    from winnow.enrich.conn_proc import attribution

    state_path = _state_path(lake)
    state = {} if full or not state_path.exists() else json.loads(state_path.read_text())
    todo = []
    for day in sorted(wanted):
        fingerprint = _fingerprint(lake, day, exec_days, params, shifts)
        if state.get(day.isoformat()) == fingerprint:
            report.unchanged += 1
        else:
            todo.append((day, fingerprint))
    # temporary files stay where they are on an error: a journal may name them (the next writer recovers)
    folder = lake.tmp_dir / f"derive-{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True, exist_ok=True)
    gone = sorted(_days(lake, TABLE) - wanted)  # days whose endpoint data went away
    if gone:
        for day in gone:
            state.pop(day.isoformat(), None)
            report.removed.append(day.isoformat())
        _commit(lake, folder, "removed", None, [lake.partition(TABLE, d.isoformat()) / PART for d in gone], state)
    for day, fingerprint in todo:
        since = dt.datetime.combine(day, dt.time(), dt.UTC)
        day_window = Window(since, since + dt.timedelta(days=1))
        parts = attribution(engine, day_window, params, shifts, _partitions(engine, day_window))
        final = lake.partition(TABLE, day.isoformat()) / PART
        tmp, counts = _write_day(folder / f"{day}.parquet", engine, parts)
        for quality, n in counts.items():
            report.matches[quality] = report.matches.get(quality, 0) + n
        state[day.isoformat()] = fingerprint
        _commit(lake, folder, day.isoformat(), (tmp, final) if tmp else None, [] if tmp else [final], state)
        report.built.append(day.isoformat())
    shutil.rmtree(folder, ignore_errors=True)  # empty: every file was published


def _commit(lake: Lake, folder: Path, name: str, move: tuple[Path, Path] | None, removes: list[Path],
            state: dict[str, str]) -> None:
    """Publish a day's part (or its removal) together with the fingerprints that describe it."""
    tmp_state = folder / f"state-{name}.json"
    tmp_state.write_text(json.dumps(state, indent=0, sort_keys=True))
    publish(lake, Commit(moves=([move] if move else []) + [(tmp_state, _state_path(lake))], removes=removes))


def _partitions(engine, window) -> int:
    """Partitions of a day's join: one per ``attribution.events_per_partition`` endpoint network events."""
    from winnow.config import current

    proc = engine.table("proc.net", window)
    return max(1, -(-int(proc.count().execute()) // current().get("attribution.events_per_partition")))


def _write_day(tmp: Path, engine, parts: list | None) -> tuple[Path | None, dict[str, int]]:
    """Stream a day's rows into ``tmp``; return it (None when the day has no rows) and rows per match quality.

    The rows are streamed in batches, partition after partition, so a day of a large fleet (tens of
    millions of connection sides) never sits in memory at once."""
    counts: dict[str, int] = {}
    if parts is None:
        return None, counts
    writer = None
    try:
        for batch in (b for expr in parts for b in engine.batches(expr)):
            if not batch.num_rows:
                continue
            data = conform(TABLE, pa.Table.from_batches([batch]), {"_source_format": "conn_proc"})
            if writer is None:
                writer = pq.ParquetWriter(tmp, data.schema, compression=parquet_options()["compression"])
            writer.write_table(data)
            for row in data["match"].value_counts().to_pylist():
                counts[row["values"]] = counts.get(row["values"], 0) + row["counts"]
    finally:
        if writer is not None:
            writer.close()
    return (tmp if writer is not None else None), counts
