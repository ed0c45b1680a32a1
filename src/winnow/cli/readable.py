"""Values as a person reads them in a terminal table: counts, sizes, scores and UTC times."""

from __future__ import annotations

import datetime as dt


def count(value: int | None) -> str:
    """``1234567`` -> ``1,234,567``; empty for None."""
    return "" if value is None else f"{value:,}"


def size(value: int | None) -> str:
    """Bytes in the largest unit that keeps a number of at least 1 (``4.6 MB``); empty for None."""
    if value is None:
        return ""
    amount = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if amount < 1000 or unit == "TB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    raise AssertionError("unreachable")


def score(value: float | None) -> str:
    """A score in [0, 1] to two decimals (``0.93``); empty for None."""
    return "" if value is None else f"{value:.2f}"


def _parse(value: str | dt.datetime) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def when(value: str | dt.datetime | None) -> str:
    """An ISO-8601 time as ``2026-11-02 08:00:03`` in UTC (the column header says UTC); empty for None."""
    return "" if not value else _parse(value).strftime("%Y-%m-%d %H:%M:%S")


def span(first: str | dt.datetime | None, last: str | dt.datetime | None, sep: str = " – ") -> str:
    """Two UTC times as one compact range: ``2026-11-02 00:00:03 – 23:59:10`` within a day,
    ``2026-11-02 00:00:03 – 2026-11-03 10:00:00`` across days; ``sep`` goes between them."""
    if not first or not last:
        return when(first or last)
    a, b = _parse(first), _parse(last)
    if a == b:
        return when(a)
    return f"{when(a)}{sep}{b:%H:%M:%S}" if a.date() == b.date() else f"{when(a)}{sep}{when(b)}"
