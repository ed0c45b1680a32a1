"""winnow rate [--analyst NAME] [--count N] [--synthetic/--real] [--export FILE | --import FILE]"""

from __future__ import annotations

import click

from winnow.cli.options import lake_option


@click.command("rate")
@lake_option
@click.option("--analyst", default=None, help="Who rates (default: the triage.analyst setting, else your login).")
@click.option("--count", type=click.IntRange(min=1), default=10, show_default=True, help="Cards in this session.")
@click.option("--synthetic/--real", default=True, show_default=True,
              help="Also offer synthetic scenarios (an experimental design around the lake's entities), or only "
                   "real entities.")
@click.option("--export", "export_to", type=click.Path(dir_okay=False), default=None,
              help="Write every rating to this JSON-lines file instead of rating.")
@click.option("--import", "import_from", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Merge the ratings of this JSON-lines file (a rating already present is skipped).")
def rate(lake: str, analyst: str | None, count: int, synthetic: bool, export_to: str | None,
         import_from: str | None) -> None:
    """Rate entities and scenarios 1 (benign) to 5 (malicious), one card at a time, to teach the expert model.

    The next card is the one the model is least sure about (or one two analysts disagree on). Each
    rating is saved at once; type s to skip a card, q to stop. Then 'winnow model fit'.
    """
    from pathlib import Path

    from winnow.cli.output import safe
    from winnow.triage import rating_session as session
    from winnow.triage.ratings import RatingStore, default_analyst

    root = Path(lake)
    if export_to or import_from:
        with RatingStore(root) as store:
            if export_to:
                click.echo(f"{store.export(Path(export_to))} rating(s) written to {export_to}")
            if import_from:
                added, skipped, problems = store.import_(Path(import_from))
                for problem in problems:
                    click.echo(problem, err=True)
                click.echo(f"{added} rating(s) added, {skipped} already present, {len(problems)} bad line(s)")
        return
    analyst = analyst or default_analyst()
    offered = session.candidates(root, synthetic)
    if not offered:
        raise click.ClickException("nothing to rate: run 'winnow detect' first")
    done = 0
    while done < count:
        with RatingStore(root, read_only=True) as store:
            card = session.next_card(offered, store.all())
        if card is None:
            click.echo("every card has been rated")
            return
        offered.remove(card)
        click.echo(f"\n[{done + 1}/{count}] {safe(card['card']['title'])}")  # entity names come from logs
        for fact in card["card"]["facts"]:
            click.echo(f"  - {safe(fact)}")
        answer = click.prompt("rating 1 (benign) .. 5 (malicious), s skip, q quit",
                              type=click.Choice(["1", "2", "3", "4", "5", "s", "q"]), show_choices=False)
        if answer == "q":
            break
        if answer == "s":
            continue
        note = click.prompt("note (enter for none)", default="", show_default=False) or None
        session.rate(root, card, int(answer), analyst, note)
        done += 1
    click.echo(f"{done} rating(s) saved by {analyst}; fit the model with 'winnow model fit'")

