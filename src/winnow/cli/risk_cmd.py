"""winnow risk [--window 7d] [--type host] [--limit N] [--format table|jsonl|json|csv]"""

from __future__ import annotations

import click

from winnow.cli.options import TimeParam, format_option, lake_option


@click.command("risk")
@lake_option
@click.option("--window", default=None, help="How far back from the newest finding (7d, 36h, all; default: the "
                                             "risk.window setting).")
@click.option("--until", type=TimeParam(), default=None, help="End of the window (default: the newest finding).")
@click.option("--type", "types", multiple=True,
              type=click.Choice(["host", "ip", "user", "process", "external", "domain"]),
              help="Only entities of this type (repeatable).")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most N entities (table: 30).")
@click.option("--min-score", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--suppressions", type=click.Path(dir_okay=False), default=None,
              help="Allow-list/suppression rules applied to the findings first (as in 'winnow findings').")
@format_option
def risk(lake: str | None, window: str | None, until, types: tuple[str, ...], limit: int | None, min_score: float,
         suppressions: str | None, fmt: str | None) -> None:
    """Entities (hosts, internal addresses, users, processes, outside addresses, domains) by risk.

    Every finding is resolved to the entities it involves (an internal address to its host where
    the endpoint logs tell) and combined per entity: repeated findings count less, old ones decay,
    independent detectors and data sources count whole, and critical assets and privileged
    accounts are visible modifiers. In jsonl/json each entity carries 'contributions' (each
    finding's or modifier's share) that sum to its score.
    """
    from pathlib import Path

    from winnow.cli.output import emit, resolve
    from winnow.config import current
    from winnow.engine import connect
    from winnow.lake import Lake
    from winnow.risk import lake_risk
    from winnow.scoring import suppress
    from winnow.store import FindingsStore

    lake_obj = Lake.open(lake)
    suppressions = suppressions or current().get("suppressions") or None
    if suppressions and not Path(suppressions).exists():
        raise click.BadParameter(f"{suppressions}: no such file", param_hint="--suppressions")
    rules = suppress.load_rules(Path(suppressions) if suppressions else lake_obj.root / suppress.FILE_NAME)
    with FindingsStore(lake_obj, read_only=True) as store:
        findings = store.query()
    if rules:
        findings, _ = suppress.apply(findings, rules)
    with connect("duckdb", lake_obj.root) as engine:
        entities = lake_risk(engine, findings, window, until)
    rows = [e for e in entities if e.score >= min_score and (not types or e.entity.type in types)]
    table = resolve(fmt) == "table"
    shown = limit if limit is not None else (30 if table else None)
    rows = rows[:shown] if shown is not None else rows
    if table:
        emit([{**(d := e.to_dict(top=3)), "detectors": ", ".join(d["detectors"])} for e in rows], fmt,
             columns=["score", "severity", "entity_type", "entity", "findings", "detectors", "why"],
             right=("score", "findings"), nowrap=("entity",), optional=("detectors", "findings", "severity"))
    else:
        emit([e.to_dict() for e in rows], fmt)
