"""Tabular output: a readable table on a terminal, machine-readable in a pipe."""

from __future__ import annotations

import csv
import json
import sys
from typing import Any


def resolve(fmt: str | None) -> str:
    """The format to use: the one asked for, else table on a terminal and jsonl in a pipe."""
    if fmt:
        return fmt
    return "table" if sys.stdout.isatty() else "jsonl"


def _text(value: Any, limit: int | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, separators=(",", ":"), sort_keys=True)
    text = str(value)
    if limit and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def emit(rows: list[dict[str, Any]], fmt: str | None, columns: list[str] | None = None,
         widths: dict[str, int] | None = None, title: str | None = None) -> None:
    """Print ``rows`` as table, jsonl, json or csv. ``columns`` limits the table (all keys elsewhere)."""
    kind = resolve(fmt)
    if kind == "jsonl":
        out = sys.stdout
        for row in rows:
            out.write(json.dumps(row, default=str) + "\n")
    elif kind == "json":
        sys.stdout.write(json.dumps(rows, default=str, indent=2) + "\n")
    elif kind == "csv":
        keys = list(rows[0]) if rows else (columns or [])
        writer = csv.DictWriter(sys.stdout, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _text(row.get(k)) for k in keys})
    else:
        from rich.console import Console
        from rich.table import Table

        keys = columns or (list(rows[0]) if rows else [])
        table = Table(title=title, show_lines=False, header_style="bold")
        for key in keys:
            table.add_column(key, overflow="fold", max_width=(widths or {}).get(key))
        for row in rows:
            table.add_row(*(_text(row.get(k), (widths or {}).get(k)) for k in keys))
        Console(soft_wrap=False).print(table)
