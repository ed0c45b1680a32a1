"""Ingest logs into the lake: discover, sniff, parse, write Parquet parts, publish them atomically.

:func:`ingest_files` is this step alone (its caller holds the lake's lock). ``ingest`` (``from
winnow.ingest import ingest``, kept for the Python API) is :func:`winnow.pipeline.ingest.ingest`: it
takes the lock, ingests the files, then refreshes the derived tables their new rows change
(``net.conn_proc``), as ``winnow ingest`` does.
"""

from __future__ import annotations

from typing import Any

from winnow.ingest.report import FileReport, IngestReport
from winnow.ingest.run import ingest_files

__all__ = ["FileReport", "IngestReport", "ingest", "ingest_files"]


def __getattr__(name: str) -> Any:
    if name == "ingest":  # imported when asked for: the pipeline imports this package
        from winnow.pipeline.ingest import ingest

        return ingest
    raise AttributeError(f"module 'winnow.ingest' has no attribute {name!r}")
