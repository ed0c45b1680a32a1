"""winnow lake [--lake DIR] [--format table|jsonl|json|csv]"""

from __future__ import annotations

import click

from winnow.cli.options import format_option, lake_option
from winnow.cli.output import emit, resolve


@click.command("lake")
@lake_option
@format_option
def lake(lake: str, fmt: str | None) -> None:
    """Show what is in the lake: per table its rows, time range, sources, files, size and warnings.

    Read from Parquet footers and the manifest, so it is quick on a lake of any size. Log
    tables come first, then derived ones (net.conn_proc), the ingest warnings and the findings
    store with each detector's findings and last run. A table's warnings are the problems met
    in the files its rows came from (a file feeding several tables counts in each); 'winnow
    warnings' lists them. jsonl/json/csv give one object per table, times in UTC.
    """
    from winnow.errors import WinnowError
    from winnow.lake import Lake
    from winnow.lake.summary import summarize

    lake_obj = Lake.open(lake)
    rows = summarize(lake_obj)
    if all(r["kind"] == "findings" for r in rows):  # not one Parquet part
        raise WinnowError(f"lake {lake} has no tables yet: run 'winnow ingest PATH --lake {lake}' "
                          "(or 'winnow demo' to try a simulated network)")
    if resolve(fmt) != "table":
        emit(rows, fmt)
        return
    from winnow.cli import readable

    tables = [r for r in rows if r["kind"] != "findings"]
    emit([_table_cells(r) for r in tables], "table", title=f"Lake {lake}",
         right=("rows", "days", "files", "parts", "size", "warnings"), nowrap=("table",),
         whole_if_room=("first", "last"), optional=("days", "parts", "size"),
         caption="Times are UTC. warnings: problems met in the files behind a table ('winnow warnings' lists them).")
    store = next(r for r in rows if r["kind"] == "findings")
    if store["detectors"] is None:
        click.echo("Findings store: being written by a detection; run 'winnow lake' again when it has finished.")
        return
    if not store["detectors"]:
        click.echo(f"No findings yet: run 'winnow detect --lake {lake}'.")
        return
    emit([{"detector": name, "findings": readable.count(d["findings"]), "top score": readable.score(d["top_score"]),
           "seen (UTC)": readable.span(d["first_seen"], d["last_seen"]), "last run (UTC)": readable.when(d["last_run"]),
           "engine": d["engine"] or ""} for name, d in store["detectors"].items()],
         "table", title=f"Findings store ({readable.count(store['rows'])} findings, {readable.size(store['bytes'])})",
         right=("findings", "top score"), whole_if_room=("seen (UTC)", "last run (UTC)"))


def _table_cells(row: dict) -> dict[str, str]:
    from winnow.cli import readable

    sources = "derived" if row["kind"] == "derived" else ", ".join(row["sources"])
    return {"table": row["table"], "rows": readable.count(row["rows"]), "first": readable.when(row["first_ts"]),
            "last": readable.when(row["last_ts"]), "days": readable.count(row["days"]), "sources": sources,
            "files": readable.count(row["files"]), "warnings": readable.count(row["warnings"]),
            "parts": readable.count(row["parts"]), "size": readable.size(row["bytes"])}
