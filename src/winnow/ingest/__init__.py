"""Ingest logs into the lake."""

from __future__ import annotations

from winnow.ingest.run import FileReport, IngestReport, ingest

__all__ = ["FileReport", "IngestReport", "ingest"]
