"""winnow detect [--lake DIR] [--engine URL] [--detector NAME]... [--since T] [--until T]"""

from __future__ import annotations

import click

from winnow.cli.options import TimeParam, lake_option
from winnow.engine.registry import url_help


@click.command("detect")
@lake_option
@click.option("--engine", "engine_url", default=None, metavar="URL", help=url_help())
@click.option("--detector", "names", multiple=True, help="Detector to run (repeatable; default: all).")
@click.option("--since", type=TimeParam(), default=None, help="Start of the window (inclusive).")
@click.option("--until", type=TimeParam(), default=None, help="End of the window (exclusive).")
@click.option("--strict", is_flag=True, help="Exit 1 when any detector fails (default: report it and go on).")
def detect(lake: str, engine_url: str | None, names: tuple[str, ...], since, until, strict: bool) -> None:
    """Run detectors over the lake; their findings replace earlier ones for the same window.

    Detector parameters come from the configuration (<lake>/winnow.toml, --config, WINNOW_* variables,
    --set beacon.min_score=0.6); the settings in force are stored with each run ('winnow runs').
    """
    from winnow.config import current
    from winnow.engine import Window, connect
    from winnow.pipeline.detect import build_detector, run_detectors

    engine_url = engine_url or current().get("engine")
    for name in names:
        build_detector(name)  # fail fast on a typo or a bad parameter, before starting an engine
    if since and until and since >= until:
        raise click.BadParameter("--since must be before --until")

    def done(run) -> None:
        if run.skipped:
            click.echo(f"{run.detector:<14} skipped: {run.skipped}", err=True)
        elif run.failed:
            click.echo(f"{run.detector:<14} FAILED: {run.failed} (its earlier findings are kept; --debug for details)",
                       err=True)
        else:
            click.echo(f"{run.detector:<14} {run.findings:>6} findings  {run.seconds:6.2f} s", err=True)

    with connect(engine_url, lake) as engine:
        runs = run_detectors(engine, list(names) or None, Window(since, until), on_done=done)
    total = sum(r.findings for r in runs)
    failed = [r.detector for r in runs if r.failed]
    click.echo(f"{total} findings stored; see them with: winnow findings" + f" --lake {lake}",
               err=True)
    if failed and strict:
        from winnow.errors import WinnowError

        raise WinnowError(f"detector(s) failed: {', '.join(failed)}; the other detectors' findings are stored")
