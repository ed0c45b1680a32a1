"""Small formatters used to render a finding's one-line ``why`` from its numbers."""

from __future__ import annotations


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 05 min``, ``2 d 4 h``."""
    s = float(seconds)
    if s < 90:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    if s < 86400:
        h, m = divmod(int(round(s / 60)), 60)
        return f"{h} h {m:02d} min"
    d, h = divmod(int(round(s / 3600)), 24)
    return f"{d} d {h} h"


def size(n: float) -> str:
    """``512 B``, ``1.4 KB``, ``3.2 GB`` (powers of 1000)."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} PB"


def hosts(n: int) -> str:
    """``no other host``-style phrase for how many internal hosts share a destination."""
    if n <= 1:
        return "no other host talks to it"
    return f"{n} hosts talk to it"
