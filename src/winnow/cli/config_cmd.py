"""winnow config defaults"""

from __future__ import annotations

import click

from winnow.cli.options import format_option
from winnow.cli.output import emit


@click.group("config")
def config() -> None:
    """Settings and their defaults."""


@config.command("defaults")
@format_option
def defaults(fmt: str | None) -> None:
    """Print every setting with its default, type and meaning."""
    from winnow.settings import all_defaults

    emit(all_defaults(), fmt, columns=["setting", "default", "type", "meaning"], widths={"meaning": 80})
