"""auditd records of one block assembled into events column-wise, and the events sorted by what maps them.

:func:`assemble` applies :class:`~winnow.sources.auditd_events.Assembler`'s rule (events keyed by node, time and
serial; complete at their ``EOE``, after ``window`` records checked every ``EXPIRE_EVERY``, or at the end of the file;
userspace records alone) to a whole block with numpy: the records of events still open from earlier blocks go first,
records are grouped by key, and an event ends where its ``EOE`` was or where a check found it older than the window.
What is still open at the end of the block goes back to the assembler as
:class:`~winnow.sources.auditd_records.Record` lists, so the next block, read either way, goes on from there. It
declines (None) a block with any line that is not a plain raw record, a 12-digit time, an event reaching
``MAX_EVENT_RECORDS``, or open ``ausearch -i`` records: such blocks go record by record, warnings and all.

:func:`route` then counts the events no table takes (userspace kinds without a mapping, events without SYSCALL,
SYSCALLs of calls not mapped), hands socket events of the common shape to
:class:`~winnow.sources.auditd_columns.NetColumns` as columns, maps exec events of the common shape with
:func:`~winnow.sources.auditd_exec.exec_rows`, and builds records only for the others (file opens, logons, what those
decline), which :class:`~winnow.sources.auditd_events.Mapper` maps one by one, in the order the assembler would have
completed them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.schema import get_table
from winnow.sources.auditd_events import (
    AUTH_ACTIONS,
    EXEC_CALLS,
    EXPIRE_EVERY,
    FILE_CALLS,
    MAX_EVENT_RECORDS,
    NET_CALLS,
    STANDALONE,
    Assembler,
    skip_label,
)
from winnow.sources.auditd_exec import exec_rows
from winnow.sources.auditd_files import file_rows
from winnow.sources.auditd_logons import logon_rows
from winnow.sources.auditd_records import Record, quick_syscall

_MAPPED = EXEC_CALLS | set(FILE_CALLS) | set(NET_CALLS)


@dataclass
class Block:
    """One block's records (parallel sequences, records of events begun in earlier blocks first) and its complete
    events in completion order: event ``i`` is the records ``rows[start[i]:start[i] + count[i]]``."""

    nodes: tuple[str, ...]
    kinds: tuple[str, ...]
    stamps: tuple[str, ...]
    bodies: tuple[str, ...]
    lines: np.ndarray
    kind_code: np.ndarray
    kind_names: list[str]
    rows: np.ndarray
    start: np.ndarray
    count: np.ndarray

    def records(self, i: int) -> list[Record]:
        """Event ``i`` as records."""
        kinds, stamps, nodes, bodies = self.kinds, self.stamps, self.nodes, self.bodies
        rows = self.rows[self.start[i]:self.start[i] + self.count[i]]
        return [Record(kinds[r], stamps[r], nodes[r] or None, bodies[r], line)
                for r, line in zip(rows.tolist(), self.lines[rows].tolist(), strict=True)]


def assemble(lines: list[tuple[str, ...]], first: int, assembler: Assembler) -> Block | None:
    """The events the block's lines complete, the assembler left with the events still open; None: declined."""
    if not lines:
        return None
    nodes, kinds, stamps, bodies, others = zip(*lines, strict=True)
    n = len(kinds) - (kinds[-1] == "")  # a block ends with a newline: its last "line" is empty
    if n == 0 or any(others) or not all(kinds[:n]):
        return None
    stamp_array = pa.array(stamps[:n], pa.string())
    if pc.any(pc.equal(pc.find_substring(stamp_array, "."), 12)).as_py():
        return None  # a 12-digit time may be out of range: warned about record by record
    # the records of the events still open go first, each at the position of its event's last record
    held = list(assembler.open.values())
    old = [record for records in held for record in records]
    if any(record.interpreted for record in old):
        return None  # ausearch -i records read as such: record by record
    window, seen = assembler.window, assembler.seen
    end = seen + n
    pos = np.concatenate([np.repeat(np.array([assembler.last[key] for key in assembler.open], dtype=np.int64),
                                    [len(records) for records in held]).astype(np.int64),
                          seen + 1 + np.arange(n, dtype=np.int64)])
    nodes = tuple(r.node or "" for r in old) + nodes[:n]
    kinds = tuple(r.kind for r in old) + kinds[:n]
    stamps = tuple(r.stamp for r in old) + stamps[:n]
    bodies = tuple(r.body for r in old) + bodies[:n]
    line = np.concatenate([np.array([r.line for r in old], dtype=np.int64), first + np.arange(n, dtype=np.int64)])
    names = pc.dictionary_encode(pa.array(kinds, pa.string()))
    kind_code = np.asarray(names.indices, dtype=np.int64)
    kind_names = names.dictionary.to_pylist()
    standalone = np.array([k.startswith(STANDALONE) for k in kind_names])[kind_code]
    eoe = np.array([k == "EOE" for k in kind_names])[kind_code]
    keys = pc.dictionary_encode(pc.binary_join_element_wise(pa.array(nodes, pa.string()),
                                                            pa.array(stamps, pa.string()), " "))
    key_code = np.asarray(keys.indices, dtype=np.int64)

    def expiry(last: np.ndarray) -> np.ndarray:
        """The first check that finds an event last touched at ``last`` older than the window."""
        return ((last + window) // EXPIRE_EVERY + 1) * EXPIRE_EVERY

    grouped = np.flatnonzero(~standalone)
    order = grouped[np.argsort(key_code[grouped], kind="stable")]
    gk, gp, ge = key_code[order], pos[order], eoe[order]
    m = len(order)
    first_in = np.ones(m, dtype=bool)
    first_in[1:] = gk[1:] != gk[:-1]
    prev_eoe = np.zeros(m, dtype=bool)
    prev_eoe[1:] = ge[:-1]
    prev_pos = np.zeros(m, dtype=np.int64)
    prev_pos[1:] = gp[:-1]
    # an event ends after its EOE, and where a check between two records found the first older than the window
    starts = first_in | prev_eoe | (expiry(prev_pos) <= gp - 1)
    seg = np.cumsum(starts) - 1
    seg_first = np.flatnonzero(starts)
    seg_end = np.append(seg_first[1:], m)[:len(seg_first)]
    if m and (np.arange(m) - seg_first[seg])[~ge].max(initial=0) >= MAX_EVENT_RECORDS:
        return None  # the record past the limit is warned about in line order: record by record
    ends_eoe = ge[seg_end - 1]
    last_pos = gp[seg_end - 1]
    has_next = np.zeros(len(seg_first), dtype=bool)
    has_next[:-1] = gk[seg_first[1:]] == gk[seg_first[:-1]]
    count = seg_end - seg_first - ends_eoe
    closes = np.where(ends_eoe, last_pos, expiry(last_pos))
    closed = ends_eoe | has_next | (closes <= end)

    # what stays open goes back to the assembler, in the order the events began
    still = np.flatnonzero(~closed)
    block = Block(nodes, kinds, stamps, bodies, line, kind_code, kind_names,
                  np.concatenate([order, np.flatnonzero(standalone)]), seg_first, count)
    opened = [block.records(int(s)) for s in still]
    assembler.open = {(records[0].node, records[0].stamp): records for records in opened}
    assembler.last = dict(zip(assembler.open, last_pos[still].tolist(), strict=True))
    assembler.seen = end

    # complete events (segments, then standalone records) in the order the assembler completes them: at a record
    # its own (EOE, standalone), then those a check finds expired, in the order they began
    lone = np.flatnonzero(standalone)
    done = np.concatenate([closes, pos[lone]])
    flag = np.concatenate([~ends_eoe, np.zeros(len(lone), dtype=bool)])
    began = np.concatenate([line[order[seg_first]], line[lone]])
    start = np.concatenate([seg_first, m + np.arange(len(lone))])
    size = np.concatenate([count, np.ones(len(lone), dtype=np.int64)])
    real = np.flatnonzero(np.concatenate([closed & (count > 0), np.ones(len(lone), dtype=bool)]))
    real = real[np.lexsort((began[real], flag[real], done[real]))]
    block.start, block.count = start[real], size[real]
    return block


@dataclass
class Routed:
    """A block's events by what maps them: counts of unsupported kinds, socket rows to gather, rows mapped column-wise
    by table, records to map one by one."""

    skipped: dict[str, int]
    net: dict[str, np.ndarray]
    tables: dict[str, pa.Table]
    events: Iterator[list[Record]]


def route(block: Block) -> Routed:
    """Sort a block's events: counted as unsupported, socket events as columns, the others as records (lazily)."""
    kind_names, bodies = block.kind_names, block.bodies
    code_of = {k: i for i, k in enumerate(kind_names)}

    def is_kind(*names: str) -> np.ndarray:
        """By kind code: whether the kind is one of ``names``."""
        return np.isin(np.arange(len(kind_names)), [code_of[k] for k in names if k in code_of])

    start, count, rows = block.start, block.count, block.rows
    ends = start + count
    k = block.kind_code[rows]  # kind code of each position of ``rows``

    def per_event(flags: np.ndarray) -> np.ndarray:
        acc = np.concatenate([[0], np.cumsum(flags[k])])
        return acc[ends] - acc[start]

    syscalls = per_event(is_kind("SYSCALL"))
    socks = per_event(is_kind("SOCKADDR"))
    titles = per_event(is_kind("PROCTITLE"))
    execs = per_event(is_kind("EXECVE"))
    net = (syscalls == 1) & (socks == 1) & (((count == 2) & (titles == 0)) | ((count == 3) & (titles == 1)))
    first_kind = k[start]
    alone = (count == 1) & is_kind(*(name for name in kind_names if name.startswith(STANDALONE)))[first_kind]
    auth = alone & is_kind(*AUTH_ACTIONS)[first_kind]
    unsupported = (alone & ~auth) | (~alone & (syscalls == 0))
    skipped: dict[str, int] = {}
    for code, n in zip(*np.unique(first_kind[unsupported], return_counts=True), strict=True):
        label = "auditd " + skip_label(kind_names[code])
        skipped[label] = skipped.get(label, 0) + int(n)
    maybe = ~net & ~unsupported & ~auth & (syscalls == 1)
    started, opened = np.zeros(len(start), dtype=bool), np.zeros(len(start), dtype=bool)
    if maybe.any():
        call_rows = rows[_first_of(k == code_of.get("SYSCALL", -1), start, ends)]
        # exec events of the common shape: one SYSCALL and EXECVE, at most one CWD and PROCTITLE, PATHs
        cwds, paths = per_event(is_kind("CWD")), per_event(is_kind("PATH"))
        shaped = (cwds <= 1) & (titles <= 1) & (count == 1 + execs + cwds + titles + paths)
        for j in np.flatnonzero(maybe).tolist():
            name = quick_syscall(bodies[call_rows[j]])
            if name in EXEC_CALLS and shaped[j] and execs[j] == 1:
                started[j] = True
            elif name in FILE_CALLS and shaped[j] and execs[j] == 0 and paths[j]:
                opened[j] = True
            elif name not in _MAPPED and not (name is None and execs[j]):
                skipped["auditd SYSCALL"] = skipped.get("auditd SYSCALL", 0) + 1
                unsupported[j] = True
    columns = _net_columns(block, np.flatnonzero(net), k, code_of) if net.any() else {}
    tables = {}
    logons = auth.copy()
    for name, chosen, mapping in (("proc.exec", started, _exec_table), ("proc.file", opened, _file_table),
                                  ("auth.logon", logons, _logon_table)):
        if chosen.any():
            table, declined = mapping(block, np.flatnonzero(chosen), k, code_of)
            chosen[np.flatnonzero(chosen)[np.array(declined, dtype=np.int64)]] = False
            if table is not None:
                tables[name] = table
    one_by_one = np.flatnonzero(~net & ~unsupported & ~started & ~opened & ~logons).tolist()
    return Routed(skipped, columns, tables, (block.records(i) for i in one_by_one))


def _first_of(flags: np.ndarray, start: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per event ``[start, ends)`` of the rows array, the index of its first row with ``flags`` (``start`` if none)."""
    where = np.flatnonzero(flags)
    if not len(where):
        return start.copy()
    at = np.searchsorted(where, start)
    found = where[np.minimum(at, len(where) - 1)]
    return np.where((at < len(where)) & (found < ends), found, start)


def _bodies(block: Block, events: np.ndarray, k: np.ndarray, code_of: dict[str, int],
            kinds: tuple[str, ...]) -> tuple[dict[str, list], dict[str, list[str | None]]]:
    """Of each event: its time, node and first line (the event's key and place), and the body of its first record of
    each of ``kinds`` (None when it has none)."""
    start, count, rows = block.start[events], block.count[events], block.rows
    first = rows[start].tolist()
    key = {"stamps": [block.stamps[r] for r in first], "nodes": [block.nodes[r] or None for r in first],
           "lines": block.lines[rows[start]].tolist()}
    bodies = {}
    for kind in kinds:
        code = code_of.get(kind, -1)
        at = _first_of(k == code, start, start + count)
        bodies[kind] = [block.bodies[r] if found else None
                        for r, found in zip(rows[at].tolist(), (k[at] == code).tolist(), strict=True)]
    return key, bodies


def _exec_table(block: Block, events: np.ndarray, k: np.ndarray,
                code_of: dict[str, int]) -> tuple[pa.Table | None, list[int]]:
    """proc.exec rows of exec events of the common shape, and the positions (in ``events``) of those declined."""
    key, bodies = _bodies(block, events, k, code_of, ("SYSCALL", "EXECVE", "CWD", "PROCTITLE"))
    return exec_rows(key["stamps"], key["nodes"], bodies["SYSCALL"], bodies["EXECVE"], bodies["CWD"],
                     bodies["PROCTITLE"], key["lines"], _types("proc.exec"))


def _file_table(block: Block, events: np.ndarray, k: np.ndarray,
                code_of: dict[str, int]) -> tuple[pa.Table | None, list[int]]:
    """proc.file rows of open events of the common shape, and the positions (in ``events``) of those declined."""
    key, bodies = _bodies(block, events, k, code_of, ("SYSCALL", "CWD", "PROCTITLE"))
    start, count = block.start[events], block.count[events]
    where = np.repeat(np.arange(len(events)), count)  # each position of these events' rows: its event
    positions = np.concatenate([np.arange(a, a + n) for a, n in zip(start.tolist(), count.tolist(), strict=True)])
    is_path = k[positions] == code_of["PATH"]
    return file_rows(key["stamps"], key["nodes"], bodies["SYSCALL"], bodies["CWD"], bodies["PROCTITLE"], key["lines"],
                     where[is_path], [block.bodies[r] for r in block.rows[positions[is_path]].tolist()],
                     _types("proc.file"))


def _logon_table(block: Block, events: np.ndarray, k: np.ndarray,
                 code_of: dict[str, int]) -> tuple[pa.Table | None, list[int]]:
    """auth.logon rows of userspace records, and the positions (in ``events``) of those declined."""
    key, _ = _bodies(block, events, k, code_of, ())
    rows = block.rows[block.start[events]].tolist()
    return logon_rows([block.kinds[r] for r in rows], key["stamps"], key["nodes"], [block.bodies[r] for r in rows],
                      key["lines"], _types("auth.logon"))


def _types(table: str) -> dict[str, pa.DataType]:
    return {c.name: c.type for c in get_table(table).columns}


def _net_columns(block: Block, events: np.ndarray, k: np.ndarray, code_of: dict[str, int]) -> dict[str, np.ndarray]:
    """Rows of the SYSCALL, SOCKADDR and PROCTITLE (-1: none) of each socket event, and its first line."""
    start, count, rows = block.start[events], block.count[events], block.rows
    out = {}
    for kind in ("SYSCALL", "SOCKADDR", "PROCTITLE"):
        code = code_of.get(kind, -1)
        at = _first_of(k == code, start, start + count)
        found = k[at] == code
        out[kind] = np.where(found, rows[at], -1)
    out["line"] = block.lines[rows[start]]
    return out
