"""A bounds-checked NetFlow v5 / v9 / IPFIX decoder producing net.conn rows.

Export packets arrive from the network, so every length is checked before it is used: set lengths
(0, shorter than a set header, longer than the packet), template field counts, records that would
run past their set, variable-length fields (RFC 7011 section 7: one length byte, 255 = a two-byte
length follows) and zero-filled tails. A problem becomes a warning through the ``warn`` callback
(the shape of ``ParseContext.warn``) and decoding goes on with the next set or packet.

Templates are kept per (exporter address, version, source id / observation domain, template id)
in a :class:`~winnow.sources.netflow_store.TemplateStore` the owner may share across files and runs;
a refresh replaces the template, IPFIX withdrawals (field count 0) remove it. Data sets that
arrive before their template are held (bounded, oldest dropped first) and decoded when the
template comes; what never meets it is counted per template (:meth:`NetflowDecoder.undecoded`).
Records with no address and no protocol are not connections: counted, not returned
(:meth:`NetflowDecoder.without_endpoints`). NetFlow v5 is decoded as a built-in fixed template, so
all three versions share one record path: ``struct.iter_unpack`` over whole sets for fixed-length
templates, a per-record walk only for templates with variable-length fields (templates and their
field converters live in :mod:`winnow.sources.netflow_template`, output columns in
:mod:`winnow.sources.netflow_columns`).

Sequence numbers are checked per exporter and domain: v5 counts flows, v9 counts export packets,
IPFIX counts data records; a jump forward is a gap (``lost`` counts the missing units), a step
back is counted as reordered.
"""

from __future__ import annotations

import hashlib
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from winnow.sources.netflow_columns import Columns, conn_table
from winnow.sources.netflow_fields import PROTOCOLS
from winnow.sources.netflow_store import TemplateStore
from winnow.sources.netflow_template import COLUMN_ROLES, Template

Warn = Callable[[int | None, str, bytes | str], None]

V5_HEADER = struct.Struct("!HHIIIIBBH")
V9_HEADER = struct.Struct("!HHIIII")
IPFIX_HEADER = struct.Struct("!HHIII")
SET_HEADER = struct.Struct("!HH")
V5_RECORD = 48
V5_MAX_COUNT = 30
#: data sets held while their template is missing, over all exporters
MAX_PENDING = 512
#: templates kept over all exporters; a flood of new template ids beyond this is refused (stored
#: templates not refreshed since the store was last saved make room, oldest first)
MAX_TEMPLATES = 16384
EARLIEST_US, LATEST_US = 631_152_000_000_000, 4_102_444_800_000_000
#: how a message names the exporter of a raw export file (which has no sender address)
UNKNOWN = "(unknown)"
_TIME_UNIT_US = {"ts_s": 1_000_000, "ts_ms": 1_000, "ts_us": 1}



#: the fixed NetFlow v5 record, decoded as a built-in template
V5_TEMPLATE = Template.compile(0, [
    (8, 4, 0), (12, 4, 0), (15, 4, 0), (10, 2, 0), (14, 2, 0), (2, 4, 0), (1, 4, 0), (22, 4, 0), (21, 4, 0),
    (7, 2, 0), (11, 2, 0), (210, 1, 0), (6, 1, 0), (4, 1, 0), (5, 1, 0), (16, 2, 0), (17, 2, 0), (9, 1, 0),
    (13, 1, 0), (210, 2, 0),
])


# ------------------------------------------------------------------------------------------
# decoder state
# ------------------------------------------------------------------------------------------

@dataclass
class Header:
    """What the records of one export message share."""

    version: int
    exporter: str
    domain: int
    export_us: int
    uptime_ms: int | None
    sequence: int
    packet: int


@dataclass
class SequenceStats:
    """Sequence accounting of one exporter and domain; ``lost`` is in the version's unit."""

    unit: str
    packets: int = 0
    records: int = 0
    gaps: int = 0
    lost: int = 0
    reordered: int = 0
    last_records: int = 0
    previous: tuple[int, int, int] | None = None
    modes: list[tuple[str, str]] | None = None

    @property
    def lost_packets(self) -> int:
        """Estimate of lost export packets (exact for v9; for v5/IPFIX assumes the last packet's size)."""
        if self.unit == "packets":
            return self.lost
        return -(-self.lost // self.last_records) if self.last_records else self.lost


@dataclass
class DomainState:
    sys_init_ms: int | None = None
    sampling: int | None = None
    warned_uptime: bool = False


@dataclass
class FeedResult:
    """Outcome of one datagram: ``ok`` False when it could not be read at all."""

    ok: bool
    flows: int = 0
    options: int = 0
    empty: int = 0


class NetflowDecoder:
    """Feed export datagrams; take net.conn tables; read sequence and pending-template state.

    Args:
        max_pending: data sets held for a template that has not arrived yet (oldest dropped).
        max_templates: templates kept over all exporters.
        store: the templates to start from and to keep new ones in (shared across files, ingests
            and collector runs by their owner); a new empty store by default.
    """

    def __init__(self, max_pending: int = MAX_PENDING, max_templates: int = MAX_TEMPLATES,
                 store: TemplateStore | None = None) -> None:
        self.max_pending, self.max_templates = max_pending, max_templates
        self.store = store if store is not None else TemplateStore()
        self.templates: dict[tuple, Template] = self.store.templates
        self.pending: deque[tuple[tuple, bytes, Header, int]] = deque()
        self.pending_dropped = 0
        #: data sets given up for want of a template: key -> [sets, bytes, first packet]
        self.dropped: dict[tuple, list[int]] = {}
        #: flow records without addresses and protocol (not written), by template key, since the last report
        self.empty: dict[tuple, int] = {}
        self.empty_records = 0
        self.sequences: dict[tuple[str, int, int], SequenceStats] = {}
        self.domains: dict[tuple[str, int, int], DomainState] = {}
        self.flows = 0
        self.options = 0
        self._core = Columns()
        self._extra = Columns()

    # -- input ---------------------------------------------------------------------------

    def feed(self, data: bytes, exporter: str = "", packet: int = 0, warn: Warn | None = None) -> FeedResult:
        """Decode one datagram (or several export messages back to back, as a capture to file holds them)."""
        say = _warner(warn, packet, data)
        before_flows, before_options, before_empty = self.flows, self.options, self.empty_records
        off, ok_any, messages = 0, False, 0
        while len(data) - off >= 4:
            version = int.from_bytes(data[off:off + 2], "big")
            if version == 5:
                used = self._v5(data, off, exporter, packet, say)
            elif version == 9:
                used = self._v9(data, off, exporter, packet, say)
            elif version == 10:
                used = self._ipfix(data, off, exporter, packet, say)
            else:
                if messages == 0:
                    say(f"not a NetFlow v5/v9 or IPFIX packet (version {version})")
                elif any(data[off:]):
                    say(f"{len(data) - off} trailing bytes after the export message(s) ignored")
                break
            messages += 1
            if used <= 0:
                break
            ok_any = True
            off += used
        return FeedResult(ok_any, self.flows - before_flows, self.options - before_options,
                          self.empty_records - before_empty)

    def _v5(self, data: bytes, off: int, exporter: str, packet: int, say: Callable[[str], None]) -> int:
        if len(data) - off < V5_HEADER.size:
            say("NetFlow v5 header truncated")
            return 0
        _, count, uptime, secs, nsecs, seq, engine_type, engine_id, sampling = V5_HEADER.unpack_from(data, off)
        if count > V5_MAX_COUNT:
            say(f"NetFlow v5 record count {count} exceeds {V5_MAX_COUNT}")
            return 0
        body = data[off + V5_HEADER.size: off + V5_HEADER.size + count * V5_RECORD]
        if len(body) < count * V5_RECORD:
            say(f"NetFlow v5 packet truncated: {len(body) // V5_RECORD} of {count} records present")
        domain = engine_type << 8 | engine_id
        header = Header(5, exporter, domain, secs * 1_000_000 + nsecs // 1000, uptime, seq, packet)
        self._sequence(header, count, count, "flows")
        interval = sampling & 0x3FFF
        if interval > 1:
            self._domain(header).sampling = interval
        self._data(V5_TEMPLATE, body, header, 0, say)
        return V5_HEADER.size + len(body)

    def _v9(self, data: bytes, off: int, exporter: str, packet: int, say: Callable[[str], None]) -> int:
        if len(data) - off < V9_HEADER.size:
            say("NetFlow v9 header truncated")
            return 0
        _, _, uptime, secs, seq, source_id = V9_HEADER.unpack_from(data, off)
        header = Header(9, exporter, source_id, secs * 1_000_000, uptime, seq, packet)
        self._sequence(header, 1, 1, "packets")
        self._sets(data, off + V9_HEADER.size, len(data), header, say)
        return len(data) - off

    def _ipfix(self, data: bytes, off: int, exporter: str, packet: int, say: Callable[[str], None]) -> int:
        if len(data) - off < IPFIX_HEADER.size:
            say("IPFIX header truncated")
            return 0
        _, length, secs, seq, domain = IPFIX_HEADER.unpack_from(data, off)
        if length < IPFIX_HEADER.size:
            say(f"IPFIX message length {length} is shorter than its header")
            return 0
        end = off + length
        if end > len(data):
            say(f"IPFIX message truncated: {len(data) - off} of {length} bytes present")
            end = len(data)
        header = Header(10, exporter, domain, secs * 1_000_000, None, seq, packet)
        flows_before = self.flows + self.empty_records
        records, complete = self._sets(data, off + IPFIX_HEADER.size, end, header, say)
        flows = self.flows + self.empty_records - flows_before
        self._sequence(header, records if complete else None, flows, "records")
        return end - off

    def _sets(self, data: bytes, off: int, end: int, header: Header, say: Callable[[str], None]) -> tuple[int, bool]:
        """Walk the sets of one message; return (data records seen, whether every set could be counted)."""
        records, complete, number = 0, True, 0
        tpl_set, opt_set = (0, 1) if header.version == 9 else (2, 3)
        while end - off >= SET_HEADER.size:
            set_id, length = SET_HEADER.unpack_from(data, off)
            if length < SET_HEADER.size or off + length > end:
                if set_id == 0 and length == 0 and not any(data[off:end]):
                    break  # a zero-filled tail
                say(f"set {set_id} has length {length}, outside 4..{end - off} bytes left; rest of packet skipped")
                break
            body = data[off + SET_HEADER.size: off + length]
            off += length
            number += 1
            if set_id == tpl_set:
                self._templates(body, header, False, say)
            elif set_id == opt_set:
                self._templates(body, header, True, say)
            elif set_id >= 256:
                n = self._data_set(set_id, body, header, number, say)
                if n is None:
                    complete = False
                else:
                    records += n
            else:
                say(f"set id {set_id} is reserved; set skipped")
        if header.version == 9 and end - off > 0 and any(data[off:end]):
            say(f"{end - off} bytes after the last set ignored")
        return records, complete

    # -- templates ------------------------------------------------------------------------

    def _templates(self, body: bytes, header: Header, options: bool, say: Callable[[str], None]) -> None:
        """Read the template records of one (options) template set."""
        off, end = 0, len(body)
        ipfix = header.version == 10
        while end - off >= 4:
            if not any(body[off:]):
                return  # padding
            tid, count = struct.unpack_from("!HH", body, off)
            off += 4
            scope = 0
            if ipfix and count == 0:
                self._withdraw(header, tid, say)
                continue
            if options:
                if end - off < 2:
                    say(f"options template {tid} cut off")
                    return
                third = int.from_bytes(body[off:off + 2], "big")
                off += 2
                if ipfix:
                    scope = third
                else:  # v9: scope and option lengths in bytes
                    if count % 4 or third % 4:
                        say(f"options template {tid}: scope/option lengths {count}/{third} are not multiples of 4")
                        return
                    scope, count = count // 4, (count + third) // 4
                if scope > count or ipfix and scope == 0:
                    say(f"options template {tid}: {scope} scope fields of {count} is invalid; set skipped")
                    return
            if tid < 256:
                say(f"template id {tid} is below 256; rest of template set skipped")
                return
            if count == 0:
                say(f"template {tid} has no fields; ignored")
                continue
            specs = self._specifiers(body, off, end, tid, count, ipfix, say)
            if specs is None:
                return
            off = specs[1]
            self._install(tid, specs[0], scope, header, say)

    @staticmethod
    def _specifiers(body: bytes, off: int, end: int, tid: int, count: int, ipfix: bool,
                    say: Callable[[str], None]) -> tuple[list[tuple[int, int, int]], int] | None:
        """Read ``count`` field specifiers; return them and the offset after them, or None when cut off."""
        specs = []
        for _ in range(count):
            if end - off < 4:
                say(f"template {tid} claims {count} fields but its set ends after {len(specs)}")
                return None
            eid, length = struct.unpack_from("!HH", body, off)
            off += 4
            pen = 0
            if ipfix and eid & 0x8000:
                if end - off < 4:
                    say(f"template {tid}: enterprise number cut off")
                    return None
                pen = int.from_bytes(body[off:off + 4], "big")
                off += 4
                eid &= 0x7FFF
            specs.append((eid, length, pen))
        return specs, off

    def _install(self, tid: int, specs: list[tuple[int, int, int]], scope: int, header: Header,
                 say: Callable[[str], None]) -> None:
        template = Template.compile(tid, specs, scope)
        if template.min_len == 0:
            say(f"template {tid} describes empty records; ignored")
            return
        if template.min_len > 65535 - 4:
            say(f"template {tid}: records of {template.min_len} bytes cannot fit in any set; ignored")
            return
        key = (header.exporter, header.version, header.domain, tid)
        if key not in self.templates and len(self.templates) >= self.max_templates:
            # the store outlives runs: make room by dropping its oldest template not refreshed since
            # it was last saved; a flood of new ids within one run is still refused
            stale = next((k for k in self.templates if k not in self.store.changed), None)
            if stale is None:
                say(f"more than {self.max_templates} templates; template {tid} ignored")
                return
            self.store.remove(stale)
        self.store.put(key, template)
        self._release(key, say)

    def _withdraw(self, header: Header, tid: int, say: Callable[[str], None]) -> None:
        prefix = (header.exporter, header.version, header.domain)
        if tid in (2, 3):  # withdraw all (options) templates of the domain
            for key in [k for k in self.templates if k[:3] == prefix]:
                self.store.remove(key)
        elif tid >= 256:
            self.store.remove((*prefix, tid))
        else:
            say(f"withdrawal of template id {tid} is invalid")

    # -- data -----------------------------------------------------------------------------

    def _data_set(self, set_id: int, body: bytes, header: Header, number: int,
                  say: Callable[[str], None]) -> int | None:
        key = (header.exporter, header.version, header.domain, set_id)
        template = self.templates.get(key)
        if template is None:
            if len(self.pending) >= self.max_pending:
                old_key, old_body, old_header, _ = self.pending.popleft()
                self.pending_dropped += 1
                count = self.dropped.setdefault(old_key, [0, 0, old_header.packet])
                count[0] += 1
                count[1] += len(old_body)
            self.pending.append((key, body, header, number))
            return None
        return self._data(template, body, header, number, say)

    def _release(self, key: tuple, say: Callable[[str], None]) -> None:
        """Decode held data sets of a template that just arrived."""
        if not any(k == key for k, _, _, _ in self.pending):
            return
        keep: deque = deque()
        for item in self.pending:
            if item[0] == key:
                self._data(self.templates[key], item[1], item[2], item[3], say)
            else:
                keep.append(item)
        self.pending = keep

    def _data(self, template: Template, body: bytes, header: Header, number: int, say: Callable[[str], None]) -> int:
        if len(body) < template.min_len:
            if any(body):
                say(f"set {template.tid}: {len(body)} bytes cannot hold one {template.min_len}-byte record")
            return 0
        columns = template.records(body, say)
        n = len(columns[0]) if columns else 0
        if n == 0:
            return 0
        if template.scope_count:
            self._options(template, columns, header)
            self.options += n
            return n
        keep = _with_endpoint(template, columns, n)
        if keep is not None:
            key = (header.exporter, header.version, header.domain, template.tid)
            self.empty[key] = self.empty.get(key, 0) + n - len(keep)
            self.empty_records += n - len(keep)
            if not keep:
                return n
            columns = [[col[i] for i in keep] for col in columns]
        flows = len(keep) if keep is not None else n
        self._flows(template, columns, flows, header, number, say)
        self.flows += flows
        return n

    def _options(self, template: Template, columns: list[list], header: Header) -> None:
        state = self._domain(header)
        for role in ("sys_init", "sampling"):
            i = template.roles.get(role)
            if i is not None and isinstance(columns[i][-1], int):
                name = "sys_init_ms" if role == "sys_init" else "sampling"
                setattr(state, name, columns[i][-1])
                self.store.set_option((header.exporter, header.version, header.domain), name, columns[i][-1])

    def _flows(self, template: Template, columns: list[list], n: int, header: Header, number: int,
               say: Callable[[str], None]) -> None:
        roles = template.roles
        state = self._domain(header)
        start = _plausible(self._times(template, columns, n, header, state, "start", say))
        end = _plausible(self._times(template, columns, n, header, state, "end", say))
        duration: list = [None] * n
        for role, scale in (("duration_ms", 1e-3), ("duration_us", 1e-6)):
            if role in roles:
                duration = [None if v is None else v * scale for v in columns[roles[role]]]
                break
        for i in range(n):
            s, e = start[i], end[i]
            if s is not None and e is not None:
                duration[i] = (e - s) / 1e6 if e >= s else None
            elif s is None:
                d = duration[i]
                start[i] = e - round(d * 1e6) if e is not None and d is not None else e
        start = [header.export_us if s is None else s for s in start]
        core: dict[str, list] = {"ts": start, "duration": duration}
        for role in COLUMN_ROLES:
            if role in roles:
                core[role] = columns[roles[role]]
        if "proto" in core:
            core["proto"] = [PROTOCOLS.get(p, str(p)) if isinstance(p, int) else None for p in core["proto"]]
        for role in ("src_ip", "dst_ip"):
            if role in core:
                core[role] = [v if isinstance(v, str) and ("." in v or ":" in v) else None for v in core[role]]
        for role in ("src_bytes", "dst_bytes"):
            if role in core:
                core[role.replace("_bytes", "_ip_bytes")] = core[role]
        prefix = f"{header.exporter}|{header.version}|{header.domain}|{header.export_us // 1_000_000}|" \
                 f"{header.sequence}|{number}|"
        core["uid"] = ["N" + hashlib.blake2b(f"{prefix}{i}".encode(), digest_size=8).hexdigest() for i in range(n)]
        core["_line"] = [header.packet] * n
        core["_exporter"] = [header.exporter] * n
        extra: dict[str, list] = {key: columns[i] for key, i in template.extras}
        extra["netflow_version"] = [header.version] * n
        if header.exporter:
            extra["exporter"] = [header.exporter] * n
        extra["observation_domain"] = [header.domain] * n
        if state.sampling:
            extra["sampling_interval"] = [state.sampling] * n
        self._core.add(core, n)
        self._extra.add(extra, n)

    def _times(self, template: Template, columns: list[list], n: int, header: Header, state: DomainState,
               which: str, say: Callable[[str], None]) -> list:
        """Start or end of each record in epoch microseconds (None where the template has no such time)."""
        roles = template.roles
        if which in roles:
            el, length, _ = template.fields[roles[which]]
            values = columns[roles[which]]
            if el.kind == "ts_ns":
                return [v // 1000 if isinstance(v, int) and v > 0 else None for v in values]
            unit = _TIME_UNIT_US[el.kind]
            return [v * unit if isinstance(v, int) and v > 0 else None for v in values]
        if which + "_up" in roles:
            values = columns[roles[which + "_up"]]
            if header.uptime_ms is not None:
                base, up = header.export_us, header.uptime_ms
                # wrap-safe signed difference of two 32-bit millisecond counters
                return [base + (((v - up + 0x80000000) & 0xFFFFFFFF) - 0x80000000) * 1000 for v in values]
            if state.sys_init_ms is not None:
                return [(state.sys_init_ms + v) * 1000 if isinstance(v, int) else None for v in values]
            if not state.warned_uptime:
                state.warned_uptime = True
                say(f"exporter {header.exporter or '?'} domain {header.domain}: flow times are relative to "
                    "system start but no systemInitTimeMilliseconds was received; export time used")
            return [None] * n
        if which + "_delta" in roles:
            return [header.export_us - v if isinstance(v, int) else None for v in columns[roles[which + "_delta"]]]
        return [None] * n

    # -- bookkeeping ------------------------------------------------------------------------

    def _domain(self, header: Header) -> DomainState:
        key = (header.exporter, header.version, header.domain)
        state = self.domains.get(key)
        if state is None:  # starting from what options records of earlier files or runs said
            state = self.domains[key] = DomainState(**self.store.options.get(key, {}))
        return state

    def _sequence(self, header: Header, total: int | None, flows: int, unit: str) -> None:
        """Count a message against the expected sequence number of its exporter and domain.

        ``total`` is the message's increment (v5: flows, v9: 1, IPFIX: data records; None when some
        set could not be counted). RFC 7011 numbers an IPFIX message by the records sent before it;
        some exporters (softflowd) number it by the flow records sent including it, and leave
        options records out. The conventions that fit every pair of consecutive messages so far are
        kept; a gap is measured with the first of them.
        """
        key = (header.exporter, header.version, header.domain)
        stats = self.sequences.get(key)
        if stats is None:
            stats = self.sequences[key] = SequenceStats(unit)
        stats.packets += 1
        if total is None:
            stats.previous = None
            return
        seq = header.sequence
        previous, stats.previous = stats.previous, (seq, total, flows)
        stats.records += total
        if total:
            stats.last_records = total
        if previous is None:
            return
        pseq, ptotal, pflows = previous
        ahead = {
            ("before", "all"): seq - pseq - ptotal, ("before", "flows"): seq - pseq - pflows,
            ("after", "all"): seq - total - pseq, ("after", "flows"): seq - flows - pseq,
        }
        if stats.modes is None:
            stats.modes = list(ahead) if header.version == 10 else [("before", "all")]
        matching = [mode for mode in stats.modes if ahead[mode] & 0xFFFFFFFF == 0]
        if matching:
            stats.modes = matching  # narrow the conventions this exporter may follow
        step = 0 if matching else ahead[stats.modes[0]] & 0xFFFFFFFF
        if step == 0:
            return
        if step < 1 << 31:
            stats.gaps += 1
            stats.lost += step
        else:
            stats.reordered += 1
            stats.previous = previous  # a late message: keep expecting what follows the newest one

    # -- output ---------------------------------------------------------------------------

    @property
    def buffered_rows(self) -> int:
        """Flow rows decoded and not yet taken."""
        return self._core.rows

    def take(self) -> pa.Table | None:
        """The decoded flows as a net.conn batch table (data columns, ``extra``, ``_line``), or None."""
        parts = self._take(split=False)
        return parts[0][1] if parts else None

    def take_by_exporter(self) -> list[tuple[str, pa.Table]]:
        """The decoded flows as one net.conn batch table per exporter address."""
        return self._take(split=True)

    def _take(self, split: bool) -> list[tuple[str, pa.Table]]:
        n = self._core.rows
        if n == 0:
            return []
        core, extra = self._core.data, self._extra.data
        self._core, self._extra = Columns(), Columns()
        table = conn_table(core, extra, n)
        exporters = core["_exporter"]
        if not split or len(set(exporters)) == 1:
            return [(exporters[0], table)]
        import pyarrow.compute as pc

        keys = pa.array(exporters, pa.string())
        return [(e, table.filter(pc.equal(keys, e))) for e in sorted(set(exporters))]

    def pending_sets(self) -> list[tuple[int, int]]:
        """(packet, set id) of data sets still waiting for their template."""
        return [(h.packet, key[3]) for key, _, h, _ in self.pending]

    def undecoded(self, waiting: bool = True) -> list[tuple[str, str]]:
        """(exporter, message) per template whose data sets never met it; they are forgotten.

        With ``waiting`` false only the data sets dropped from the full pending buffer count (the
        held ones may still meet their template). Without its template the records of a data set
        cannot be counted (their length is in the template), so the message counts data sets and bytes.
        """
        counts: dict[tuple, list[int]] = {k: list(v) for k, v in self.dropped.items()}
        for key, body, header, _ in self.pending if waiting else ():
            count = counts.setdefault(key, [0, 0, header.packet])
            count[0] += 1
            count[1] += len(body)
            count[2] = min(count[2], header.packet)
        if waiting:
            self.pending.clear()
        self.dropped.clear()
        order = sorted(counts.items(), key=lambda kv: (kv[1][2], kv[0][3]))  # first packet, template id
        return [(exporter, f"{sets:,} data set{'s' if sets != 1 else ''} ({size:,} bytes) for template {tid} of "
                           f"exporter {exporter or UNKNOWN} domain {domain} had no template: their flows were not "
                           "decoded")
                for (exporter, _, domain, tid), (sets, size, _) in order]

    def without_endpoints(self) -> list[tuple[str, str]]:
        """(exporter, message) per template whose records had no address and no protocol; forgotten after."""
        out = [(exporter, f"{n:,} record{'s' if n != 1 else ''} of template {tid} of exporter {exporter or UNKNOWN} "
                          f"domain {domain} had no address and no protocol: not written as connections")
               for (exporter, _, domain, tid), n in self.empty.items() if n]
        self.empty.clear()
        return out


def _with_endpoint(template: Template, columns: list[list], n: int) -> list[int] | None:
    """Indexes of the records that have an address or a protocol, or None when all of them do."""
    present = [[isinstance(v, str) and ("." in v or ":" in v) for v in columns[template.roles[r]]]
               for r in ("src_ip", "dst_ip") if r in template.roles]
    if "proto" in template.roles:
        present.append([isinstance(v, int) for v in columns[template.roles["proto"]]])
    if not present:
        return []
    keep = [i for i in range(n) if any(p[i] for p in present)]
    return None if len(keep) == n else keep


def _plausible(times: list) -> list:
    """Times (epoch microseconds) outside 1990..2100 become None: garbage, not a flow."""
    return [t if t is not None and EARLIEST_US <= t <= LATEST_US else None for t in times]


def _warner(warn: Warn | None, packet: int, data: bytes) -> Callable[[str], None]:
    if warn is None:
        return lambda reason: None
    return lambda reason: warn(packet, reason, data[:60].hex())


def check_header(data: bytes) -> bool:
    """Cheap test that ``data`` starts with one complete, self-consistent v5/v9/IPFIX export message."""
    if len(data) < 4:
        return False
    version, count = struct.unpack_from("!HH", data)
    if version == 5:
        return 1 <= count <= V5_MAX_COUNT and len(data) >= V5_HEADER.size + count * V5_RECORD
    if version == 9:
        return len(data) >= V9_HEADER.size + 4 and _sets_ok(data, V9_HEADER.size, len(data), (0, 1))
    if version == 10:
        return IPFIX_HEADER.size + 4 <= count <= len(data) and _sets_ok(data, IPFIX_HEADER.size, count, (2, 3))
    return False


def _sets_ok(data: bytes, off: int, end: int, template_ids: tuple[int, int]) -> bool:
    sets = 0
    while end - off >= SET_HEADER.size:
        set_id, length = SET_HEADER.unpack_from(data, off)
        if length < SET_HEADER.size or off + length > end or not (set_id in template_ids or set_id >= 256):
            return sets > 0 and not any(data[off:end])
        off += length
        sets += 1
    return sets > 0 and off == end or sets > 0 and not any(data[off:end])
