"""Read-only SQL over the lake, and the pieces the other hunting verbs build their SQL from."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from winnow.engine import ReadOnlySQL
    from winnow.lake import Lake

@contextlib.contextmanager
def opened(lake: str | Path | Lake | ReadOnlySQL | None) -> Iterator[ReadOnlySQL]:
    """A read-only connection over ``lake``: the one given (several calls may share one), or one opened
    (and closed) here over a lake folder or :class:`~winnow.lake.Lake` (None: the ``lake`` setting)."""
    from winnow.engine import ReadOnlySQL, open_readonly

    if isinstance(lake, ReadOnlySQL):
        yield lake
        return
    with open_readonly(lake) as con:
        yield con


def setting_limit(limit: int | None, name: str) -> int:
    """``limit``, else the setting ``name`` in force."""
    from winnow.config import current

    return int(current().get(name) if limit is None else limit)


def query(lake: str | Path | Lake | ReadOnlySQL | None, sql: str, limit: int | None = None) -> pa.Table:
    """Run one read-only SELECT over the lake's tables (views named as in the lake: ``net.conn``,
    ``"proc.exec"``); at most ``limit`` rows (default: the ``hunt.query_limit`` setting).

    Anything but one SELECT (writes, ``COPY``, ``ATTACH``, ``INSTALL``/``LOAD``, ``SET``, ``PRAGMA``,
    several statements) and any file outside the lake's tables is refused with a ``WinnowError``.
    """
    with opened(lake) as con:
        return con.run(sql, setting_limit(limit, "hunt.query_limit"))


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """``value`` as a SQL literal (text quoted, times as UTC TIMESTAMPTZ, None as NULL)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.datetime):
        when = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return f"TIMESTAMPTZ '{when.astimezone(dt.UTC).isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def equals(column: str, value: Any) -> str:
    """The SQL filter selecting the rows whose ``column`` is ``value`` (``IS NULL`` for None)."""
    return f"{ident(column)} IS NULL" if value is None else f"{ident(column)} = {literal(value)}"


def window(since: dt.datetime | None, until: dt.datetime | None, column: str = "ts") -> list[str]:
    """Filters keeping ``column`` in [since, until)."""
    out = []
    if since is not None:
        out.append(f"{ident(column)} >= {literal(since)}")
    if until is not None:
        out.append(f"{ident(column)} < {literal(until)}")
    return out
