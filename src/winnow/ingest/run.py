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
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from winnow.config import Config, ConfigError, current, use
from winnow.errors import WinnowError
from winnow.ingest.discover import InputFile, discover
from winnow.ingest.pending import PendingCommits
from winnow.ingest.report import FileReport, IngestReport
from winnow.ingest.workers import can_fork, cores, in_order, in_turn, run_batch
from winnow.lake import FileWriter, Lake, Manifest, ManifestEntry
from winnow.lake.lock import LOCK
from winnow.lake.state import read_state, stage_merged
from winnow.lake.warnings import write_warnings
from winnow.sources import AbandonFile, ParseContext, get_source, sniff, sources
from winnow.sources.base import Source, Warning_
from winnow.sources.blocks import READ_ERRORS, read_problem
from winnow.sources.netflow_store import STATE_NAME, TemplateStore
from winnow.sources.value_checks import check_values

#: small files sent to a worker together: at most this many, of at most this many bytes in all
BATCH_FILES, BATCH_BYTES = 64, 4 << 20


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
    #: a file whose rows all fit in this many bytes of Arrow memory, and fewer than ``ingest.commit_rows``
    #: rows, shares its group's parts (SharedParts)
    share_bytes: int
    max_consecutive_bad: int
    block_size: int
    json_shape_rows: int
    json_known_shapes: int
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
    workers: int | None = None,
    engine: str | None = None,
) -> IngestReport:
    """Ingest files and folders into the lake (derived tables are left as they are); re-ingesting adds nothing.

    The caller holds the lake's lock (:func:`~winnow.lake.lock.lake_lock`), as
    :func:`winnow.pipeline.ingest.ingest` does.

    Args:
        lake: the lake written.
        paths: files, folders, compressed files, zip or tar archives.
        fmt: force a registered source instead of sniffing.
        sensor: sensor name for rows whose log does not name one.
        on_file: called with each file's report as soon as it is done (in discovery order).
        on_progress: called with (bytes done, bytes total).
        workers: files parsed at once, each in a worker process (default: the ``ingest.workers``
            setting; 0 there: one per core); 1 parses them one after another in this process.
        engine: a Spark master URL (``spark``, ``local[N]``, ``spark://HOST:PORT``, ...): files are
            parsed as Spark tasks instead of worker processes (``workers`` is then unused); the lake
            and the paths must be on a filesystem the driver and every executor see at the same paths.
    """
    _use_memory_pool(current())
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
               _positive(config, "ingest.json_shape_rows"), config.get("ingest.json_known_shapes"),
               config.get("ingest.auditd_column_events"),
               config.get("ingest.parse_workers"),
               templates)
    spark = _spark_url(engine)
    with closing(_in_order(files, run, _workers(config, workers, files), spark)) as results:  # closed: workers stopped
        for number, result in results:
            report.files.append(result)
            done += files[number].size
            if on_file:
                on_file(result)
            if on_progress:
                on_progress(done, total)
    pending.flush()
    shutil.rmtree(lake.tmp_dir / report.ingest_id, ignore_errors=True)  # only empty folders are left
    return report


#: the Arrow memory pools ingest.arrow_memory_pool can name
_POOLS = {"system": "system_memory_pool", "mimalloc": "mimalloc_memory_pool", "jemalloc": "jemalloc_memory_pool"}


def _use_memory_pool(config: Config) -> None:
    """Make ``ingest.arrow_memory_pool`` Arrow's default pool in this process (and the workers it forks)."""
    name = str(config.get("ingest.arrow_memory_pool")).strip().lower()
    if not name:
        return
    if name not in _POOLS:
        raise ConfigError(f"{config.origin('ingest.arrow_memory_pool')}: ingest.arrow_memory_pool: expected one of "
                          f"{', '.join(_POOLS)} or nothing, got {name!r}")
    try:
        pool = getattr(pa, _POOLS[name])()
    except NotImplementedError as exc:  # an Arrow built without it (jemalloc on some platforms)
        raise ConfigError(f"{config.origin('ingest.arrow_memory_pool')}: ingest.arrow_memory_pool: {name} is not "
                          f"in this build of Arrow ({exc})") from None
    if pa.default_memory_pool().backend_name != pool.backend_name:
        pa.set_memory_pool(pool)


def _positive(config: Config, key: str) -> int:
    value = config.get(key)
    if value < 1:
        raise ConfigError(f"{config.origin(key)}: {key}: expected 1 or more, got {value!r}")
    return value


def _workers(config: Config, given: int | None, files: list[InputFile]) -> int:
    """Worker processes asked for: ``given`` (``--workers``), else ``ingest.workers`` (0: one per core, or none
    for inputs under ``ingest.workers_min_bytes``: starting workers would cost more than they save)."""
    if given is not None:
        if given < 1:
            raise ConfigError(f"--workers: expected 1 or more, got {given}")
        return given
    value = config.get("ingest.workers")
    if value < 0:
        raise ConfigError(f"{config.origin('ingest.workers')}: ingest.workers: expected 0 (one per core) or more, "
                          f"got {value!r}")
    if value == 0 and sum(f.size for f in files) < config.get("ingest.workers_min_bytes"):
        return 1
    return value or cores()


def _spark_url(engine: str | None) -> str | None:
    """The Spark master URL files are parsed on, or None: worker processes (``duckdb`` or no engine given)."""
    if engine is None or engine.strip() == "duckdb":
        return None
    from winnow.engine.registry import engine_for

    spec = engine_for(engine)  # an unknown URL is a user error listing the known ones
    if spec.name != "spark":
        raise WinnowError(f"--engine {engine}: ingest runs on worker processes or on Spark, not on {spec.name}")
    spec.load()  # pyspark missing: a user error naming the extra
    return engine.strip()


def _in_order(files: list[InputFile], run: _Run, workers: int, spark: str | None = None,
              ) -> Iterator[tuple[int, FileReport]]:
    """Every file's report, in discovery order; up to ``workers`` files parsed at once in worker processes.

    Workers parse a file and write its parts under ``_tmp``; this process records each file at its
    turn (same content seen before, warnings, manifest entry, commit groups), so the lake is the
    one a run on one process writes. NetFlow files (their templates carry over from file to file)
    and tar members (read from one stream of their archive) are parsed here, at their turn.
    With ``spark`` (a master URL) Spark tasks do what workers do, on its executors (:func:`_on_spark`).
    """
    forced_netflow = run.forced is not None and run.forced.name == "netflow"  # every file parsed here anyway
    if spark is not None and not forced_netflow:
        results = _on_spark(files, run, spark)
    else:
        batches = _batches(files, run, workers) if workers > 1 and can_fork() and not forced_netflow else []
        if len(batches) < 2:  # one batch at most to parse: no worker to start
            for number, item in enumerate(files):
                yield number, _ingest_one(item, run, number)
            return
        sources()  # loaded once, before the workers are forked
        max_rows = run.pending.max_rows

        def work(number: int) -> FileReport | _Parsed | None:  # in a worker process
            return _parse_detached(files[number], run, number, max_rows)

        results = in_order(len(files), work, batches, min(workers, len(batches)), (run.lake.root / LOCK,))
    for number, parsed in results:
        if parsed is None:  # not sent to a worker, or sent back (NetFlow)
            yield number, _ingest_one(files[number], run, number)
        else:
            yield number, parsed if isinstance(parsed, FileReport) else _record(parsed, run)


def _parse_detached(item: InputFile, run: _Run, number: int, max_rows: int) -> FileReport | _Parsed | None:
    """What a worker (process or Spark task) does with one file: parse it, encode its parts unless it is shared."""
    parsed = _parse_one(item, run, number, in_order=False)
    if isinstance(parsed, _Parsed):
        parsed.detach(run.share_bytes, max_rows)  # Parquet encoded here, unless shared
    return parsed


def _on_spark(files: list[InputFile], run: _Run, url: str) -> Iterator[tuple[int, _Parsed | FileReport | None]]:
    """``(number, parsed)`` in discovery order, the files of :func:`_batches` parsed by Spark tasks (one per batch).

    A task gets its batch's files and :class:`_SparkTask` (the settings in force, the run without its
    manifest), writes large files' parts under the lake's ``_tmp/<run>/`` itself and sends small
    files' rows back as Arrow IPC, as a worker process does; None: parsed here at its turn.
    """
    if not _batches(files, run, 1):  # nothing to parse: no Spark session to start
        yield from ((number, None) for number in range(len(files)))
        return
    from winnow.engine import spark_cores, spark_map_in_order

    batches = _batches(files, run, spark_cores(url))
    task = _SparkTask(current(), replace(run, pending=None, templates=TemplateStore()), run.pending.max_rows)
    results = spark_map_in_order(url, [[(n, files[n]) for n in batch] for batch in batches], task)
    yield from in_turn(len(files), batches, results)


@dataclass(frozen=True)
class _SparkTask:
    """A Spark task's work on one batch of ``(number, file)``: sent to the executors (so it pickles, and is small)."""

    config: Config
    #: the run without its manifest and NetFlow templates (NetFlow files come back: parsed by the driver)
    run: _Run
    max_rows: int

    def __call__(self, batch: list[tuple[int, InputFile]]) -> list:
        items = dict(batch)
        with use(self.config):
            sources()
            return run_batch(lambda number: _parse_detached(items[number], self.run, number, self.max_rows),
                             [number for number, _ in batch])


def _batches(files: list[InputFile], run: _Run, workers: int) -> list[list[int]]:
    """The files workers parse, in batches of consecutive small files or one large file.

    A batch holds at most :data:`BATCH_BYTES` and :data:`BATCH_FILES` files, fewer when there are
    few files (four batches per worker at least, for an even share). Left out: files unchanged
    since they were ingested, and tar members (read from one stream).
    """
    numbers = [number for number, item in enumerate(files) if not item.in_stream
               and run.pending.manifest.unchanged(item.name, item.size, item.mtime_ns) is None]
    most = max(1, min(BATCH_FILES, -(-len(numbers) // (4 * workers))))
    out: list[list[int]] = []
    batch: list[int] = []
    size = 0
    for number in numbers:
        item = files[number]
        if item.size >= BATCH_BYTES:
            out.append([number])
            continue
        batch.append(number)
        size += item.size
        if len(batch) >= most or size >= BATCH_BYTES:
            out.append(batch)
            batch, size = [], 0
    return sorted(out + [batch] if batch else out)  # by first file: a batch is sent before the files after it


@dataclass
class _Parsed:
    """One file read and its rows written (parts under ``_tmp``, or rows in memory), not yet recorded."""

    file: str
    size: int
    mtime_ns: int
    status: str
    message: str
    source_format: str
    sha256: str
    rows: dict[str, int]
    warnings: list[Warning_]
    unsupported: dict[str, int]
    #: parsed in this process: its parts, still open
    writer: FileWriter | None = None
    #: parsed by a worker: its finished parts (temporary, final), or a small file's rows by (table, day)
    moves: list[tuple[Path, Path]] = field(default_factory=list)
    buffers: dict[tuple[str, str], list] | None = None
    #: the NetFlow templates before this file (put back when its content is known already)
    before: tuple | None = None

    def detach(self, share_bytes: int, max_rows: int) -> None:
        """Finish the writer: a small file keeps its rows to share its group's parts, a larger one writes its own.

        Small: all rows still in memory, under ``share_bytes`` of Arrow data and fewer than ``max_rows``
        rows. A worker calls this before handing the file back, so it encodes a larger file's parts.
        """
        writer, self.writer = self.writer, None
        if writer is None:
            return
        if writer.in_memory and writer.buffered < share_bytes and sum(writer.rows.values()) < max_rows:
            self.buffers = writer.take()
        else:
            self.moves = writer.close(self.sha256)

    def __getstate__(self) -> dict:
        """What a worker sends back: a small file's rows as Arrow IPC (a pickled slice would carry all its buffers)."""
        state = dict(self.__dict__)
        if self.buffers is not None:
            state["buffers"] = {key: [_ipc(table) for table in tables] for key, tables in self.buffers.items()}
        return state

    def __setstate__(self, state: dict) -> None:
        if state["buffers"] is not None:
            state["buffers"] = {key: [pa.ipc.open_stream(data).read_all() for data in tables]
                                for key, tables in state["buffers"].items()}
        self.__dict__.update(state)

    def drop(self) -> None:
        """Forget the rows and delete the parts (the content is in the lake already)."""
        if self.writer is not None:
            self.writer.abort()
        for tmp, _ in self.moves:
            tmp.unlink(missing_ok=True)
        self.writer, self.moves, self.buffers = None, [], None


def _ipc(table: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _ingest_one(item: InputFile, run: _Run, number: int) -> FileReport:
    unchanged = run.pending.manifest.unchanged(item.name, item.size, item.mtime_ns)
    if unchanged is not None:
        return FileReport(item.name, "already ingested", unchanged.source_format,
                          message=f"unchanged since it was ingested {unchanged.ingested_at}")
    parsed = _parse_one(item, run, number)
    return parsed if isinstance(parsed, FileReport) else _record(parsed, run)


def _parse_one(item: InputFile, run: _Run, number: int, in_order: bool = True) -> FileReport | _Parsed | None:
    """Sniff and parse one file, its rows written under ``_tmp`` (a worker's part of the work).

    None when the file must be parsed at its turn in this process (NetFlow, and ``in_order`` false).
    """
    head, head_error = item.read_head()
    source = run.forced or sniff(head, item.name)
    if source is None and head_error is None:
        return FileReport(item.name, "unrecognized", message="format not recognized; use --format to force one")
    name = source.name if source is not None else ""
    if name == "netflow" and not in_order:
        return None
    ctx = ParseContext(item.name, max_consecutive_bad=run.max_consecutive_bad, block_size=run.block_size,
                       json_shape_rows=run.json_shape_rows, json_known_shapes=run.json_known_shapes,
                       auditd_column_events=run.auditd_column_events,
                       parse_workers=run.parse_workers,
                       netflow_templates=run.templates)
    if run.templates.problem and name == "netflow":
        ctx.warn(None, f"stored NetFlow templates could not be read ({run.templates.problem}); starting without them")
        run.templates.problem = None
    before = run.templates.snapshot() if name == "netflow" else None
    writer = FileWriter(run.lake, f"part-{number:06d}", run.ingest_id, item.name, name, run.sensor)
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
    return _Parsed(item.name, item.size, item.mtime_ns, status, message, name, digest.hexdigest(),
                   dict(writer.rows), ctx.warnings, dict(ctx.unsupported), writer, before=before)


def _record(parsed: _Parsed, run: _Run) -> FileReport:
    """Queue a parsed file's commit (at its turn, in this process), or drop it when its content is known."""
    lake, sha256, name = run.lake, parsed.sha256, parsed.source_format
    known = run.pending.get(sha256)
    if known is not None:
        parsed.drop()
        if parsed.before is not None:
            run.templates.restore(parsed.before)  # not recorded: its templates must not count either
        return FileReport(parsed.file, "already ingested", known.source_format,
                          message=f"same content as {known.file}, ingested {known.ingested_at}")
    parsed.detach(run.share_bytes, run.pending.max_rows)
    moves = list(parsed.moves)
    if parsed.warnings:
        moves.append(write_warnings(lake, sha256, run.ingest_id, parsed.file, name, parsed.warnings))
    entry = ManifestEntry(
        sha256=sha256, file=parsed.file, source_format=name, ingest_id=run.ingest_id,
        ingested_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), rows=dict(parsed.rows),
        warnings=len(parsed.warnings), skipped=dict(parsed.unsupported),
        parts=[str(b.relative_to(lake.root)) for _, b in moves], size=parsed.size, mtime_ns=parsed.mtime_ns,
    )
    run.pending.add(entry, moves, parsed.buffers)
    return FileReport(parsed.file, parsed.status, name, dict(parsed.rows), len(parsed.warnings),
                      dict(parsed.unsupported),
                      parsed.message or (parsed.warnings[0].reason if parsed.warnings else ""))


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
