"""winnow sources / winnow detectors / winnow engines: what is registered."""

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
    """List the detectors, the tables they read and their parameters with defaults.

    A detector runs when any of its ``tables`` is in the lake; ``also_reads`` are used when present.
    """
    from winnow.detections import detectors as registered

    emit([{"name": name, "tables": ", ".join(cls.tables), "also_reads": ", ".join(cls.optional_tables),
           "parameters": cls().get_params(),
           "description": cls.description} for name, cls in sorted(registered().items())], fmt)


@click.command("engines")
@format_option
def engines(fmt: str | None) -> None:
    """List the engines, the --engine URLs that select each, and whether it is installed."""
    from winnow.engine import engines as registered

    emit([{"name": spec.name, "urls": ", ".join(spec.urls or (spec.name,)),
           "installed": "yes" if spec.installed() else f"no: {spec.install_hint}", "description": spec.description}
          for spec in registered().values()], fmt)
