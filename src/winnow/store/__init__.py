"""The findings store: a DuckDB database file inside the lake folder."""

from __future__ import annotations

from winnow.store.findings import FindingsStore

__all__ = ["FindingsStore"]
