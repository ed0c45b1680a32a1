"""Options shared by several commands."""

from __future__ import annotations

import contextlib
import datetime as dt

import click

lake_option = click.option(
    "--lake", "lake", type=click.Path(file_okay=False), default=None,
    help="Lake folder (default: $WINNOW_LAKE or ./winnow-lake).",
)
format_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "jsonl", "json", "csv"]), default=None,
    help="Output format (default: table on a terminal, jsonl in a pipe).",
)


class TimeParam(click.ParamType):
    """An ISO-8601 date or time (UTC unless it says otherwise), or epoch seconds."""

    name = "time"

    def convert(self, value, param, ctx):  # type: ignore[override]
        if isinstance(value, dt.datetime):
            return value
        text = str(value).strip()
        with contextlib.suppress(ValueError):
            return dt.datetime.fromtimestamp(float(text), dt.UTC)
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is not an ISO-8601 time (2026-11-02 or 2026-11-02T08:00:00Z) or epoch seconds",
                      param, ctx)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
