"""Tabular output: a readable table on a terminal, machine-readable in a pipe."""

from __future__ import annotations

import csv
import json
import re
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table


def resolve(fmt: str | None) -> str:
    """The format to use: the one asked for, else table on a terminal and jsonl in a pipe."""
    if fmt:
        return fmt
    return "table" if sys.stdout.isatty() else "jsonl"


#: what a terminal would act on rather than show: C0 controls but newline and tab (ESC starts colour,
#: title and cursor sequences; CR overwrites a line), DEL, C1 controls (CSI 0x9b) and the bidirectional
#: overrides that reorder text on screen ("Trojan Source")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe(text: str) -> str:
    """``text`` with every character a terminal would act on shown as an escape (``\\x1b``, ``\\u202e``):
    log-derived strings (command lines, URIs, user agents) print as data, never as terminal commands."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _text(value: Any, limit: int | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, separators=(",", ":"), sort_keys=True)
    text = safe(str(value))
    if limit and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _raw(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def emit(rows: list[dict[str, Any]], fmt: str | None, columns: list[str] | None = None,
         widths: dict[str, int] | None = None, title: str | None = None, *, right: tuple[str, ...] = (),
         nowrap: tuple[str, ...] = (), whole_if_room: tuple[str, ...] = (), optional: tuple[str, ...] = (),
         caption: str | None = None, spaced: bool = False) -> None:
    """Print ``rows`` as table, jsonl, json or csv. ``columns`` limits the table (all keys elsewhere).

    Table form only: ``widths`` cut a column's text at that many characters (other columns are
    shown whole, wrapped over lines), columns in ``right`` are right-aligned and, like those in
    ``nowrap``, never wrapped (numbers, names), those in ``whole_if_room`` are not wrapped either
    unless the terminal is too narrow for that, columns in ``optional`` are left out, in that
    order, while the terminal is too narrow to show every column without breaking words, and
    ``caption`` is printed under the table, and ``spaced`` puts a blank line between rows (rows
    of several lines). Cell text is shown as it is (no rich markup) but for control characters,
    shown escaped (:func:`safe`); rich ``Text`` cells keep their styles (build them from
    :func:`safe` text). jsonl and json escape control characters as JSON does; csv keeps values
    as they are for tools, escaped like table cells only when written to a terminal.
    """
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
        text = _text if sys.stdout.isatty() else _raw
        for row in rows:
            writer.writerow({k: text(row.get(k)) for k in keys})
    else:
        from rich.console import Console

        console = Console(soft_wrap=False)
        every = list(columns or (list(rows[0]) if rows else []))
        for whole in ((*right, *nowrap, *whole_if_room), (*right, *nowrap)):
            keys, spare = list(every), [k for k in optional if k in every]
            while spare and _narrowest(rows, keys, widths or {}, whole) > console.width:
                keys.remove(spare.pop(0))
            if _narrowest(rows, keys, widths or {}, whole) <= console.width:
                break
        table = _table(rows, keys, widths or {}, right, whole, title, caption)
        table.show_lines = spaced
        console.print(table)


def _narrowest(rows: list[dict[str, Any]], keys: list[str], widths: dict[str, int], whole: tuple[str, ...]) -> int:
    """Width of the table with every wrapped column as narrow as its longest word."""
    from rich.text import Text

    total = 2 * (len(keys) - 1)
    for key in keys:
        cells = [r.get(key) for r in rows]
        texts = [key, *(str(c) if isinstance(c, Text) else _text(c, widths.get(key)) for c in cells)]
        lines = [line for text in texts for line in text.splitlines() or [""]]
        words = lines if key in whole else [w for line in lines for w in line.split()]
        total += min(max((len(w) for w in words), default=0), widths.get(key) or 1 << 30)
    return total


def _table(rows: list[dict[str, Any]], keys: list[str], widths: dict[str, int], right: tuple[str, ...],
           whole: tuple[str, ...], title: str | None, caption: str | None) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, caption=caption, caption_justify="left", header_style="bold", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False, collapse_padding=True)
    for key in keys:
        table.add_column(key, overflow="fold", max_width=widths.get(key), justify="right" if key in right else "left",
                         no_wrap=key in whole)
    for row in rows:
        table.add_row(*(value if isinstance(value := row.get(k), Text) else Text(_text(value, widths.get(k)))
                        for k in keys))
    return table
