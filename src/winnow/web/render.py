"""Pages and their JSON twins from one data dict; Jinja2 with autoescape, log text shown verbatim but inert.

Every string that came from a log is attacker-controlled: templates escape it (autoescape), control
characters (ANSI escapes in a command line) are shown as visible ``\\x1b`` escapes, and data for
the page's scripts travels in ``<script type="application/json">`` through ``tojson`` (which escapes
``<``, ``>``, ``&`` and quotes), never spliced into JavaScript.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).parent / "templates"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def visible(value: Any) -> str:
    """Text with control and bidi characters written as escapes (``\\x1b[31m``), so they show and do nothing."""
    if value is None:
        return ""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", str(value))


def plain(value: Any) -> Any:
    """``value`` with datetimes as ISO text, non-finite floats as None, decimals as numbers and any other
    non-JSON value (a time, an interval, a UUID, bytes) as text: ready for JSON."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value.tzinfo else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalars
        return plain(value.item())
    if isinstance(value, decimal.Decimal):  # SQL DECIMAL: a number (a whole one stays whole)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):  # a BLOB, its bytes shown as escapes (b'\x00a' -> \x00a)
        return repr(value)[2:-1]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # any other SQL value (time, interval, UUID ...) as its text


def number(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return visible(value)


def size(value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(value)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters.update(visible=visible, number=number, size=size)
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "allow_nan": False}
    return env
