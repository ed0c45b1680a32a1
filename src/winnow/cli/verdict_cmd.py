"""winnow verdict SUBJECT tp|fp [--note] [--analyst] [--suppress] [--undo]"""

from __future__ import annotations

import click

from winnow.cli.options import lake_option


@click.command("verdict")
@lake_option
@click.argument("subject")
@click.argument("verdict", type=click.Choice(["tp", "fp"]), required=False)
@click.option("--note", default=None, help="Why (stored with the verdict and shown in the queue).")
@click.option("--analyst", default=None, help="Who decides (default: the triage.analyst setting, else your login).")
@click.option("--suppress", is_flag=True, help="With fp: also hide what it was about through an allow-list rule "
                                               "in <lake>/suppressions.toml (marked with the verdict's id).")
@click.option("--undo", is_flag=True, help="Remove SUBJECT's verdicts by this analyst, and their suppressions.")
def verdict(lake: str, subject: str, verdict: str | None, note: str | None, analyst: str | None, suppress: bool,
            undo: bool) -> None:
    """Record that a finding (DETECTOR:ENTITY) or an entity (TYPE:VALUE) is a true or false positive.

    The verdict is stored as a rating (tp = 5, fp = 1) with what the subject looked like, so the
    expert model learns from it ('winnow model fit'), and 'winnow queue' shows it next to the entity.
    """
    from pathlib import Path

    from winnow.scoring import suppress as allow
    from winnow.triage import verdicts
    from winnow.triage.ratings import default_analyst

    root = Path(lake)
    analyst = analyst or default_analyst()
    if undo:
        click.echo(f"removed {verdicts.undo(root, subject, analyst)} verdict(s) of {analyst} on {subject}")
        return
    if verdict is None:
        raise click.UsageError("give tp or fp (or --undo)")
    if suppress and verdict != "fp":
        raise click.UsageError("--suppress goes with fp")
    rating = verdicts.record(root, subject, verdict, note, analyst, suppress)
    click.echo(f"{verdict} on {rating.subject} by {analyst} stored (rating {rating.rating}, id {rating.rating_id})"
               + (f"; suppressed in {root / allow.FILE_NAME}" if suppress else ""))
