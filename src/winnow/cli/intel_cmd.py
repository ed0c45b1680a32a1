"""winnow intel [FOLDER] [--lake DIR] [--warnings]"""

from __future__ import annotations

from pathlib import Path

import click

from winnow.cli.options import format_option, lake_option
from winnow.cli.output import emit


@click.command("intel")
@click.argument("folder", required=False, type=click.Path(exists=True))
@lake_option
@click.option("--warnings", "show_warnings", is_flag=True, help="List every bad record (file, line, reason).")
@format_option
def intel(folder: str | None, lake: str | None, show_warnings: bool, fmt: str | None) -> None:
    """Check threat intel feeds as the intel detector reads them: per file its format, the indicators of
    each kind, the records skipped (kinds Winnow does not match) and the bad ones.

    FOLDER defaults to the intel.feeds setting, else <lake>/intel.
    """
    from winnow.config import current
    from winnow.errors import WinnowError
    from winnow.intel import load_feeds
    from winnow.lake import Lake

    chosen = Path(folder or current().get("intel.feeds") or Lake.open(lake).root / "intel")
    if not chosen.exists():
        raise WinnowError(f"no intel feeds at {chosen}: put indicator files there or name a folder")
    feeds = load_feeds(chosen, log_warnings=False)
    if show_warnings:
        emit([{"file": w.file, "line": w.line, "reason": w.reason, "snippet": w.snippet} for w in feeds.warnings],
             fmt, columns=["file", "line", "reason", "snippet"], widths={"file": 40, "reason": 60, "snippet": 40})
        return
    rows = []
    for file, fmt_name in feeds.formats.items():
        kinds: dict[str, int] = {}
        for ind in feeds.indicators:
            if ind.file == file:
                kinds[ind.kind] = kinds.get(ind.kind, 0) + 1
        rows.append({
            "file": file, "format": fmt_name, "indicators": feeds.files.get(file, 0),
            "kinds": ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())),
            "skipped": sum(n for (f, _), n in feeds.skipped.items() if f == file),
            "bad": sum(1 for w in feeds.warnings if w.file == file),
        })
    rows += [{"file": w.file, "format": "", "indicators": 0, "kinds": "", "skipped": 0, "bad": 1}
             for w in feeds.warnings if w.file not in feeds.formats]
    emit(rows, fmt, columns=["file", "format", "indicators", "kinds", "skipped", "bad"],
         widths={"file": 50, "kinds": 50})
