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
    from winnow.triage.ratings import Rating, RatingStore, default_analyst

    root = Path(lake)
    analyst = analyst or default_analyst()
    rules = root / allow.FILE_NAME
    if undo:
        with RatingStore(root) as store:
            mine = [r for r in store.all() if r.source == "verdict" and r.analyst == analyst
                    and r.subject.lower() == subject.lower()]
            for r in mine:
                verdicts.remove_suppression(rules, r.rating_id)
                store.remove(r.rating_id)
        click.echo(f"removed {len(mine)} verdict(s) of {analyst} on {subject}")
        return
    if verdict is None:
        raise click.UsageError("give tp or fp (or --undo)")
    if suppress and verdict != "fp":
        raise click.UsageError("--suppress goes with fp")
    kind, canonical, item = verdicts.resolve(root, subject)
    features = verdicts.features_of(kind, item)
    card = {"title": canonical, "why": item.get("why"), "score": item.get("score")}
    rating = Rating(kind, canonical, verdicts.RATING[verdict], analyst, features, card, note, source="verdict")
    if suppress:
        rule = verdicts.suppression_rule(kind, item)
        reason = f"verdict fp by {analyst} on {canonical}" + (f": {note}" if note else "")
        verdicts.add_suppression(rules, rule, rating.rating_id, reason)
        rating.suppression = str(rules)
    with RatingStore(root) as store:
        store.add(rating)
    click.echo(f"{verdict} on {canonical} by {analyst} stored (rating {rating.rating}, id {rating.rating_id})"
               + (f"; suppressed in {rules}" if suppress else ""))
