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
@format_option
def findings(lake: str | None, names: tuple[str, ...], limit: int | None, min_score: float, fmt: str | None) -> None:
    """List findings, highest score first; jsonl/json/csv carry every field of the contract."""
    from winnow.cli.output import resolve
    from winnow.lake import Lake
    from winnow.store import FindingsStore

    with FindingsStore(Lake.open(lake), read_only=True) as store:
        rows = store.query(list(names) or None, limit if limit is not None else
                           (50 if resolve(fmt) == "table" else None), min_score)
    emit(rows, fmt, columns=["score", "severity", "detector", "entity", "why"],
         widths={"entity": 44, "why": 110})
