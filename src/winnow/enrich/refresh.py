"""Keep ``net.conn_proc`` in the lake up to date, one UTC day at a time.

A day of ``net.conn_proc`` depends on that day's ``net.conn`` parts, the ``proc.net`` parts of the
day and its neighbours (clock skew and connections across midnight; for a host whose clock is days
off, see ``sensor_shifts``, the days its shifted events fall on) and the ``proc.exec`` parts up
to the next day (command lines of processes started earlier). Each built day records a fingerprint
of those inputs (part names and sizes; parts are content-named, so a changed input has a new name)
in ``_derived/net.conn_proc.json``; a refresh rebuilds only the days whose fingerprint changed, so
new data on either side reaches the join without recomputing the rest. A day is replaced
atomically (written aside, then renamed over the old part), and the state file is written last:
a killed refresh is simply redone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.enrich.conn_proc import JoinParams, attribution, sensor_shifts
from winnow.lake import Lake

TABLE = "net.conn_proc"
PART = "conn_proc.parquet"
#: endpoint network events (proc.net rows) of a day per partition of its join (see ``attribution``)
EVENTS_PER_PARTITION = 4_000_000


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


def _with_provenance(data: pa.Table) -> pa.Table:
    from winnow.schema import get_table

    schema = get_table(TABLE).arrow_schema
    columns = []
    for f in schema:
        if f.name in data.column_names:
            columns.append(data[f.name].cast(f.type))
        elif f.name == "_source_format":
            columns.append(pa.repeat(pa.scalar("conn_proc", pa.string()), data.num_rows))
        else:
            columns.append(pa.nulls(data.num_rows, f.type))
    return pa.table(columns, schema=schema)


def refresh_conn_proc(lake: Lake, engine_url: str = "duckdb", params: JoinParams | None = None,
                      full: bool = False) -> RefreshReport:
    """Rebuild the days of ``net.conn_proc`` whose inputs changed (all of them with ``full``).

    The caller holds the lake's lock (``winnow ingest`` calls this at the end of its run).
    """
    from winnow.engine import connect

    params = params or JoinParams()
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

    state_path = _state_path(lake)
    state = {} if full or not state_path.exists() else json.loads(state_path.read_text())
    todo = []
    for day in sorted(wanted):
        fingerprint = _fingerprint(lake, day, exec_days, params, shifts)
        if state.get(day.isoformat()) == fingerprint:
            report.unchanged += 1
        else:
            todo.append((day, fingerprint))
    for day in sorted(_days(lake, TABLE) - wanted):  # a day whose endpoint data went away
        (lake.partition(TABLE, day.isoformat()) / PART).unlink(missing_ok=True)
        state.pop(day.isoformat(), None)
        report.removed.append(day.isoformat())
    for day, fingerprint in todo:
        since = dt.datetime.combine(day, dt.time(), dt.UTC)
        day_window = Window(since, since + dt.timedelta(days=1))
        parts = attribution(engine, day_window, params, shifts, _partitions(engine, day_window))
        for quality, n in _write_day(lake, engine, day, parts).items():
            report.matches[quality] = report.matches.get(quality, 0) + n
        state[day.isoformat()] = fingerprint
        report.built.append(day.isoformat())
    state_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=0, sort_keys=True))
    os.replace(tmp, state_path)


def _partitions(engine, window) -> int:
    """Partitions of a day's join: one per :data:`EVENTS_PER_PARTITION` endpoint network events."""
    proc = engine.table("proc.net", window)
    return max(1, -(-int(proc.count().execute()) // EVENTS_PER_PARTITION))


def _write_day(lake: Lake, engine, day: dt.date, parts: list | None) -> dict[str, int]:
    """Stream a day's rows into its part (written aside, then renamed over the old one); rows per match quality.

    The rows are streamed in batches, partition after partition, so a day of a large fleet (tens of
    millions of connection sides) never sits in memory at once."""
    final = lake.partition(TABLE, day.isoformat()) / PART
    counts: dict[str, int] = {}
    if parts is None:
        final.unlink(missing_ok=True)
        return counts
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_suffix(".parquet.tmp")
    writer = None
    try:
        for batch in (b for expr in parts for b in engine.batches(expr)):
            if not batch.num_rows:
                continue
            data = _with_provenance(pa.Table.from_batches([batch]))
            if writer is None:
                writer = pq.ParquetWriter(tmp, data.schema, compression="snappy")
            writer.write_table(data)
            for row in data["match"].value_counts().to_pylist():
                counts[row["values"]] = counts.get(row["values"], 0) + row["counts"]
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        final.unlink(missing_ok=True)
    else:
        os.replace(tmp, final)
    return counts
