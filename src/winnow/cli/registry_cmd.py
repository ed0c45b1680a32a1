"""winnow sources / winnow detectors: what is registered."""

from __future__ import annotations

import click

from winnow.cli.options import format_option
from winnow.cli.output import emit


@click.command("sources")
@format_option
def sources(fmt: str | None) -> None:
    """List the log formats Winnow can read and the tables they fill."""
    from winnow.sources import sources as registered

    emit([{"name": s.name, "tables": ", ".join(s.tables), "description": s.description}
          for s in registered().values()], fmt)


@click.command("detectors")
@format_option
def detectors(fmt: str | None) -> None:
    """List the detectors, the tables they read and their parameters with defaults."""
    from winnow.detections import detectors as registered

    emit([{"name": name, "tables": ", ".join(cls.tables), "parameters": cls().get_params(),
           "description": cls.description} for name, cls in sorted(registered().items())], fmt)
