"""winnow queue [--window 7d] [--type host] [--limit N] [--format table|jsonl|json|csv]"""

from __future__ import annotations

import click

from winnow.cli.options import format_option, lake_option


@click.command("queue")
@lake_option
@click.option("--window", default=None, help="How far back from the newest finding (default: risk.window).")
@click.option("--type", "types", multiple=True, type=click.Choice(["host", "ip", "user", "process", "external",
                                                                   "domain"]), help="Only entities of this type.")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most N entities (table: 20).")
@format_option
def queue(lake: str, window: str | None, types: tuple[str, ...], limit: int | None, fmt: str | None) -> None:
    """Entities to review, in order: by the expert model when the lake has one, else by entity risk.

    Each row says which ranked it ('ranked_by'), why (the model's or risk's contributions, which sum
    to the score), its top findings, and the verdicts and ratings already given on it or its findings.
    """
    from pathlib import Path

    from winnow.cli.output import emit, resolve
    from winnow.triage.queue import queue as build

    table = resolve(fmt) == "table"
    shown = limit if limit is not None else (20 if table else None)
    rows = build(Path(lake), window, types, shown)
    if table:
        view = [{**r, "decided": "; ".join(f"{d['analyst']}: {d['rating']}" for d in r["decisions"]) or "-"}
                for r in rows]
        emit(view, fmt, columns=["score", "ranked_by", "entity_type", "entity", "findings", "decided", "why"],
             right=("score", "findings"), nowrap=("entity",), optional=("findings", "ranked_by", "decided"))
    else:
        emit(rows, fmt)
