"""winnow warnings [--lake DIR] [--file SUBSTRING] [--limit N]"""

from __future__ import annotations

import click

from winnow.cli.options import format_option, lake_option
from winnow.cli.output import emit


@click.command("warnings")
@lake_option
@click.option("--file", "file_part", default=None, help="Only files whose name contains this text.")
@click.option("--limit", type=click.IntRange(min=0), default=100, show_default=True)
@format_option
def warnings(lake: str | None, file_part: str | None, limit: int, fmt: str | None) -> None:
    """List the problems met while ingesting: file, line, reason and a snippet of the line."""
    from winnow.engine import connect, fetch

    with connect("duckdb", lake) as engine:
        table = engine.table("ingest_warnings")
        if table is None:
            rows = []
        else:
            if file_part:
                table = table.filter(table.file.contains(file_part))
            table = table.order_by(["file", "line"]).limit(limit)
            rows = fetch(table.select("file", "line", "reason", "snippet", "source_format")).to_pylist()
    emit(rows, fmt, columns=["file", "line", "reason", "snippet"], widths={"file": 50, "reason": 60, "snippet": 50})
