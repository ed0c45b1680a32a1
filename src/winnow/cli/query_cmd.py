"""winnow query SQL [--limit N] [--format F]"""

from __future__ import annotations

import click

from winnow.cli.options import format_option, lake_option


@click.command("query")
@lake_option
@click.argument("sql")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Rows shown at most (default: the hunt.query_limit setting, 1000).")
@format_option
def query(lake: str, sql: str, limit: int | None, fmt: str | None) -> None:
    """Run one read-only SQL SELECT over the lake's tables ('-' reads it from standard input).

    \b
    Tables are named as in the lake: net.conn, proc.exec, auth.logon ... (also quoted,
    "net.conn"), and findings holds the stored findings. Only one SELECT runs (WITH,
    joins and FROM-first too); writes, COPY, ATTACH, INSTALL/LOAD, SET, PRAGMA and any
    file outside the lake's tables are refused. Example:
      winnow query "SELECT dst_port, count(*) AS n FROM net.conn GROUP BY 1 ORDER BY n DESC"
    """
    from winnow.cli.hunt_view import show
    from winnow.hunting import query as run

    text = click.get_text_stream("stdin").read() if sql == "-" else sql
    show(run(lake, text, limit), fmt)
