"""Where things live inside a lake folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from winnow.errors import WinnowError

MANIFEST = "_manifest.jsonl"
JOURNAL = "_journal"
TMP = "_tmp"
FINDINGS_DB = "findings.duckdb"


def default_lake_path() -> Path:
    """The ``lake`` setting in force (``$WINNOW_LAKE``, a config file, or ``./winnow-lake``)."""
    from winnow.config import current

    return Path(current().get("lake"))


@dataclass(frozen=True)
class Lake:
    """A lake folder: ``<table>/day=YYYY-MM-DD/<file-hash>.parquet`` plus bookkeeping files."""

    root: Path

    @classmethod
    def open(cls, root: str | Path | None = None, create: bool = False) -> Lake:
        """Open (optionally create) the lake at ``root``; user error when it is not a lake."""
        path = Path(root) if root is not None else default_lake_path()
        if create:
            if path.exists() and not path.is_dir():
                raise WinnowError(f"lake path {path} exists and is not a folder")
            path.mkdir(parents=True, exist_ok=True)
        elif not path.is_dir():
            raise WinnowError(f"no lake at {path}: run 'winnow ingest PATH --lake {path}' first")
        # no recovery here: only an ingest holding the lake's lock may finish or drop another
        # run's half-done work (winnow.ingest does, under the lock)
        return cls(path)

    def table_dir(self, table: str) -> Path:
        return self.root / table

    def partition(self, table: str, day: str) -> Path:
        return self.table_dir(table) / f"day={day}"

    def has_table(self, table: str) -> bool:
        directory = self.table_dir(table)
        return directory.is_dir() and any(directory.glob("day=*/*.parquet"))

    def tables(self) -> list[str]:
        """Names of the tables the lake holds rows of (folders with Parquet parts), sorted."""
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.name.startswith("_") and self.has_table(p.name))

    def table_glob(self, table: str) -> str:
        return str(self.table_dir(table) / "day=*" / "*.parquet")

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    @property
    def journal_dir(self) -> Path:
        return self.root / JOURNAL

    @property
    def tmp_dir(self) -> Path:
        return self.root / TMP

    @property
    def findings_db(self) -> Path:
        return self.root / FINDINGS_DB
