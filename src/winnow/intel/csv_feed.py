"""CSV indicator lists: a header naming ``type,value,confidence,source,description`` (in any order, more
columns ignored; only ``value`` is required), or a bare list of one indicator per line whose kind is inferred.

Lines starting with ``#`` and blank lines are skipped. A header is the first line whose cells include
``value`` or ``indicator``; otherwise every line is one bare indicator (its first cell when it has commas).
"""

from __future__ import annotations

import csv
import io

from winnow.intel.model import BadIndicator, canonical_kind, infer
from winnow.intel.registry import FeedFormat, Sink, confidence_of, register

VALUE_NAMES = ("value", "indicator", "ioc")
TYPE_NAMES = ("type", "indicator_type", "kind")


def _sniff(head: str, filename: str) -> bool:
    return True  # the fallback: any text is a list of indicators


def _parse(text: str, sink: Sink) -> None:
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.startswith("#")]
    if not lines:
        return
    first = [c.strip().lower() for c in next(csv.reader([lines[0][1]]))]
    value_col = next((first.index(v) for v in VALUE_NAMES if v in first), None)
    if value_col is None:
        for n, line in lines:
            _bare(line.split(",", 1)[0], n, sink)
        return
    col = {name: first.index(name) for name in first}
    type_col = next((col[t] for t in TYPE_NAMES if t in col), None)
    for n, line in lines[1:]:
        try:
            cells = next(csv.reader(io.StringIO(line)))
        except csv.Error as exc:
            sink.warn(n, f"not a CSV line: {exc}", line)
            continue
        if len(cells) <= value_col:
            sink.warn(n, f"{len(cells)} cells, the value is cell {value_col + 1}", line)
            continue

        def cell(name: str, cells: list[str] = cells) -> str:
            i = col.get(name)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        kind_name = cells[type_col].strip() if type_col is not None and type_col < len(cells) else ""
        value = cells[value_col]
        confidence = confidence_of(cell("confidence"), n, sink)
        if not kind_name:
            _bare(value, n, sink, confidence, cell("source"), cell("description"))
            continue
        kind = canonical_kind(kind_name)
        if kind is None:
            sink.warn(n, f"indicator type {kind_name!r} is not matched", line)
            continue
        sink.add(kind, value, n, confidence, cell("source"), cell("description"))


def _bare(value: str, n: int, sink: Sink, confidence: float | None = None, source: str = "",
          description: str = "") -> None:
    try:
        kind, _ = infer(value)
    except BadIndicator as exc:
        sink.warn(n, str(exc), value)
        return
    sink.add(kind, value, n, confidence, source, description)


register(FeedFormat("csv", "CSV with a type,value,confidence,source,description header, or one indicator a line",
                    _sniff, _parse))
