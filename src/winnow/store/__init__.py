"""The findings store: a database file inside the lake folder (``findings.duckdb``).

The store opens it with :func:`winnow.engine.open_database`; it imports no database library itself.
"""

from __future__ import annotations

from winnow.store.findings import FindingsStore

__all__ = ["FindingsStore"]
