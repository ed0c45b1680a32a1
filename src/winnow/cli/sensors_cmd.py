"""winnow sensors [--lake DIR] [--since T] [--until T] [--all] [--limit N] [--format F]"""

from __future__ import annotations

import click

from winnow.cli.options import TimeParam, format_option, lake_option


@click.command("sensors")
@lake_option
@click.option("--since", type=TimeParam(), default=None, help="Start of the window (inclusive).")
@click.option("--until", type=TimeParam(), default=None, help="End of the window (exclusive).")
@click.option("--all", "show_all", is_flag=True, help="Also list reporters whose state is ok or new.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@format_option
def sensors(lake: str | None, since, until, show_all: bool, limit: int, fmt: str | None) -> None:
    """Coverage: every feed x reporter (host or sensor), last seen, expected vs actual volume, state.

    States: silent (sent nothing for sensor_health.silence_hours), dropped (below
    sensor_health.drop_ratio of its usual volume), clock off (endpoint clock against the network
    sensor's), no endpoint data (an internal address active on the network that no endpoint log
    covers), new, ok. Worst first; thresholds are the sensor_health detector's settings.
    """
    from winnow.cli.output import emit
    from winnow.engine import Window, connect
    from winnow.pipeline.detect import build_detector

    detector = build_detector("sensor_health")
    with connect("duckdb", lake) as engine:
        rows = detector.coverage(engine, Window(since, until))
    if not show_all:
        rows = [r for r in rows if r["state"] not in ("ok", "new")] or rows
    emit(rows[:limit], fmt, columns=["state", "feed", "reporter", "last_seen", "silent_hours", "expected", "actual",
                                     "periods_reported", "table"], widths={"reporter": 40})
