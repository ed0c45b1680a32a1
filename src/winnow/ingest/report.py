"""What an ingest did: one report per input file, and the run's."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FileReport:
    """What happened to one input file."""

    file: str
    status: str  # ingested | already ingested | unrecognized | abandoned | failed
    source_format: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    warnings: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    message: str = ""

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass
class IngestReport:
    """One ingest run: its id and every file's report."""

    ingest_id: str
    files: list[FileReport] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        """New rows per table."""
        out: dict[str, int] = {}
        for f in self.files:
            for table, n in f.rows.items():
                out[table] = out.get(table, 0) + n
        return out
