"""winnow model fit | show | export FILE | import FILE"""

from __future__ import annotations

from pathlib import Path

import click

from winnow.cli.options import lake_option


@click.group("model")
def model() -> None:
    """The expert model fitted from analysts' ratings (see 'winnow rate')."""


@model.command("fit")
@lake_option
def fit(lake: str) -> None:
    """Fit a new model version from every rating in the lake and make it the one the queue uses."""
    from winnow.triage.model import ExpertModel, save_model
    from winnow.triage.ratings import RatingStore

    with RatingStore(Path(lake), read_only=True) as store:
        ratings = store.all() if store.path.exists() else []
    if len(ratings) < 2:
        raise click.ClickException(f"{len(ratings)} rating(s): rate some first ('winnow rate' or 'winnow verdict')")
    fitted = ExpertModel.fit([r.features for r in ratings], [r.rating for r in ratings])
    path = save_model(Path(lake), fitted)
    click.echo(f"model {fitted.version} fitted on {len(ratings)} rating(s) by "
               f"{len({r.analyst for r in ratings})} analyst(s): {path}")


@model.command("show")
@lake_option
def show(lake: str) -> None:
    """What the current model learned: each feature's effect from its lowest to its highest value."""
    from winnow.triage.features import FEATURES
    from winnow.triage.model import load_model

    current = load_model(Path(lake))
    if current is None:
        raise click.ClickException("no model yet: 'winnow model fit'")
    click.echo(f"model {current.version} ({current.ratings} ratings, {current.created_at}); average score "
               f"{current.intercept:.2f}")
    effects = []
    for f in FEATURES:
        lo, hi = current.knots[f.name][0], current.knots[f.name][-1]
        effects.append((current._shape(f.name, hi) - current._shape(f.name, lo), f, lo, hi))
    for effect, f, lo, hi in sorted(effects, key=lambda t: -t[0]):
        click.echo(f"  {effect:+.2f}  {f.description} (from {lo:g} to {hi:g})")


@model.command("export")
@lake_option
@click.argument("file", type=click.Path(dir_okay=False))
def export(lake: str, file: str) -> None:
    """Write the current model to FILE (JSON), to use in another lake."""
    from winnow.triage.model import load_model

    current = load_model(Path(lake))
    if current is None:
        raise click.ClickException("no model yet: 'winnow model fit'")
    current.save(Path(file))
    click.echo(f"model {current.version} written to {file}")


@model.command("import")
@lake_option
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
def import_(lake: str, file: str) -> None:
    """Make the model in FILE this lake's current model."""
    from winnow.triage.model import ExpertModel, save_model

    loaded = ExpertModel.load(Path(file))
    save_model(Path(lake), loaded)
    click.echo(f"model {loaded.version} ({loaded.ratings} ratings) is now this lake's model")
