"""The Parquet lake: one folder per table, partitioned by day, with a manifest of ingested files."""

from __future__ import annotations

from winnow.lake.layout import Lake, default_lake_path
from winnow.lake.manifest import Manifest, ManifestEntry
from winnow.lake.writer import FileWriter

__all__ = ["FileWriter", "Lake", "Manifest", "ManifestEntry", "default_lake_path"]
