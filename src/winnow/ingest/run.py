"""Ingest: discover -> hash -> skip if known -> sniff -> parse -> write parts -> publish atomically."""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import hashlib
import queue
import shutil
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa

from winnow.errors import WinnowError
from winnow.ingest.discover import InputFile, discover
from winnow.lake import FileWriter, Lake, Manifest, ManifestEntry
from winnow.lake.commit import publish_many
from winnow.lake.writer import SharedParts
from winnow.sources import AbandonFile, ParseContext, get_source, sniff
from winnow.sources.base import Source

#: tables whose new rows make the connection-process join refresh
DERIVED_INPUTS = frozenset({"net.conn", "proc.net", "proc.exec"})
#: a file of this many rows or more is committed as soon as it is written (with any pending ones): its
#: work dwarfs a commit's two fsyncs. Smaller files are committed together, up to ...
COMMIT_ROWS = 10_000
#: ... this many files ...
COMMIT_FILES = 256
#: ... or until the oldest of them has waited this many seconds: a killed run redoes at most this much work
COMMIT_SECONDS = 0.5
#: files smaller than this are parsed and written on one thread (a writer thread costs more than it saves)
THREAD_BYTES = 4 << 20
#: a file whose rows all fit in this many bytes of Arrow memory shares its group's parts (SharedParts)
SHARE_BYTES = 16 << 20


@dataclass
class FileReport:
    """What happened to one input file."""

    file: str
    status: str  # ingested | already ingested | unrecognized | failed
    source_format: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    warnings: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    message: str = ""

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass
class IngestReport:
    ingest_id: str
    files: list[FileReport] = field(default_factory=list)
    #: what the net.conn_proc refresh did (None when no endpoint or connection data arrived)
    conn_proc: Any = None

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            for table, n in f.rows.items():
                out[table] = out.get(table, 0) + n
        return out


@contextmanager
def lake_lock(lake: Lake) -> Iterator[None]:
    """Hold the lake's writer lock (one ingest, collector flush or join refresh at a time)."""
    with open(lake.root / "_lock", "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WinnowError(f"another ingest is writing to {lake.root}; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ingest(
    paths: list[str | Path],
    lake_path: str | Path | None = None,
    fmt: str | None = None,
    sensor: str | None = None,
    on_file: Callable[[FileReport], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Ingest files and folders into the lake; re-ingesting known content adds nothing.

    Args:
        paths: files, folders, compressed files or zip archives.
        lake_path: lake folder (created if missing).
        fmt: force a registered source instead of sniffing.
        sensor: sensor name for rows whose log does not name one.
        on_file: called with each file's report as soon as it is done.
        on_progress: called with (bytes done, bytes total).
    """
    lake = Lake.open(lake_path, create=True)
    forced = get_source(fmt) if fmt else None
    files = list(discover(paths, exclude=lake.root))
    report = IngestReport(ingest_id=dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8])
    total = sum(f.size for f in files)
    done = 0
    with lake_lock(lake):
        from winnow.lake.commit import recover

        recover(lake)
        manifest = Manifest(lake)
        pending = PendingCommits(lake, manifest, report.ingest_id)
        for number, item in enumerate(files):
            result = _ingest_one(item, lake, pending, forced, sensor, report.ingest_id, number)
            report.files.append(result)
            done += item.size
            if on_file:
                on_file(result)
            if on_progress:
                on_progress(done, total)
        pending.flush()
        shutil.rmtree(lake.tmp_dir / report.ingest_id, ignore_errors=True)  # only empty folders are left
        if DERIVED_INPUTS & set(report.totals()) and lake.has_table("proc.net"):
            from winnow.enrich.refresh import refresh_conn_proc

            try:
                report.conn_proc = refresh_conn_proc(lake)
            except Exception as exc:
                from winnow.engine.base import memory_hint, out_of_memory

                if not out_of_memory(exc):
                    raise
                raise WinnowError(f"{len(report.files)} files ingested, but net.conn_proc was not built: "
                                  f"{memory_hint()}, then run 'winnow attribute'") from None
    return report


class PendingCommits:
    """Files whose parts are written but not yet published, committed together (one journal, one fsync).

    A group is published when a file of :data:`COMMIT_ROWS` rows or more joins it, when it holds
    :data:`COMMIT_FILES` files, when its oldest file has waited :data:`COMMIT_SECONDS`, and at the end
    of the run. A run killed before a group's journal is written has published nothing of it: the next
    run ingests those files again (their temporary parts are dropped, nothing is duplicated).
    """

    def __init__(self, lake: Lake, manifest: Manifest, ingest_id: str) -> None:
        self.lake, self.manifest = lake, manifest
        self.commits: list[tuple[ManifestEntry, list, list]] = []
        self.shas: dict[str, ManifestEntry] = {}
        self.shared = SharedParts(lake, ingest_id)
        self.since = 0.0

    def get(self, sha256: str) -> ManifestEntry | None:
        """The entry of this content, committed or pending."""
        return self.shas.get(sha256) or self.manifest.get(sha256)

    def add(self, entry: ManifestEntry, moves: list, writer: FileWriter | None = None) -> None:
        """Queue one file's commit; publish the group when it is due.

        With ``writer`` (a small file's, all rows still in memory) its rows go to the group's shared
        parts; ``moves`` are then only its other parts (warnings).
        """
        if not self.commits:
            self.since = time.monotonic()
        keys = self.shared.add(entry.sha256, writer.take()) if writer is not None else []
        self.commits.append((entry, moves, keys))
        self.shas[entry.sha256] = entry
        if (sum(entry.rows.values()) >= COMMIT_ROWS or len(self.commits) >= COMMIT_FILES
                or time.monotonic() - self.since >= COMMIT_SECONDS):
            self.flush()

    def flush(self) -> None:
        """Publish every queued file."""
        if not self.commits:
            return
        commits, self.commits, self.shas = self.commits, [], {}
        shared = self.shared.close()
        done = []
        for entry, moves, keys in commits:
            moves = [shared[key] for key in keys] + moves
            parts = [str(final.relative_to(self.lake.root)) for _, final in moves]
            done.append((dataclasses.replace(entry, parts=parts), moves))
        publish_many(self.lake, done, self.manifest)


def _ingest_one(item: InputFile, lake: Lake, pending: PendingCommits, forced: Source | None, sensor: str | None,
                ingest_id: str, number: int) -> FileReport:
    manifest = pending.manifest
    unchanged = manifest.unchanged(item.name, item.size, item.mtime_ns)
    if unchanged is not None:
        return FileReport(item.name, "already ingested", unchanged.source_format,
                          message=f"unchanged since it was ingested {unchanged.ingested_at}")
    source = forced or sniff(item.head(), item.name)
    if source is None:
        return FileReport(item.name, "unrecognized", message="format not recognized; use --format to force one")
    ctx = ParseContext(item.name)
    writer = FileWriter(lake, f"part-{number:06d}", ingest_id, item.name, source.name, sensor)
    digest = hashlib.sha256()
    status, message = "ingested", ""
    try:
        stream, hashing = item.open_hashed(digest)
        with stream:
            try:
                _parse_into(source, stream, ctx, writer, threaded=item.size >= THREAD_BYTES)
            finally:
                hashing.drain()  # the identity of a file is all of its stored bytes
    except AbandonFile as exc:
        status, message = "abandoned", str(exc)
        ctx.warn(None, str(exc).split(": ", 1)[-1])
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        status, message = "failed", f"{item.name}: {exc}"
        ctx.warn(None, f"read error: {exc}")
    sha256 = digest.hexdigest()
    known = pending.get(sha256)
    if known is not None:
        writer.abort()
        return FileReport(item.name, "already ingested", known.source_format,
                          message=f"same content as {known.file}, ingested {known.ingested_at}")
    shared = writer.in_memory and writer.buffered < SHARE_BYTES  # a small file: its rows go to the group's parts
    moves = [] if shared else writer.close(sha256)
    if ctx.warnings:
        moves.append(write_warnings(lake, sha256, ingest_id, source.name, ctx))
    entry = ManifestEntry(
        sha256=sha256, file=item.name, source_format=source.name, ingest_id=ingest_id,
        ingested_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), rows=dict(writer.rows),
        warnings=len(ctx.warnings), skipped=dict(ctx.unsupported),
        parts=[str(b.relative_to(lake.root)) for _, b in moves], size=item.size, mtime_ns=item.mtime_ns,
    )
    pending.add(entry, moves, writer if shared else None)
    return FileReport(item.name, status, source.name, dict(writer.rows), len(ctx.warnings), dict(ctx.unsupported),
                      message or (ctx.warnings[0].reason if ctx.warnings else ""))


def _parse_into(source: Source, stream: BinaryIO, ctx: ParseContext, writer: FileWriter,
                threaded: bool = True) -> None:
    """Parse on this thread while a second thread converts and writes Parquet (both release the GIL).

    With ``threaded`` false (small files) both happen on this thread.
    """
    if not threaded:
        for batch in source.parse(stream, ctx):
            writer.write(batch.table, batch.data)
        return
    batches: queue.Queue = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def consume() -> None:
        while (item := batches.get()) is not None:
            if not failure:
                try:
                    writer.write(*item)
                except BaseException as exc:  # re-raised on the parsing thread
                    failure.append(exc)

    thread = threading.Thread(target=consume, name="winnow-writer", daemon=True)
    thread.start()
    try:
        for batch in source.parse(stream, ctx):
            if failure:
                break
            batches.put((batch.table, batch.data))
    finally:
        batches.put(None)
        thread.join()
    if failure:
        raise failure[0]


def write_warnings(lake: Lake, digest: str, ingest_id: str, source_format: str, ctx: ParseContext):
    from winnow.schema import get_table

    table = get_table("ingest_warnings")
    now = dt.datetime.now(dt.UTC)
    n = len(ctx.warnings)
    data = pa.table(
        {
            "ts": pa.array([now] * n, table.arrow_schema.field("ts").type),
            "file": [ctx.file] * n,
            "line": pa.array([w.line for w in ctx.warnings], pa.int64()),
            "reason": [w.reason for w in ctx.warnings],
            "snippet": [w.snippet for w in ctx.warnings],
            "source_format": [source_format] * n,
            "ingest_id": [ingest_id] * n,
        },
        schema=table.arrow_schema,
    )
    day = now.strftime("%Y-%m-%d")
    final = lake.partition("ingest_warnings", day) / f"{digest[:32]}.parquet"
    tmp = lake.tmp_dir / ingest_id / "ingest_warnings" / f"{digest[:32]}.parquet"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    import pyarrow.parquet as pq

    pq.write_table(data, tmp)
    return tmp, final
