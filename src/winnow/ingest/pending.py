"""Files whose parts are written but not yet published, committed together (one journal, one fsync)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from winnow.config import current
from winnow.lake import Lake, Manifest, ManifestEntry
from winnow.lake.commit import Commit, publish
from winnow.lake.writer import SharedParts


class PendingCommits:
    """Files whose parts are written but not yet published, committed together (one journal, one fsync).

    A group is published when a file of ``ingest.commit_rows`` rows or more joins it, when it holds
    ``ingest.commit_files`` files, when its oldest file has waited ``ingest.commit_seconds``, and at the
    end of the run. A run killed before a group's journal is written has published nothing of it: the
    next run ingests those files again (their temporary parts are dropped, nothing is duplicated).
    ``state`` gives the moves of state files published with each group (the NetFlow templates).
    """

    def __init__(self, lake: Lake, manifest: Manifest, ingest_id: str,
                 state: Callable[[], list[tuple[Path, Path]]] | None = None) -> None:
        self.lake, self.manifest, self.state = lake, manifest, state
        self.commits: list[tuple[ManifestEntry, list, list]] = []
        self.shas: dict[str, ManifestEntry] = {}
        self.shared = SharedParts(lake, ingest_id)
        self.since = 0.0
        config = current()
        self.max_rows = config.get("ingest.commit_rows")
        self.max_files = config.get("ingest.commit_files")
        self.max_seconds = config.get("ingest.commit_seconds")

    def get(self, sha256: str) -> ManifestEntry | None:
        """The entry of this content, committed or pending."""
        return self.shas.get(sha256) or self.manifest.get(sha256)

    def add(self, entry: ManifestEntry, moves: list[tuple[Path, Path]],
            rows: dict[tuple[str, str], list[pa.Table]] | None = None) -> None:
        """Queue one file's commit; publish the group when it is due.

        With ``rows`` (a small file's, by (table, day): :meth:`FileWriter.take`) they go to the group's
        shared parts; ``moves`` are then only its other parts (warnings).
        """
        if not self.commits:
            self.since = time.monotonic()
        keys = self.shared.add(entry.sha256, rows) if rows is not None else []
        self.commits.append((entry, moves, keys))
        self.shas[entry.sha256] = entry
        if (sum(entry.rows.values()) >= self.max_rows or len(self.commits) >= self.max_files
                or time.monotonic() - self.since >= self.max_seconds):
            self.flush()

    def flush(self) -> None:
        """Publish every queued file."""
        if not self.commits:
            return
        commits, self.commits, self.shas = self.commits, [], {}
        shared = self.shared.close()
        commit = Commit()
        for entry, moves, keys in commits:
            moves = [shared[key] for key in keys] + moves
            parts = [str(final.relative_to(self.lake.root)) for _, final in moves]
            commit.add(dataclasses.replace(entry, parts=parts), moves)
        if self.state is not None:
            commit.add(moves=self.state())
        publish(self.lake, commit, self.manifest)
