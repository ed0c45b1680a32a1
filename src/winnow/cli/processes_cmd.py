"""winnow processes [--lake DIR] [--host H] [--since T] [--until T] [--limit N] [--format F]"""

from __future__ import annotations

import click

from winnow.cli.options import TimeParam, format_option, lake_option


@click.command("processes")
@lake_option
@click.option("--host", default=None, help="Only this endpoint host.")
@click.option("--since", type=TimeParam(), default=None, help="Start of the window (inclusive).")
@click.option("--until", type=TimeParam(), default=None, help="End of the window (exclusive).")
@click.option("--limit", type=click.IntRange(min=1), default=25, show_default=True)
@format_option
def processes(lake: str | None, host: str | None, since, until, limit: int, fmt: str | None) -> None:
    """Processes by bytes sent: connections, bytes out/in, destinations (from net.conn_proc).

    Answers "which process on this laptop uploaded 2 GB": bytes come from the network sensor,
    the process from the endpoint log.
    """
    from winnow.cli.output import emit
    from winnow.engine import Window, connect
    from winnow.hunting import process_traffic

    with connect("duckdb", lake) as engine:
        rows = process_traffic(engine, Window(since, until), host, limit).to_pylist()
    emit(rows, fmt, columns=["host", "image", "pid", "user", "connections", "bytes_out", "bytes_in", "destinations",
                             "top_destination"], widths={"image": 48})
