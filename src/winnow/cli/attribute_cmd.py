"""winnow attribute [--lake DIR] [--engine URL] [--tolerance S] [--full]"""

from __future__ import annotations

import click

from winnow.cli.options import lake_option
from winnow.engine.registry import url_help


@click.command("attribute")
@lake_option
@click.option("--engine", "engine_url", default=None, metavar="URL", help=url_help())
@click.option("--tolerance", type=click.FloatRange(min=0), default=None,
              help="Seconds an endpoint event may sit from the clock-corrected connection start (default: the "
                   "attribution.tolerance setting).")
@click.option("--full", is_flag=True, help="Rebuild every day, not only those whose inputs changed.")
def attribute(lake: str | None, engine_url: str | None, tolerance: float | None, full: bool) -> None:
    """Refresh net.conn_proc: which process (proc.net) made each connection (net.conn).

    'winnow ingest' already does this whenever endpoint or connection data arrives; run it by hand
    to change the join's settings (attribution.*, or --tolerance) or to rebuild. Prints how many
    connection sides got each match quality.
    """
    from winnow.engine.registry import default_url
    from winnow.enrich.conn_proc import JoinParams
    from winnow.enrich.refresh import refresh_conn_proc
    from winnow.lake import Lake
    from winnow.lake.lock import lake_lock

    lake_obj = Lake.open(lake)
    if not lake_obj.has_table("proc.net"):
        raise click.ClickException(f"no proc.net in {lake_obj.root}: ingest Sysmon or auditd logs first")
    params = JoinParams.from_config(**({} if tolerance is None else {"tolerance": tolerance}))
    with lake_lock(lake_obj):
        report = refresh_conn_proc(lake_obj, engine_url or default_url(), params, full=full)
    total = sum(report.matches.values())
    shares = ", ".join(f"{q} {n:,} ({n / total:.1%})" for q, n in sorted(report.matches.items())) if total else "none"
    click.echo(f"days rebuilt {len(report.built)}, unchanged {report.unchanged}; connection sides: {shares}")
