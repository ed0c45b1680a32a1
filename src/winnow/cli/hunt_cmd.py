"""winnow hunt stack TABLE COLUMN | timeline ENTITY | pivot VALUE"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from winnow.cli.options import TimeParam, format_option, lake_option

_LIMIT = click.IntRange(min=1)


def _window(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--since`` and ``--until``: the half-open window of rows to read."""
    command = click.option("--until", type=TimeParam(), default=None, help="End of the window (exclusive).")(command)
    return click.option("--since", type=TimeParam(), default=None, help="Start of the window (inclusive).")(command)


@click.group("hunt")
def hunt() -> None:
    """Hunting verbs over the lake: stack a column, follow an entity in time, pivot on a value.

    Each runs read-only, on whatever tables the lake has; 'winnow query' runs your own SQL.
    """


@hunt.command("stack")
@lake_option
@click.argument("table")
@click.argument("column")
@click.option("--by", default=None, help="Also count distinct values of this column (host: on how many hosts); "
              "rarest then means fewest of them.")
@click.option("--where", default=None, help="SQL condition on the table's columns limiting the rows stacked, "
              "e.g. \"user = 'root'\".")
@click.option("--limit", type=_LIMIT, default=None, help="Values shown (default: the hunt.stack_limit setting, 100).")
@format_option
def stack(lake: str, table: str, column: str, by: str | None, where: str | None, limit: int | None,
          fmt: str | None) -> None:
    """Least-frequency analysis: the values of COLUMN in TABLE, rarest first.

    \b
    Each row has its count, first and last seen, and the filter selecting its rows, to
    narrow a next stack (--where) or to read the rows (winnow query). Example:
      winnow hunt stack proc.exec image --by host
    """
    from winnow.cli.hunt_view import show
    from winnow.hunting import stack as run

    out = run(lake, table, column, by, where, limit)
    show(out, fmt, right=("count", f"distinct_{by}"), nowrap=("first_seen", "last_seen"), optional=("filter",),
         caption="Rarest first. Times UTC. filter: the SQL condition selecting a value's rows (--where, winnow query).")


@hunt.command("timeline")
@lake_option
@click.argument("entity")
@_window
@click.option("--limit", type=_LIMIT, default=None,
              help="Events shown, the oldest (default: the hunt.timeline_limit setting, 1000).")
@format_option
def timeline(lake: str, entity: str, since, until, limit: int | None, fmt: str | None) -> None:
    """Everything about ENTITY (host, address, user, process image, domain) across every table and the
    findings, oldest first, one line per event.

    \b
    Short forms match too: WS00042 its fully qualified name, alice CORP\\alice,
    powershell.exe its paths, evil.com its subdomains. Example:
      winnow hunt timeline WS00042 --since 2026-11-02T08:00Z --until 2026-11-02T12:00Z
    """
    from winnow.cli.hunt_view import show
    from winnow.hunting import timeline as run

    out = run(lake, entity, since, until, limit)
    show(out, fmt, columns=["ts", "table", "match", "summary", "host", "user"], optional=("user", "host", "match"),
         nowrap=("ts", "table"),
         caption="Oldest first. Times UTC. --format jsonl adds src_ip, dst_ip, image and source (file:line).")


@hunt.command("pivot")
@lake_option
@click.argument("value")
@_window
@format_option
def pivot(lake: str, value: str, since, until, fmt: str | None) -> None:
    """Every table and column where VALUE appears (address, host, user, domain, file name, hash, port),
    with counts and first/last seen.

    \b
    Example:
      winnow hunt pivot 203.0.113.20
    """
    from winnow.cli.hunt_view import show
    from winnow.hunting import pivot as run

    out = run(lake, value, since, until)
    if not out.num_rows:
        click.echo(f"winnow: {value!r} appears in no table of the lake", err=True)
    show(out, fmt, right=("count",), nowrap=("table", "column", "first_seen", "last_seen"), optional=("filter",),
         caption="Most rows first. Times UTC. filter: the SQL condition selecting the rows (winnow query).")
