"""What is in a lake: per table its rows, time range, sources, files, parts, bytes and warnings.

Rows and time ranges come from Parquet footers (row counts and the min/max statistics of the
time column), so a summary reads a few kilobytes per part however large the lake is; only a row
group without statistics has its time column read. Sources, files and warnings come from the
manifest (``_manifest.jsonl``).

Warnings are attributed to tables through the files they were met in: a table's ``warnings`` is
the number of problems met in the files its rows came from (a file feeding several tables counts
in each). The ``ingest_warnings`` row counts every warning, including those of files that gave
no rows at all; ``winnow warnings`` lists them.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow.lake.layout import Lake
from winnow.lake.manifest import Manifest

#: keys of every summary row, in order
FIELDS = ("table", "kind", "rows", "first_ts", "last_ts", "days", "sources", "files", "parts", "bytes", "warnings",
          "detectors")
WARNINGS_TABLE = "ingest_warnings"
#: footers are read on this many threads (reading one is mostly waiting for the disk)
THREADS = 8


@dataclass(frozen=True)
class PartStats:
    """What one Parquet part's footer says: rows, the time column's range, its size on disk."""

    rows: int
    first: dt.datetime | None
    last: dt.datetime | None
    size: int


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def part_stats(path: Path, time_column: str = "ts") -> PartStats:
    """Rows and time range of one part from its footer; row groups without statistics are read (that column only)."""
    meta = pq.read_metadata(path)
    paths = [meta.schema.column(i).path for i in range(meta.num_columns)]  # leaf columns, as row groups index them
    lows: list[dt.datetime] = []
    highs: list[dt.datetime] = []
    if time_column in paths:
        index = paths.index(time_column)
        for group in range(meta.num_row_groups):
            chunk = meta.row_group(group)
            if chunk.num_rows == 0:
                continue
            stats = chunk.column(index).statistics
            if stats is not None and stats.has_min_max:
                low, high = _utc(stats.min), _utc(stats.max)
            else:  # no statistics: scan this row group's time column
                values = pq.ParquetFile(path).read_row_group(group, columns=[time_column]).column(0)
                bounds = pc.min_max(values)
                low, high = _utc(bounds["min"].as_py()), _utc(bounds["max"].as_py())
            if low is not None:
                lows.append(low)
            if high is not None:
                highs.append(high)
    return PartStats(meta.num_rows, min(lows, default=None), max(highs, default=None), path.stat().st_size)


def _time_column(table: str) -> str:
    from winnow.schema import TABLES

    declared = TABLES.get(table)
    return declared.time_column if declared is not None else "ts"


def _iso(value: dt.datetime | str | None) -> str | None:
    """``value`` as ISO-8601 UTC to the second (``2026-11-02T00:00:03Z``)."""
    if isinstance(value, str):
        value = _utc(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def lake_tables(lake: Lake) -> list[str]:
    """Names of the tables with at least one part (folders ``<table>/day=*/*.parquet``), sorted."""
    return sorted(p.name for p in lake.root.iterdir()
                  if p.is_dir() and not p.name.startswith(("_", ".")) and any(p.glob("day=*/*.parquet")))


def table_summary(lake: Lake) -> list[dict[str, Any]]:
    """One row per table of the lake (see :data:`FIELDS`), log tables first, then derived ones, then warnings.

    ``kind`` is ``log`` (filled by ingest from log files), ``derived`` (built from other tables,
    such as ``net.conn_proc``) or ``warnings``. ``sources`` are the source formats of the files
    behind a table; ``files`` how many files the manifest lists for it; ``parts``/``bytes`` what
    is on disk. Times are UTC, ISO-8601 to the second.
    """
    names = lake_tables(lake)
    parts = {name: sorted(lake.table_dir(name).glob("day=*/*.parquet")) for name in names}
    jobs = [(name, path) for name in names for path in parts[name]]
    columns = {name: _time_column(name) for name in names}
    if len(jobs) > THREADS:
        with ThreadPoolExecutor(THREADS) as pool:
            stats = list(pool.map(lambda job: part_stats(job[1], columns[job[0]]), jobs))
    else:
        stats = [part_stats(path, columns[name]) for name, path in jobs]
    by_table: dict[str, list[PartStats]] = {name: [] for name in names}
    for (name, _), item in zip(jobs, stats, strict=True):
        by_table[name].append(item)

    entries = list(Manifest(lake).entries().values())
    rows = []
    for name in names:
        items = by_table[name]
        if name == WARNINGS_TABLE:
            fed = [e for e in entries if e.warnings]
            kind = "warnings"
        else:
            fed = [e for e in entries if e.rows.get(name)]
            kind = "log" if fed else "derived"
        firsts = [s.first for s in items if s.first is not None]
        lasts = [s.last for s in items if s.last is not None]
        rows.append({
            "table": name, "kind": kind, "rows": sum(s.rows for s in items),
            "first_ts": _iso(min(firsts, default=None)), "last_ts": _iso(max(lasts, default=None)),
            "days": len({p.parent.name for p in parts[name]}),
            "sources": sorted({e.source_format for e in fed}),
            "files": len(fed) if fed or kind != "derived" else None,
            "parts": len(items), "bytes": sum(s.size for s in items),
            "warnings": sum(e.warnings for e in fed) if kind == "log" else None,
            "detectors": None,
        })
    if names and WARNINGS_TABLE not in names:  # no warnings: say so rather than leave the reader wondering
        rows.append({**dict.fromkeys(FIELDS), "table": WARNINGS_TABLE, "kind": "warnings", "rows": 0, "days": 0,
                     "sources": [], "files": 0, "parts": 0, "bytes": 0})
    order = {"log": 0, "derived": 1, "warnings": 2}
    return sorted(rows, key=lambda r: (order[r["kind"]], r["table"]))


def findings_summary(lake: Lake) -> dict[str, Any]:
    """The findings store as one row (see :data:`FIELDS`).

    ``rows`` counts the findings, ``first_ts``/``last_ts`` span their first and last seen,
    ``sources`` names the detectors, and ``detectors`` gives per detector its findings, top score,
    first/last seen, last run and engine. While a detection writes the store, ``rows`` and
    ``detectors`` are None.
    """
    from winnow.engine import DatabaseBusy
    from winnow.store import FindingsStore

    try:
        with FindingsStore(lake, read_only=True) as store:
            detectors = store.detector_summary()
    except DatabaseBusy:  # a detection is storing findings: the tables are still worth showing
        return {**dict.fromkeys(FIELDS), "table": "findings", "kind": "findings", "sources": [],
                "bytes": lake.findings_db.stat().st_size}
    for row in detectors.values():
        row["first_seen"], row["last_seen"] = _iso(row["first_seen"]), _iso(row["last_seen"])
    firsts = [d["first_seen"] for d in detectors.values() if d["first_seen"]]
    lasts = [d["last_seen"] for d in detectors.values() if d["last_seen"]]
    return {
        "table": "findings", "kind": "findings", "rows": sum(d["findings"] for d in detectors.values()),
        "first_ts": min(firsts, default=None), "last_ts": max(lasts, default=None), "days": None,
        "sources": sorted(detectors), "files": None, "parts": None,
        "bytes": lake.findings_db.stat().st_size if lake.findings_db.exists() else 0, "warnings": None,
        "detectors": detectors,
    }


def summarize(lake: Lake) -> list[dict[str, Any]]:
    """Every table of the lake (:func:`table_summary`), then the findings store (:func:`findings_summary`)."""
    return [*table_summary(lake), findings_summary(lake)]
