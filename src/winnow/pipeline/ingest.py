"""``winnow ingest`` as a whole: ingest files, then refresh the derived tables whose inputs changed.

Both steps run under one hold of the lake's writer lock, so no other writer comes between the new
rows and the tables derived from them. ``from winnow.ingest import ingest`` is this function too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winnow.enrich.derived import derived_tables
from winnow.errors import WinnowError
from winnow.ingest.report import FileReport, IngestReport
from winnow.ingest.run import ingest_files
from winnow.lake import Lake
from winnow.lake.lock import lake_lock


@dataclass
class PipelineReport(IngestReport):
    """An ingest run and what the refresh of each derived table did (by table name)."""

    derived: dict[str, Any] = field(default_factory=dict)

    @property
    def conn_proc(self) -> Any:
        """The ``net.conn_proc`` refresh's report (None when no endpoint or connection data arrived)."""
        return self.derived.get("net.conn_proc")


def ingest(
    paths: list[str | Path],
    lake_path: str | Path | None = None,
    fmt: str | None = None,
    sensor: str | None = None,
    on_file: Callable[[FileReport], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    engine: str | None = None,
) -> PipelineReport:
    """Ingest files and folders into the lake, then refresh derived tables; re-ingesting known content adds nothing.

    Args:
        paths: files, folders, compressed files, zip or tar archives.
        lake_path: lake folder (created if missing).
        fmt: force a registered source instead of sniffing.
        sensor: sensor name for rows whose log does not name one.
        on_file: called with each file's report as soon as it is done.
        on_progress: called with (bytes done, bytes total).
        workers: files parsed at once in worker processes (default: the ``ingest.workers`` setting).
        engine: a Spark master URL (``spark``, ``local[N]``, ``spark://HOST:PORT``, ...) to parse the
            files as Spark tasks; None or ``duckdb``: worker processes on this machine.
    """
    lake = Lake.open(lake_path, create=True)
    with lake_lock(lake):
        files = ingest_files(lake, paths, fmt, sensor, on_file, on_progress, workers, engine)
        report = PipelineReport(files.ingest_id, files.files)
        report.derived = refresh_derived(lake, report.totals(), f"{len(report.files)} files ingested, but ")
    return report


def refresh_derived(lake: Lake, changed: Iterable[str], context: str = "") -> dict[str, Any]:
    """Refresh every derived table one of whose inputs is in ``changed``; return their reports by table.

    A refresh that runs out of memory is a user error naming the command that rebuilds the table
    (``context`` starts its message). The caller holds the lake's lock.
    """
    changed = set(changed)
    out = {}
    for derived in derived_tables():
        if not derived.inputs & changed or not all(lake.has_table(t) for t in derived.needs):
            continue
        try:
            out[derived.table] = derived.refresh(lake)
        except Exception as exc:
            from winnow.engine.base import memory_hint, out_of_memory

            if not out_of_memory(exc):
                raise
            raise WinnowError(f"{context}{derived.table} was not built: {memory_hint()}, "
                              f"then run '{derived.command}'") from None
        changed.add(derived.table)
    return out
