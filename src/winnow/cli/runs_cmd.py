"""winnow runs [--lake DIR] [--detector NAME]... [--all] [--format ...]"""

from __future__ import annotations

import click

from winnow.cli.options import format_option, lake_option
from winnow.cli.output import emit


def changed_settings(settings: dict) -> str:
    """The settings of a run that were not at their defaults, as ``key=value (origin)``; 'defaults' if none."""
    parts = [f"{k}={v['value']} ({v['origin']})" for k, v in sorted(settings.items()) if v.get("origin") != "default"]
    return "; ".join(parts) or "defaults"


@click.command("runs")
@lake_option
@click.option("--detector", "names", multiple=True, help="Only this detector (repeatable).")
@click.option("--all", "every", is_flag=True, help="Every stored run (default: the latest run of each detector).")
@format_option
def runs(lake: str, names: tuple[str, ...], every: bool, fmt: str | None) -> None:
    """Detection runs and the settings they ran with (the findings of the latest run of each detector are stored).

    The table shows the settings that were not at their defaults and where each came from (file and
    line, environment variable, --set); jsonl/json/csv carry every setting of the run.
    """
    from winnow.cli.output import resolve
    from winnow.lake import Lake
    from winnow.store import FindingsStore

    with FindingsStore(Lake.open(lake), read_only=True) as store:
        rows = store.runs(list(names) or None, latest=not every)
    if resolve(fmt) == "table":
        rows = [{**r, "when": r["created_at"], "changed settings": changed_settings(r["settings"])} for r in rows]
        emit(rows, fmt, columns=["detector", "engine", "findings", "when", "run_id", "changed settings"],
             widths={"changed settings": 70})
    else:
        emit(rows, fmt)
