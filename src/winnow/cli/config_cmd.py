"""winnow config defaults | init | show"""

from __future__ import annotations

from pathlib import Path

import click

from winnow.cli.options import format_option, lake_option
from winnow.cli.output import emit


@click.group("config")
def config() -> None:
    """Settings: their defaults, the ones in force, and a commented file to edit."""


@config.command("defaults")
@format_option
def defaults(fmt: str | None) -> None:
    """Print every setting and detector parameter with its default, type and meaning."""
    from winnow.config import all_defaults

    emit(all_defaults(), fmt, columns=["setting", "default", "type", "meaning"], widths={"meaning": 80})


@config.command("init")
@click.argument("path", type=click.Path(dir_okay=False), required=False)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@lake_option
def init(path: str | None, force: bool, lake: str) -> None:
    """Write a commented file of every setting and detector parameter (default: <lake>/winnow.toml).

    Each key is written with the value in force (its default unless a file, variable or --set
    changed it) and a comment giving its meaning, type and environment variable. The file is
    read back from the lake on every command, or from anywhere with --config.
    """
    from winnow.config import FILE_NAME, current
    from winnow.config.template import render

    target = Path(path) if path else Path(lake) / FILE_NAME
    if target.exists() and not force:
        raise click.UsageError(f"{target} exists; use --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(current()), encoding="utf-8")
    click.echo(f"wrote {target}", err=True)


@config.command("show")
@lake_option
@format_option
def show(lake: str, fmt: str | None) -> None:
    """Print the settings in force that differ from their defaults, and where each was set."""
    from winnow.config import current

    cfg = current()
    rows = [{"setting": k, "value": v["value"], "origin": v["origin"]} for k, v in cfg.changed().items()]
    if cfg.file:
        click.echo(f"config file: {cfg.file}", err=True)
    emit(rows, fmt, columns=["setting", "value", "origin"], widths={"value": 60})
