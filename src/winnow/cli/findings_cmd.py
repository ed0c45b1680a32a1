"""winnow findings [--lake DIR] [--detector NAME] [--limit N] [--format table|jsonl|json|csv]"""

from __future__ import annotations

import click

from winnow.cli.options import format_option, lake_option
from winnow.cli.output import emit


@click.command("findings")
@lake_option
@click.option("--detector", "names", multiple=True, help="Only this detector (repeatable).")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most N findings.")
@click.option("--min-score", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--suppressions", type=click.Path(dir_okay=False), default=None,
              help="Allow-list/suppression rules (TOML; default: the suppressions setting, else "
                   "<lake>/suppressions.toml if present).")
@click.option("--no-suppress", is_flag=True, help="Show stored scores, ignoring suppression rules.")
@format_option
def findings(lake: str | None, names: tuple[str, ...], limit: int | None, min_score: float, suppressions: str | None,
             no_suppress: bool, fmt: str | None) -> None:
    """List findings, highest score first; jsonl/json/csv carry every field of the contract.

    Suppression rules lower (or hide) matching findings when they are read and say so in
    evidence.suppressed_by; the stored findings never change. On a terminal, the settings each
    detector's findings were made with follow the table ('winnow runs' has them all).
    """
    from pathlib import Path

    from winnow.cli.output import resolve
    from winnow.config import current
    from winnow.lake import Lake
    from winnow.scoring import suppress
    from winnow.store import FindingsStore

    suppressions = suppressions or current().get("suppressions") or None
    if suppressions and not no_suppress and not Path(suppressions).exists():
        raise click.BadParameter(f"{suppressions}: no such file", param_hint="--suppressions")
    lake_obj = Lake.open(lake)
    rules = [] if no_suppress else suppress.load_rules(
        Path(suppressions) if suppressions else lake_obj.root / suppress.FILE_NAME
    )
    shown = limit if limit is not None else (50 if resolve(fmt) == "table" else None)
    with FindingsStore(lake_obj, read_only=True) as store:
        rows = store.query(list(names) or None, None if rules else shown, 0.0 if rules else min_score)
        runs = store.runs(sorted({r["detector"] for r in rows}), latest=True) if resolve(fmt) == "table" else []
    if rules:
        rows, hidden = suppress.apply(rows, rules)
        rows = [r for r in rows if r["score"] >= min_score][:shown]
        if hidden:
            click.echo(f"{hidden} finding(s) hidden by suppression rules (--no-suppress shows them)", err=True)
    if resolve(fmt) == "table":
        from winnow.cli.findings_view import print_findings

        print_findings(rows)
        from winnow.cli.runs_cmd import changed_settings

        for run in runs:
            click.echo(f"{run['detector']}: run {run['run_id']} on {run['engine']}, {run['created_at']}, with "
                       f"{changed_settings(run['settings'])}", err=True)
    else:  # the findings contract: every field (the columns only name a header when there are no rows)
        emit(rows, fmt, columns=["score", "severity", "detector", "entity", "why"])
