"""winnow sigma --rules DIR [--check] [--lake DIR] [--engine URL] [--since T] [--until T]"""

from __future__ import annotations

import click

from winnow.cli.options import TimeParam, format_option, lake_option
from winnow.engine.registry import url_help


@click.command("sigma")
@lake_option
@click.option("--rules", "rules", required=True, type=click.Path(exists=True),
              help="Folder (or file) of Sigma rules.")
@click.option("--check", is_flag=True, help="Only list the rules Winnow cannot run, with the reason, and count "
              "them by reason (reads no lake).")
@click.option("--engine", "engine_url", default=None, metavar="URL", help=url_help())
@click.option("--since", type=TimeParam(), default=None, help="Start of the window (inclusive).")
@click.option("--until", type=TimeParam(), default=None, help="End of the window (exclusive).")
@format_option
def sigma(lake: str, rules: str, check: bool, engine_url: str | None, since, until, fmt: str | None) -> None:
    """Run a folder of Sigma rules over the lake ad hoc and print the findings (not stored; to store them,
    name the folder in the setting sigma.rules and run 'winnow detect').

    Every rule that cannot run is counted by reason on standard error; --check lists each one with its file.
    """
    from winnow.cli.output import emit
    from winnow.sigma.rules import load_rules

    ruleset = load_rules(rules)
    for reason, count in ruleset.reasons().most_common():
        click.echo(f"{count:>6}  {reason}", err=True)
    click.echo(f"{len(ruleset.rules) + len(ruleset.correlations)} of {ruleset.total} rules compiled "
               f"({len(ruleset.correlations)} correlations), {len(ruleset.problems)} cannot run", err=True)
    if check:
        emit([{"file": p.path, "title": p.title, "reason": p.reason, "detail": p.detail} for p in ruleset.problems],
             fmt, columns=["file", "title", "reason", "detail"], widths={"file": 50, "title": 40, "detail": 80})
        return
    from winnow.config import current
    from winnow.detections.sigma import SigmaRules
    from winnow.engine import Window, connect

    params = current().detector_params("sigma")
    params["rules"] = rules
    detector = SigmaRules(**params)
    with connect(engine_url or current().get("engine"), lake) as engine:
        findings = detector.find_rules(engine, Window(since, until), ruleset)
    findings.sort(key=lambda f: (-f.score, f.entity))
    emit([f.to_dict() for f in findings], fmt, columns=["severity", "host", "entity", "why"],
         widths={"entity": 60, "why": 100})
