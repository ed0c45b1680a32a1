"""The manifest: one JSON line per ingested file, keyed by the file's content hash."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from winnow.lake.layout import Lake


@dataclass(frozen=True)
class ManifestEntry:
    """What one ingested file contributed."""

    sha256: str
    file: str
    source_format: str
    ingest_id: str
    ingested_at: str
    rows: dict[str, int] = field(default_factory=dict)
    warnings: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    parts: list[str] = field(default_factory=list)
    size: int = 0
    mtime_ns: int = 0


class Manifest:
    """Read and append the manifest. A torn last line (a killed writer) is ignored."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._entries: dict[str, ManifestEntry] | None = None
        self._by_name: dict[tuple[str, int, int], ManifestEntry] | None = None

    def entries(self) -> dict[str, ManifestEntry]:
        if self._entries is None:
            self._entries = {}
            path = self.lake.manifest_path
            if path.exists():
                with open(path, encoding="utf-8") as fh:
                    for line in fh:
                        try:
                            entry = ManifestEntry(**json.loads(line))
                        except (json.JSONDecodeError, TypeError):
                            continue
                        self._entries[entry.sha256] = entry
        return self._entries

    def unchanged(self, file: str, size: int, mtime_ns: int) -> ManifestEntry | None:
        """The entry of a file ingested under this name with this size and modification time."""
        if self._by_name is None:
            self._by_name = {(e.file, e.size, e.mtime_ns): e for e in self.entries().values() if e.mtime_ns}
        return self._by_name.get((file, size, mtime_ns)) if mtime_ns else None

    def __contains__(self, sha256: str) -> bool:
        return sha256 in self.entries()

    def get(self, sha256: str) -> ManifestEntry | None:
        return self.entries().get(sha256)

    def append(self, entry: ManifestEntry) -> None:
        """Durably append one entry (the commit point of a file's ingest)."""
        self.append_many([entry])

    def append_many(self, entries: list[ManifestEntry]) -> None:
        """Durably append entries, one line each, with one fsync (the commit point of their files)."""
        if not entries:
            return
        path = self.lake.manifest_path
        text = "".join(json.dumps(asdict(entry), sort_keys=True) + "\n" for entry in entries)
        with open(path, "a+b") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell():
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        for entry in entries:
            self.entries()[entry.sha256] = entry
            if self._by_name is not None and entry.mtime_ns:
                self._by_name[(entry.file, entry.size, entry.mtime_ns)] = entry
