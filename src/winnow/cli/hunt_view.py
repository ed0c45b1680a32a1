"""Hunting results (pyarrow Tables) as CLI output: readable counts and UTC times in a table, ISO times elsewhere."""

from __future__ import annotations

import datetime as dt
from typing import Any

from winnow.cli.output import emit, resolve


def show(table: Any, fmt: str | None, **options: Any) -> None:
    """Print a pyarrow Table through :func:`~winnow.cli.output.emit` (its keyword options apply)."""
    kind = resolve(fmt)
    rows = [{k: _cell(v, kind) for k, v in row.items()} for row in table.to_pylist()]
    emit(rows, kind, columns=options.pop("columns", None) or table.column_names, **options)


def _cell(value: Any, kind: str) -> Any:
    from winnow.cli import readable

    if isinstance(value, dt.datetime):
        return readable.when(value) if kind == "table" else value.isoformat().replace("+00:00", "Z")
    if kind == "table" and isinstance(value, int) and not isinstance(value, bool):
        return readable.count(value)
    return value
