"""Ingest files: discover -> skip if known -> sniff -> parse -> write parts -> publish atomically.

This is the ingest step alone; :func:`winnow.pipeline.ingest.ingest` (what ``winnow ingest`` runs)
also refreshes the derived tables whose inputs changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import queue
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from winnow.config import Config, ConfigError, current
from winnow.ingest.discover import InputFile, discover
from winnow.ingest.pending import PendingCommits
from winnow.ingest.report import FileReport, IngestReport
from winnow.lake import FileWriter, Lake, Manifest, ManifestEntry
from winnow.lake.state import read_state, stage_merged
from winnow.lake.warnings import write_warnings
from winnow.sources import AbandonFile, ParseContext, get_source, sniff
from winnow.sources.base import Source
from winnow.sources.blocks import READ_ERRORS, read_problem
from winnow.sources.netflow_store import STATE_NAME, TemplateStore
from winnow.sources.value_checks import check_values


@dataclass(frozen=True)
class _Run:
    """What every file of one run shares: where it goes, and the ``ingest.*`` settings in force (read once)."""

    lake: Lake
    pending: PendingCommits
    forced: Source | None
    sensor: str | None
    ingest_id: str
    #: files smaller than this are parsed and written on one thread (a writer thread costs more than it saves)
    thread_bytes: int
    #: a file whose rows all fit in this many bytes of Arrow memory shares its group's parts (SharedParts)
    share_bytes: int
    max_consecutive_bad: int
    block_size: int
    json_shape_rows: int
    auditd_column_events: int
    parse_workers: int
    #: NetFlow v9/IPFIX templates, carried from file to file in order and published with the files
    templates: TemplateStore


def ingest_files(
    lake: Lake,
    paths: list[str | Path],
    fmt: str | None = None,
    sensor: str | None = None,
    on_file: Callable[[FileReport], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Ingest files and folders into the lake (derived tables are left as they are); re-ingesting adds nothing.

    The caller holds the lake's lock (:func:`~winnow.lake.lock.lake_lock`), as
    :func:`winnow.pipeline.ingest.ingest` does.

    Args:
        lake: the lake written.
        paths: files, folders, compressed files, zip or tar archives.
        fmt: force a registered source instead of sniffing.
        sensor: sensor name for rows whose log does not name one.
        on_file: called with each file's report as soon as it is done.
        on_progress: called with (bytes done, bytes total).
    """
    files = list(discover(paths, exclude=lake.root))
    report = IngestReport(ingest_id=dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8])
    total = sum(f.size for f in files)
    done = 0
    config = current()
    # NetFlow templates: carried across files in discovery order, published with each group of files
    templates = TemplateStore.from_state(read_state(lake, STATE_NAME))
    pending = PendingCommits(lake, Manifest(lake), report.ingest_id,
                             lambda: stage_merged(lake, report.ingest_id, STATE_NAME, templates))
    run = _Run(lake, pending, get_source(fmt) if fmt else None, sensor, report.ingest_id,
               config.get("ingest.thread_bytes"), config.get("ingest.share_bytes"),
               _positive(config, "ingest.max_consecutive_bad"), _positive(config, "ingest.block_size"),
               _positive(config, "ingest.json_shape_rows"), config.get("ingest.auditd_column_events"),
               config.get("ingest.parse_workers"),
               templates)
    for number, item in enumerate(files):
        result = _ingest_one(item, run, number)
        report.files.append(result)
        done += item.size
        if on_file:
            on_file(result)
        if on_progress:
            on_progress(done, total)
    pending.flush()
    shutil.rmtree(lake.tmp_dir / report.ingest_id, ignore_errors=True)  # only empty folders are left
    return report


def _positive(config: Config, key: str) -> int:
    value = config.get(key)
    if value < 1:
        raise ConfigError(f"{config.origin(key)}: {key}: expected 1 or more, got {value!r}")
    return value


def _ingest_one(item: InputFile, run: _Run, number: int) -> FileReport:
    manifest, lake = run.pending.manifest, run.lake
    unchanged = manifest.unchanged(item.name, item.size, item.mtime_ns)
    if unchanged is not None:
        return FileReport(item.name, "already ingested", unchanged.source_format,
                          message=f"unchanged since it was ingested {unchanged.ingested_at}")
    head, head_error = item.read_head()
    source = run.forced or sniff(head, item.name)
    if source is None and head_error is None:
        return FileReport(item.name, "unrecognized", message="format not recognized; use --format to force one")
    name = source.name if source is not None else ""
    ctx = ParseContext(item.name, max_consecutive_bad=run.max_consecutive_bad, block_size=run.block_size,
                       json_shape_rows=run.json_shape_rows, auditd_column_events=run.auditd_column_events,
                       parse_workers=run.parse_workers,
                       netflow_templates=run.templates)
    if run.templates.problem and name == "netflow":
        ctx.warn(None, f"stored NetFlow templates could not be read ({run.templates.problem}); starting without them")
        run.templates.problem = None
    before = run.templates.snapshot() if name == "netflow" else None
    writer = FileWriter(lake, f"part-{number:06d}", run.ingest_id, item.name, name, run.sensor)
    digest = hashlib.sha256()
    status, message = "ingested", ""
    readable = source is not None and (bool(head) or head_error is None)
    if not readable:  # nothing readable to sniff or parse: the file is reported, and remembered by name
        status, message = "failed", f"{item.name}: {read_problem(head_error)}"
        ctx.warn(None, read_problem(head_error))
    try:
        stream, hashing = item.open_hashed(digest)
        with stream:
            try:
                if readable and source is not None:
                    _parse_into(source, stream, ctx, writer, threaded=item.size >= run.thread_bytes)
            finally:
                hashing.drain()  # the identity of a file is all of its stored bytes
    except AbandonFile as exc:
        status, message = "abandoned", str(exc)
        ctx.warn(None, str(exc).split(": ", 1)[-1])
    except READ_ERRORS as exc:
        if status != "failed":
            status, message = "failed", f"{item.name}: {read_problem(exc)}"
            ctx.warn(None, read_problem(exc))
    if status == "failed":  # what could be read of it is not its content: remembered by name, never "same as"
        digest.update(f"\0unreadable\0{item.name}\0{item.size}".encode())
    sha256 = digest.hexdigest()
    known = run.pending.get(sha256)
    if known is not None:
        writer.abort()
        if before is not None:
            run.templates.restore(before)  # not recorded: its templates must not count either
        return FileReport(item.name, "already ingested", known.source_format,
                          message=f"same content as {known.file}, ingested {known.ingested_at}")
    shared = writer.in_memory and writer.buffered < run.share_bytes  # a small file: its rows go to the group's parts
    moves = [] if shared else writer.close(sha256)
    if ctx.warnings:
        moves.append(write_warnings(lake, sha256, run.ingest_id, ctx.file, name, ctx.warnings))
    entry = ManifestEntry(
        sha256=sha256, file=item.name, source_format=name, ingest_id=run.ingest_id,
        ingested_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), rows=dict(writer.rows),
        warnings=len(ctx.warnings), skipped=dict(ctx.unsupported),
        parts=[str(b.relative_to(lake.root)) for _, b in moves], size=item.size, mtime_ns=item.mtime_ns,
    )
    run.pending.add(entry, moves, writer if shared else None)
    return FileReport(item.name, status, name, dict(writer.rows), len(ctx.warnings), dict(ctx.unsupported),
                      message or (ctx.warnings[0].reason if ctx.warnings else ""))


def _parse_into(source: Source, stream: BinaryIO, ctx: ParseContext, writer: FileWriter,
                threaded: bool = True) -> None:
    """Parse on this thread while a second thread checks values, converts and writes Parquet (both release the GIL).

    With ``threaded`` false (small files) both happen on this thread.
    """
    if not threaded:
        for batch in source.parse(stream, ctx):
            batch = check_values(batch, ctx)
            writer.write(batch.table, batch.data)
        return
    batches: queue.Queue = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def consume() -> None:
        while (item := batches.get()) is not None:
            if not failure:
                try:
                    checked = check_values(item, ctx)  # here, off the parsing thread (Arrow releases the GIL)
                    writer.write(checked.table, checked.data)
                except BaseException as exc:  # re-raised on the parsing thread
                    failure.append(exc)

    thread = threading.Thread(target=consume, name="winnow-writer", daemon=True)
    thread.start()
    try:
        for batch in source.parse(stream, ctx):
            if failure:
                break
            batches.put(batch)
    finally:
        batches.put(None)
        thread.join()
    if failure:
        raise failure[0]
