"""winnow ingest PATH... [--lake DIR] [--format NAME] [--workers N] [--engine spark[://MASTER]]"""

from __future__ import annotations

import click

from winnow.cli.options import lake_option
from winnow.cli.output import emit
from winnow.cli.progress import progress_bar


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@lake_option
@click.option("--format", "source_format", default=None,
              help="Force a source format instead of sniffing it (see 'winnow sources').")
@click.option("--sensor", default=None, help="Sensor name for rows whose log does not name one.")
@click.option("--report", "report_fmt", type=click.Choice(["table", "jsonl", "json", "csv"]), default=None,
              help="Per-file report format (default: table on a terminal, jsonl in a pipe).")
@click.option("--all-files", is_flag=True, help="List every file in the report, not only those with news.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Files parsed at once, each in a worker process (default: the ingest.workers setting, "
                   "one per core); 1 parses one file after another.")
@click.option("--engine", "engine_url", default=None, metavar="URL",
              help="Parse the files as Spark tasks: spark (local mode), local[N], spark://HOST:PORT, yarn or "
                   "k8s://... (extra [spark]; the lake and the files on a filesystem every executor sees at the "
                   "same paths). Default: worker processes on this machine (--workers).")
def ingest(paths: tuple[str, ...], lake: str | None, source_format: str | None, sensor: str | None,
           report_fmt: str | None, all_files: bool, workers: int | None, engine_url: str | None) -> None:
    """Ingest log files, folders, .gz/.bz2/.xz files and .zip/.tar/.tar.gz archives into the lake.

    Reads Zeek logs (TSV or JSON), NetFlow v5/v9 and IPFIX (export packets or pcap), Argus and
    nfdump CSV flows, Windows EVTX files and Windows JSON events (Sysmon, Security), Linux auditd
    and SSH/auth syslog, Suricata EVE JSON and Snort alerts (alert_json, alert_csv, alert_fast);
    'winnow sources' lists every format and the tables it fills. Formats
    are sniffed from content. Files already ingested (same content hash) are skipped, so
    re-running is safe. Bad lines, invalid values (stored as null), damaged compressed data and
    cut files are counted per file and listed by 'winnow warnings'; 'winnow lake' shows what the
    lake holds. Several files are parsed at once (--workers, one per core by default) and published
    in the order they were found, so the lake is the same whatever the number of workers. With
    --engine spark[://MASTER] the files are parsed as Spark tasks instead, into the same lake.
    """
    from winnow.pipeline.ingest import ingest as run_ingest

    with progress_bar("ingesting") as update:
        report = run_ingest(list(paths), lake, source_format, sensor, on_progress=update, workers=workers,
                            engine=engine_url)
    rows = [
        {"file": f.file, "status": f.status, "format": f.source_format, "rows": f.total_rows,
         "tables": f.rows, "warnings": f.warnings, "skipped": f.skipped, "message": f.message}
        for f in report.files
        if all_files or f.status != "ingested" or f.warnings or f.skipped or f.total_rows
    ]
    emit(rows, report_fmt, columns=["file", "status", "format", "rows", "warnings", "skipped", "message"],
         widths={"file": 60, "message": 60})
    totals = report.totals()
    statuses: dict[str, int] = {}
    for f in report.files:
        statuses[f.status] = statuses.get(f.status, 0) + 1
    warnings = sum(f.warnings for f in report.files)
    click.echo(
        f"{len(report.files)} files ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))}); "
        f"rows: {', '.join(f'{t} {n:,}' for t, n in sorted(totals.items())) or 'none'}; "
        f"{warnings} warnings" + (" (winnow warnings --lake ... lists them)" if warnings else ""),
        err=True,
    )
