"""A NetFlow v5/v9/IPFIX collector over UDP that writes flows straight into the lake.

Two threads: a receiver drains the socket (with a large ``SO_RCVBUF``) into a bounded queue and
counts what it must drop when the queue is full; a decoder feeds a
:class:`~winnow.sources.netflow_decode.NetflowDecoder` and flushes every ``flush_rows`` rows or
``flush_seconds`` seconds. A flush writes one part per exporter through the lake's writer and
commit protocol (``FileWriter`` -> :func:`~winnow.lake.commit.publish`, under the lake lock) with
``source_file`` = ``udp://<listen>/<exporter>``; its manifest key is the SHA-256 of the batch
content, so publishing the same batch twice never duplicates rows. The many small parts this makes
are merged by a :class:`~winnow.lake.compact.Compactor` (``collect.compact_parts`` of one table, day
and level at a time, and what is left at shutdown); a collector restarted on the same address
carries on merging its predecessor's parts. Drops in the kernel's socket buffer are read from
``/proc/net/udp`` (the per-socket ``drops`` counter) where Linux provides it.

v9/IPFIX templates live in the lake's template store (``_state/netflow_templates.json``), shared
with ``winnow ingest`` of captures: the collector starts from it (so a restarted collector decodes
data whose template was sent before the restart), and each flush that met new templates publishes
them merged over the stored ones, in a commit of its own after the flush's parts. Records with no
address and no protocol (options records are never rows; this covers templates without endpoint
fields) are counted in a warning, never written; data sets that never met their template (dropped
from the full pending buffer, or still held at shutdown) are counted in a warning too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import queue
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from winnow.config import current
from winnow.errors import WinnowError
from winnow.lake import FileWriter, Lake, Manifest, ManifestEntry
from winnow.lake.commit import Commit, publish
from winnow.lake.compact import Compactor
from winnow.lake.lock import LakeBusy, lake_lock
from winnow.lake.state import read_state, stage_merged
from winnow.lake.warnings import write_warnings
from winnow.sources.base import ParseContext
from winnow.sources.netflow_decode import NetflowDecoder
from winnow.sources.netflow_store import STATE_NAME, TemplateStore

SOURCE_FORMAT = "netflow"
MAX_DATAGRAM = 65535
#: warnings kept per flush (a hostile sender must not grow memory without bound)
MAX_WARNINGS = 1000


@dataclass
class CollectorStats:
    """Counters of one collector run; ``sequence`` maps exporter/version/domain to its gap accounting."""

    datagrams_received: int = 0
    datagrams_decoded: int = 0
    datagrams_malformed: int = 0
    datagrams_dropped: int = 0
    kernel_drops: int | None = None
    records_decoded: int = 0
    option_records: int = 0
    empty_records: int = 0
    rows_written: int = 0
    flushes: int = 0
    merges: int = 0
    warnings: int = 0
    sequence: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def sequence_lost_packets(self) -> int:
        """Export packets missing by sequence numbers, over all exporters."""
        return sum(s["lost_packets"] for s in self.sequence.values())

    def lines(self) -> list[str]:
        """A human summary, one counter per line."""
        out = [f"datagrams received {self.datagrams_received:,}, decoded {self.datagrams_decoded:,}, "
               f"malformed {self.datagrams_malformed:,}, dropped (buffer full) {self.datagrams_dropped:,}, "
               f"dropped by the kernel {'n/a' if self.kernel_drops is None else f'{self.kernel_drops:,}'}",
               f"flow records {self.records_decoded:,} (+{self.option_records:,} options records, "
               f"{self.empty_records:,} records without addresses or protocol not written), "
               f"rows written {self.rows_written:,} in {self.flushes} flushes ({self.merges} part merges), "
               f"{self.warnings:,} warnings"]
        for key, s in sorted(self.sequence.items()):
            out.append(f"exporter {key}: {s['packets']:,} packets, {s['gaps']:,} sequence gaps, "
                       f"{s['lost']:,} {s['unit']} lost (~{s['lost_packets']:,} packets), {s['reordered']:,} reordered")
        return out


class NetflowCollector:
    """Receive export datagrams on ``listen`` and write their flows into ``lake``.

    Args:
        listen: ``(host, port)``; port 0 picks a free one (see :attr:`address`).
        lake: lake folder (created if missing).
        flush_rows: rows decoded after which a flush happens (default: ``collect.flush_rows``).
        flush_seconds: longest time rows wait before a flush (default: ``collect.flush_seconds``).
        max_buffer: datagrams queued between receiver and decoder; more are dropped and counted
            (default: ``collect.max_buffer``).
        rcvbuf: requested kernel socket buffer in bytes (default: ``collect.rcvbuf``).
        sensor: sensor name for the rows.
    """

    def __init__(self, listen: tuple[str, int], lake: str | Path, flush_rows: int | None = None,
                 flush_seconds: float | None = None, max_buffer: int | None = None, rcvbuf: int | None = None,
                 sensor: str | None = None) -> None:
        config = current()
        flush_rows = config.get("collect.flush_rows") if flush_rows is None else flush_rows
        flush_seconds = config.get("collect.flush_seconds") if flush_seconds is None else flush_seconds
        max_buffer = config.get("collect.max_buffer") if max_buffer is None else max_buffer
        rcvbuf = config.get("collect.rcvbuf") if rcvbuf is None else rcvbuf
        self.lake = Lake.open(lake, create=True)
        self.flush_rows, self.flush_seconds, self.sensor = flush_rows, flush_seconds, sensor
        family = socket.AF_INET6 if ":" in listen[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        try:
            self.sock.bind(listen)
        except OSError as exc:
            self.sock.close()
            raise WinnowError(f"cannot listen on {listen[0]}:{listen[1]}: {exc.strerror or exc}") from None
        self.sock.settimeout(0.2)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self.stats = CollectorStats()
        self.queue: queue.Queue = queue.Queue(maxsize=max_buffer)
        self.decoder = NetflowDecoder(store=TemplateStore.from_state(read_state(self.lake, STATE_NAME)))
        self.ingest_id = "collect-" + dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]
        self.compactor = Compactor(self.lake, self.ingest_id, config.get("collect.compact_parts"),
                                   config.get("collect.compact_bytes"))
        self._stop = threading.Event()
        self._received_all = threading.Event()
        self._unwritten: list[pa.Table] = []
        self._threads: list[threading.Thread] = []
        self._exporters: dict[str, ParseContext] = {}
        self._flush_no = 0
        self._last_flush = time.monotonic()
        self._inode = os.fstat(self.sock.fileno()).st_ino
        self._drops_at_start = _socket_drops(self._inode)

    @property
    def source_prefix(self) -> str:
        host, port = self.address
        return f"udp://{'[' + host + ']' if ':' in host else host}:{port}"

    # -- threads ----------------------------------------------------------------------------

    def start(self) -> NetflowCollector:
        """Start receiving and decoding in background threads (recovering a killed writer's work first)."""
        with lake_lock(self.lake):
            mine = self.source_prefix + "/"  # parts a collector on this address left unmerged
            for entry in Manifest(self.lake).entries().values():
                if entry.file.startswith(mine):
                    for part in entry.parts:
                        self.compactor.add(part)
        for target, name in ((self._receive, "winnow-netflow-recv"), (self._decode, "winnow-netflow-decode")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> CollectorStats:
        """Stop receiving, decode what is queued, flush everything and return the counters."""
        self._stop.set()
        for thread in self._threads:
            thread.join()  # the receiver first: it drains the socket, then the decoder empties the queue
            self._received_all.set()
        self._threads.clear()
        self._flush(final=True)
        self.stats.kernel_drops = self._kernel_drops()
        self.sock.close()
        return self.stats

    def run(self, duration: float | None = None, stop: threading.Event | None = None) -> CollectorStats:
        """Collect until ``duration`` seconds pass or ``stop`` is set, then flush and return the counters."""
        self.start()
        deadline = None if duration is None else time.monotonic() + duration
        stop = stop or threading.Event()
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            stop.wait(0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic())))
        return self.stop()

    def _receive(self) -> None:
        recv, put = self.sock.recvfrom, self.queue.put_nowait
        stats = self.stats

        def accept(data: bytes, addr: tuple) -> None:
            stats.datagrams_received += 1
            try:
                put((data, addr[0]))
            except queue.Full:
                stats.datagrams_dropped += 1

        while not self._stop.is_set():
            try:
                data, addr = recv(MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                break
            accept(data, addr)
        # drain what the kernel already holds so a stop loses nothing that arrived
        self.sock.setblocking(False)
        while True:
            try:
                data, addr = recv(MAX_DATAGRAM)
            except (BlockingIOError, OSError):
                break
            accept(data, addr)

    def _decode(self) -> None:
        get = self.queue.get
        while True:
            try:
                data, exporter = get(timeout=0.1)
            except queue.Empty:
                if self._received_all.is_set():
                    return
                self._maybe_flush()
                continue
            self._feed(data, exporter)
            self._maybe_flush()

    def _feed(self, data: bytes, exporter: str) -> None:
        ctx = self._exporters.get(exporter)
        if ctx is None:
            ctx = self._exporters[exporter] = ParseContext(f"{self.source_prefix}/{exporter}",
                                                           max_consecutive_bad=1 << 62)
        warn = ctx.warn if len(ctx.warnings) < MAX_WARNINGS else None
        number = self.stats.datagrams_decoded + self.stats.datagrams_malformed + 1
        result = self.decoder.feed(data, exporter, number, warn)
        if result.ok:
            self.stats.datagrams_decoded += 1
        else:
            self.stats.datagrams_malformed += 1
        self.stats.records_decoded += result.flows
        self.stats.option_records += result.options
        self.stats.empty_records += result.empty

    def _maybe_flush(self) -> None:
        if self.decoder.buffered_rows >= self.flush_rows or \
                time.monotonic() - self._last_flush >= self.flush_seconds:
            self._flush()

    # -- lake ---------------------------------------------------------------------------------

    def _flush(self, final: bool = False) -> None:
        """Write the decoded rows, one part per exporter, and merge parts that are due.

        When the lake is busy the rows are kept for the next try (at the final flush: an error).
        """
        self._last_flush = time.monotonic()
        self._update_sequence()
        self._unwritten.extend(self.decoder.take_by_exporter())
        self._report_undecoded(final)
        contexts = {e: c for e, c in self._exporters.items() if c.warnings}
        news = bool(self._unwritten or contexts)
        if not news and not final:
            return
        parts: dict[str, list[pa.Table]] = {}
        for exporter, table in self._unwritten:
            parts.setdefault(exporter, []).append(table)
        try:
            with lake_lock(self.lake):
                manifest = Manifest(self.lake)
                for exporter in sorted(set(parts) | set(contexts)):
                    tables = parts.get(exporter)
                    part = pa.concat_tables(tables) if tables else None
                    self._publish(exporter, part, manifest, self._exporters.get(exporter))
                self._unwritten = []
                publish(self.lake, Commit(moves=stage_merged(self.lake, self.ingest_id, STATE_NAME,
                                                             self.decoder.store)), manifest)
                self.stats.flushes += int(news)
                self.stats.merges += self.compactor.compact(manifest, final)
        except LakeBusy:
            if final:
                raise

    def _publish(self, exporter: str, part: pa.Table | None, manifest: Manifest, ctx: ParseContext | None) -> None:
        source_file = f"{self.source_prefix}/{exporter}"
        digest = hashlib.sha256(source_file.encode())
        if part is not None:
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, part.schema) as writer:
                writer.write_table(part)
            digest.update(sink.getvalue())
        if ctx is not None:
            for w in ctx.warnings:
                digest.update(f"{w.line}|{w.reason}|{w.snippet}".encode())
        sha256 = digest.hexdigest()
        if sha256 in manifest:
            if ctx is not None:
                ctx.warnings.clear()
            return
        self._flush_no += 1
        writer = FileWriter(self.lake, f"part-{self._flush_no:06d}", self.ingest_id, source_file, SOURCE_FORMAT,
                            self.sensor)
        if part is not None:
            writer.write("net.conn", part)
        moves = writer.close(sha256)
        warnings = 0
        if ctx is not None and ctx.warnings:
            warnings = len(ctx.warnings)
            moves.append(write_warnings(self.lake, sha256, self.ingest_id, source_file, SOURCE_FORMAT, ctx.warnings))
            ctx.warnings.clear()
        entry = ManifestEntry(
            sha256=sha256, file=source_file, source_format=SOURCE_FORMAT, ingest_id=self.ingest_id,
            ingested_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), rows=dict(writer.rows),
            warnings=warnings, parts=[str(b.relative_to(self.lake.root)) for _, b in moves],
        )
        publish(self.lake, Commit(moves=moves, entries=[entry]), manifest)
        for published in entry.parts:
            self.compactor.add(published)
        self.stats.rows_written += writer.rows.get("net.conn", 0)
        self.stats.warnings += warnings

    def _report_undecoded(self, final: bool) -> None:
        """Warn, per exporter, about records without endpoints and data sets that never met their template
        (dropped from the full pending buffer; at shutdown also those still held)."""
        for exporter, message in self.decoder.without_endpoints() + self.decoder.undecoded(waiting=final):
            ctx = self._exporters.get(exporter)
            if ctx is None:
                ctx = self._exporters[exporter] = ParseContext(f"{self.source_prefix}/{exporter}",
                                                               max_consecutive_bad=1 << 62)
            if len(ctx.warnings) < MAX_WARNINGS:
                ctx.warn(None, message)

    def _update_sequence(self) -> None:
        self.stats.sequence = {
            f"{exporter}/v{version}/{domain}": {
                "unit": s.unit, "packets": s.packets, "gaps": s.gaps, "lost": s.lost,
                "lost_packets": s.lost_packets, "reordered": s.reordered,
            }
            for (exporter, version, domain), s in self.decoder.sequences.items()
        }

    def _kernel_drops(self) -> int | None:
        now = _socket_drops(self._inode)
        return None if now is None or self._drops_at_start is None else now - self._drops_at_start


def _socket_drops(inode: int) -> int | None:
    """The kernel's drop counter of the UDP socket with this inode (Linux ``/proc/net/udp[6]``), or None."""
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(name, encoding="ascii") as fh:
                next(fh, None)
                for line in fh:
                    parts = line.split()
                    if len(parts) >= 13 and parts[9] == str(inode):
                        return int(parts[-1])
        except OSError:
            continue
    return None
