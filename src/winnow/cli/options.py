"""Options shared by several commands."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

import click


def lake_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--lake``, ``--config`` and ``--set``: the command runs with the configuration they give in force.

    The command receives ``lake`` as the lake folder the configuration resolves to (the flag,
    ``--set lake=``, ``$WINNOW_LAKE``, the ``--config`` file, or ./winnow-lake).
    """

    @click.option("--lake", "lake", type=click.Path(file_okay=False), default=None,
                  help="Lake folder (default: $WINNOW_LAKE or ./winnow-lake).")
    @click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
                  help="Configuration file (default: <lake>/winnow.toml if present; see 'winnow config init').")
    @click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                  help="Set one setting or detector parameter, e.g. --set beacon.min_score=0.6 (repeatable).")
    @functools.wraps(command)
    def wrapper(*args: Any, lake: str | None, config_file: str | None, sets: tuple[str, ...], **kwargs: Any) -> Any:
        from winnow.config import load, use

        config = load(lake, config_file, sets)
        with use(config):
            return command(*args, lake=str(config.lake()), **kwargs)

    return wrapper

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
