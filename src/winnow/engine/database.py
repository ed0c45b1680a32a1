"""The findings store's database file, opened through the engine package.

The store keeps findings and runs in one embedded database file inside the lake (DuckDB today).
It reaches that file only through :func:`open_database`, so the engine package stays the one
place that imports a database library, and the store depends on nothing but this interface.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from winnow.errors import WinnowError


class Database(Protocol):
    """What the store uses of a connection: DB-API style statements with ``?`` parameters."""

    def execute(self, query: str, parameters: Sequence[Any] | None = None) -> Any:
        """Run one statement; the returned cursor has ``fetchall()``."""

    def executemany(self, query: str, parameters: Sequence[Sequence[Any]]) -> Any:
        """Run one statement for every row of parameters."""

    def close(self) -> None:
        """Close the connection."""


class DatabaseBusy(WinnowError):
    """Another process holds a database file's write lock (a detection storing its findings, probably)."""


def open_database(path: str | Path, read_only: bool = False) -> Database:
    """Open (create unless ``read_only``) the database file at ``path``.

    Statements run in autocommit mode; ``BEGIN TRANSACTION`` ... ``COMMIT`` groups them. A file
    another process holds open for writing is a user error, not a traceback.
    """
    import duckdb

    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        holder = re.search(r"\(PID (\d+)\)", str(exc))
        by = f" (pid {holder.group(1)})" if holder else ""
        raise DatabaseBusy(f"{path} is in use by another process{by} (a winnow command still running?); "
                           "try again when it has finished") from None


class DatabaseFile:
    """A database file in the lake folder, used as ``with Sub(lake_root) as store: ...``.

    Subclasses set ``FILE_NAME`` and ``SCHEMA`` (run when opened for writing, which creates the
    file). Opened ``read_only`` when the file does not exist yet, ``db`` stays None: readers see
    nothing and create nothing.
    """

    FILE_NAME = ""
    SCHEMA = ""

    def __init__(self, lake_root: Path | str, read_only: bool = False) -> None:
        self.path = Path(lake_root) / self.FILE_NAME
        self.read_only = read_only
        self.db: Any = None

    def __enter__(self) -> Any:
        if not (self.read_only and not self.path.exists()):
            self.db = open_database(self.path, read_only=self.read_only)
            if not self.read_only:
                self.db.execute(self.SCHEMA)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
