"""winnow report [--lake DIR] --out report.html [--window 7d] [--top N]"""

from __future__ import annotations

import click

from winnow.cli.options import lake_option


@click.command("report")
@lake_option
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="HTML file to write.")
@click.option("--window", default=None, help="How far back from the newest finding (default: risk.window).")
@click.option("--top", type=click.IntRange(min=1), default=None, help="Entities in the report "
                                                                       "(default: the web.report_entities setting).")
def report(lake: str, out: str, window: str | None, top: int | None) -> None:
    """A self-contained HTML report (inline CSS and SVG, no script, nothing fetched) of the window's top
    entities in queue order, with their risk breakdown, findings and beacon charts."""
    from pathlib import Path

    from winnow.errors import MissingExtraError

    try:
        from winnow.web.report import write_report
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("jinja2", "markupsafe"):
            raise
        raise MissingExtraError(exc.name, "web", "winnow report") from exc
    path = write_report(Path(lake), Path(out), window, top)
    click.echo(f"report written to {path}")
