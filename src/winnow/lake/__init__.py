"""The Parquet lake: one folder per table, partitioned by day, with a manifest of ingested files.

Everything that writes the lake takes its lock (:func:`lake_lock`) and publishes through one
protocol (:func:`publish` of a :class:`Commit`); see :mod:`winnow.lake.commit` for its guarantees.
"""

from __future__ import annotations

from winnow.lake.commit import Commit, publish
from winnow.lake.layout import Lake, default_lake_path
from winnow.lake.lock import LakeBusy, lake_lock
from winnow.lake.manifest import Manifest, ManifestEntry
from winnow.lake.writer import FileWriter

__all__ = ["Commit", "FileWriter", "Lake", "LakeBusy", "Manifest", "ManifestEntry", "default_lake_path",
           "lake_lock", "publish"]
