"""Linux auditd logs (``/var/log/audit/audit.log``): process starts, socket calls and PAM/login/sudo records.

Reads raw, ``log_format=ENRICHED`` and ``ausearch -i`` text (see :mod:`winnow.sources.auditd_records`),
assembles multi-record events (:mod:`winnow.sources.auditd_events` documents the rule; blocks of plain raw records
are assembled column-wise by :mod:`winnow.sources.auditd_blocks`, socket and exec events mapped column-wise by
:mod:`winnow.sources.auditd_columns` and :mod:`winnow.sources.auditd_exec`, with the same rows) and maps:

* ``execve``/``execveat`` SYSCALL + EXECVE/CWD/PATH/PROCTITLE -> ``proc.exec`` (action ``start``):
  ``image`` is ``exe`` (else PATH item 0), ``command_line`` the decoded EXECVE arguments joined by spaces
  (else the PROCTITLE), ``user`` the enriched ``UID`` name or the uid number as text, ``logon_id`` the
  audit session (``ses``), ``record_id`` the serial, and ``process_guid`` = ``"{node}:{pid}:{seconds.millis}"``
  (node empty when the log has none): one id per exec, since an exec starts a new image in the same pid.
  Failed execs (``success=no``) start nothing: they are counted as unsupported, not written.
* ``connect``/``accept``/``accept4``/``bind`` SYSCALL + SOCKADDR -> ``proc.net``. ``connect`` is outbound
  and its address is the destination; ``accept`` is inbound and its address is the peer (``src_*``);
  ``bind`` has no direction and its (local) address goes to ``dst_*``. ``success`` is ``success=yes``, and
  also a non-blocking connect's ``EINPROGRESS`` (exit -115): the kernel started the handshake, which is
  what a hunter wants to see (go-libaudit calls that a failure). ``proto`` is unknown to auditd (null).
  Unix sockets are kept (``family`` unix, null addresses, the path in ``extra.path``); netlink, AF_UNSPEC
  and other families are counted as unsupported. Syscall numbers are read per ``arch`` (x86_64, i386
  incl. ``socketcall``, aarch64) or taken from the enriched ``SYSCALL=`` name.
* ``open``/``openat``/``openat2``/``creat`` SYSCALL + PATH -> ``proc.file`` (action ``open``, or ``create`` for
  creat and a PATH of nametype CREATE): what a watch rule (``-w /etc/shadow -p r``) logs. One row per
  PATH item that names the file (PARENT items are left out); a relative name is joined to the CWD.
  Denied opens are kept (``extra.success`` ``no``, ``extra.exit`` the error): an attempt is evidence.
* USER_AUTH (``credential_validation``), USER_LOGIN / USER_ERR (``logon``), USER_LOGOUT (``logoff``),
  USER_START / USER_END (``session_open`` / ``session_close``), CRED_ACQ (``setcred``) and USER_CMD
  (``sudo``) -> ``auth.logon``: ``user`` = ``acct`` (else ``id``), ``outcome`` from ``res``, ``src_ip`` =
  ``addr`` when it is an address, ``process`` = basename of ``exe``, ``logon_type`` ssh/sudo/su/cron/console,
  ``method`` when ``op`` names one (``pam`` for PAM stack calls), ``subject_user`` the audit uid (``auid``).

``host`` is the ``node=`` prefix when present, else null. ``auid``/``ses`` of 4294967295 (unset) are null.
Fields without a column go to ``extra`` (JSON text). Other events are counted per kind in ``skipped``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from operator import methodcaller
from typing import BinaryIO, ClassVar

import pyarrow as pa

from winnow.schema import get_table
from winnow.sources.auditd_blocks import assemble, route
from winnow.sources.auditd_columns import NetColumns
from winnow.sources.auditd_events import WINDOW, Assembler, Mapper, line_events, read_lines
from winnow.sources.auditd_records import Record
from winnow.sources.base import AbandonFile, Batch, ParseContext, Source
from winnow.sources.blocks import collection_paused
from winnow.sources.registry import register

BATCH_ROWS = 16_384
_SNIFF = re.compile(
    rb"(?:node=\S* )?type=[A-Z0-9_\[\]]+ msg=audit\((?:\d+\.\d+:\d+\):|\d\d/\d\d/\d{4} [\d:.]+:\d+\) :)"
)
_TS = pa.timestamp("us", tz="UTC")
#: ``json.dumps(.., ensure_ascii=False, separators=(",", ":"))`` with the encoder built once, not per call
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class Rows:
    """Column buffers for one table; :meth:`batch` turns them into a :class:`Batch` and empties them."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.types = {c.name: c.type for c in get_table(table).columns}
        self._reset()

    def _reset(self) -> None:
        self.rows: list[dict] = []
        self.extra: list[str | None] = []
        self.lines: list[int] = []

    def __len__(self) -> int:
        return len(self.lines)

    def add(self, values: dict, extra: dict, line: int) -> None:
        """Append one row: column values by name (others null), extra fields (None values dropped)."""
        self.rows.append(values)
        kept = {k: v for k, v in extra.items() if v is not None}
        self.extra.append(_compact(kept) if kept else None)
        self.lines.append(line)

    def batch(self) -> Batch | None:
        """The buffered rows as a batch (only the columns some row set), or None when empty."""
        if not self.lines:
            return None
        used: set[str] = set()
        for row in self.rows:
            used.update(row)
        out: dict[str, pa.Array] = {}
        for name, kind in self.types.items():
            if name not in used:
                continue
            values = list(map(methodcaller("get", name), self.rows))
            out[name] = pa.array(values, pa.int64()).cast(_TS) if kind == _TS else pa.array(values, kind)
        out["extra"] = pa.array(self.extra, pa.string())
        out["_line"] = pa.array(self.lines, pa.int64())
        self._reset()
        return Batch(self.table, pa.table(out))


@register
class Auditd(Source):
    name: ClassVar[str] = "auditd"
    description: ClassVar[str] = (
        "Linux auditd audit.log (raw, enriched or ausearch -i text): execve, connect/accept/bind, watched file "
        "opens, PAM logins"
    )
    tables: ClassVar[tuple[str, ...]] = ("proc.exec", "proc.net", "proc.file", "auth.logon")

    def __init__(self, window: int = WINDOW) -> None:
        """Args:
            window: records read after an event's last record (with no EOE) before it is taken as complete.
        """
        self.window = window

    def sniff(self, head: bytes, filename: str) -> bool:
        for line in head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n")[:5]:
            if line.strip() in (b"", b"----") or line.startswith(b"time->"):
                continue
            return _SNIFF.match(line) is not None
        return False

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[Batch]:
        """Blocks of plain raw records are assembled column-wise (:mod:`winnow.sources.auditd_blocks`) and their socket
        events of the common shape mapped column-wise (:mod:`winnow.sources.auditd_columns`), in batches of
        ``ctx.auditd_column_events``; with 0 every record is assembled and every event mapped one by one."""
        rows = {table: Rows(table) for table in self.tables}
        mapper = Mapper(ctx, lambda table, values, extra, line: rows[table].add(values, extra, line))
        gather = ctx.auditd_column_events or 0
        net = NetColumns(mapper) if gather > 0 else None

        def one_by_one(events: Iterable[list[Record]]) -> None:
            for event in events:
                if net is None or not net.take(event):
                    mapper.add(event)

        assembler = Assembler(ctx, self.window)
        mapped: dict[str, list[pa.Table]] = {}  # rows mapped column-wise, by table
        abandon = None
        try:
            blocks = read_lines(stream, ctx)
            while True:
                with collection_paused():
                    lines, first = next(blocks, (None, 0))
                    if lines is None:
                        break
                    block = assemble(lines, first, assembler) if net is not None else None
                    if block is None:
                        one_by_one(line_events(assembler, lines, first))
                    else:
                        routed = route(block)
                        for label, count in routed.skipped.items():
                            ctx.skip_unsupported(label, count)
                        if routed.net:
                            net.extend(block.nodes, block.stamps, block.bodies, block.lines, routed.net)
                        for table, data in routed.tables.items():
                            mapped.setdefault(table, []).append(data)
                        one_by_one(routed.events)
                    del lines, block
                if net is not None and len(net) >= gather:
                    yield from _columns(net)
                yield from _mapped(mapped, full_only=True)
                yield from _flush(rows, full_only=True)
            one_by_one(assembler.drain())
        except AbandonFile as exc:
            abandon = exc
        if net is not None:
            yield from _columns(net)
        yield from _mapped(mapped, full_only=False)
        yield from _flush(rows, full_only=False)
        if abandon is not None:
            raise abandon  # after the rows read before the run of bad lines


def _columns(net: NetColumns) -> Iterator[Batch]:
    batch = net.batch()
    if batch is not None:
        yield batch


def _mapped(mapped: dict[str, list[pa.Table]], full_only: bool) -> Iterator[Batch]:
    for table, parts in mapped.items():
        if parts and (not full_only or sum(len(part) for part in parts) >= BATCH_ROWS):
            yield Batch(table, pa.concat_tables(parts, promote_options="default"))  # columns some blocks lack: null
            parts.clear()


def _flush(rows: dict[str, Rows], full_only: bool) -> Iterator[Batch]:
    for buffer in rows.values():
        if not full_only or len(buffer) >= BATCH_ROWS:
            batch = buffer.batch()
            if batch is not None:
                yield batch
