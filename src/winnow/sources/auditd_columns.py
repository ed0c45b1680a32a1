"""auditd socket events column-wise: ``connect``/``accept``/``bind`` SYSCALL + SOCKADDR (+ PROCTITLE) -> ``proc.net``.

Most events of a busy host are socket calls of three records. :class:`NetColumns` gathers such events (as records
from :mod:`winnow.sources.auditd_events`, or as columns from :mod:`winnow.sources.auditd_blocks`, both under the same
assembly rule) and maps a batch of them with Arrow kernels instead of one dict per event; the per-value decoding (hex
strings, socket addresses, ids) runs the record-by-record functions once per distinct value, so it decodes exactly as
they do. The columns every SYSCALL-based row shares (:func:`process_columns`, :func:`process_extra`) serve
:mod:`winnow.sources.auditd_exec` too.

The ``key=value`` fields of a SYSCALL body are read with RE2, which has no look-behind: a body is taken only when
it is a plain run of ``key=value`` tokens (printable ASCII, values quoted without ``=`` or unquoted without quotes,
``=``, braces or ``'``), where a key can only start a token and the last of a repeated key wins as in
:func:`~winnow.sources.auditd_records.fields`. Bodies of the kernel's own layout are read by one pattern
(:data:`_TEMPLATE`), the other plain ones split into tokens (:func:`plain_fields`). Any other event (enriched or
``ausearch -i`` text, i386 ``socketcall``, a SOCKADDR that is not plain hex, a family the table does not take, an exec
or open with these records) goes to :class:`~winnow.sources.auditd_events.Mapper` one by one: same rows, warnings and
counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from itertools import permutations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.schema import get_table
from winnow.sources.auditd_events import EINPROGRESS, NET_CALLS, Mapper
from winnow.sources.auditd_records import (
    ARCHES,
    SYSCALLS,
    UNSET,
    Record,
    exit_code,
    first_field,
    number,
    proctitle,
    sockaddr,
    text,
)
from winnow.sources.base import Batch
from winnow.sources.coerce import per_value

_S, _I = pa.string(), pa.int64()
_TS = pa.timestamp("us", tz="UTC")
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
#: the record kinds (in any order) of the events taken column-wise
SHAPES = frozenset(permutations(("SYSCALL", "SOCKADDR"))) | frozenset(
    permutations(("SYSCALL", "SOCKADDR", "PROCTITLE")))
STAMP = r"^(?P<s>[0-9]+)\.(?P<f>[0-9]+):(?P<n>[0-9]+)$"
_KEY = r"[A-Za-z_][A-Za-z0-9_.\-\[\]]*"
#: a value: printable ASCII without space, ``=`` or ``"`` quoted, or unquoted and without ``'`` or braces either
_VALUE = r'(?:"[\x21\x23-\x3c\x3e-\x7e]*"|[\x21\x23-\x26\x28-\x3c\x3e-\x7a\x7c\x7e]*)'
PLAIN_BODY = rf"^ *(?:{_KEY}={_VALUE}(?: +{_KEY}={_VALUE})*)? *$"
#: SYSCALL fields read for a proc.net row
_WANTED = ("success", "exit", "ppid", "pid", "auid", "uid", "gid", "euid", "comm", "exe", "tty", "key")
#: the kernel's own SYSCALL layout, every value plain: one pass of RE2 reads the wanted fields of such a body (no key
#: can repeat and each value is one token, so they are what :func:`plain_fields` would find)
_LAYOUT = ("arch syscall success exit a0 a1 a2 a3 items ppid pid auid uid gid euid suid fsuid egid sgid fsgid tty "
           "ses comm exe subj? key").split()
#: the fields of that layout captured (those proc.net and proc.exec rows read)
_CAPTURED = frozenset(_WANTED) | {"ses"}
_TEMPLATE = "^" + " ".join(
    f"(?: {k[:-1]}={_VALUE})?" if k.endswith("?") else f"{k}=(?P<{k}>[A-Za-z0-9_]+)" if k in ("arch", "syscall")
    else f"{k}=(?P<{k}>{_VALUE})" if k in _CAPTURED else f"{k}={_VALUE}"
    for k in _LAYOUT).replace(" (?: ", "(?: ") + "$"
#: enriched keys the record-by-record code reads before their raw twins
_ENRICHED = r"(?:^| )(?:UID|AUID|ARCH|SYSCALL)="
_SYSCALL_ID = r"(?:^| )arch=(?P<arch>[A-Za-z0-9_]+) syscall=(?P<number>[A-Za-z0-9_]+)(?: |$)"
_SADDR = r"^saddr=(?P<v>[0-9A-F]+)$"
_TITLE = r'^proctitle=(?P<v>"[\x20\x21\x23-\x7e]*"|[0-9A-F]*)$'
_FAMILIES = ("inet", "inet6", "unix")


#: what is kept of a gathered socket event: the SYSCALL's body, time, node and line, the SOCKADDR's and PROCTITLE's
#: bodies and lines (None without PROCTITLE), and the line of its first record
PARTS = ("call", "stamp", "node", "call_line", "addr", "addr_line", "title", "title_line", "line")


class NetColumns:
    """Socket events gathered by :meth:`take` (as records) or :meth:`extend` (as columns), mapped by :meth:`batch`."""

    def __init__(self, mapper: Mapper) -> None:
        self.mapper = mapper
        self.parts: dict[str, list] = {name: [] for name in PARTS}
        self.types = {c.name: c.type for c in get_table("proc.net").columns}

    def __len__(self) -> int:
        return len(self.parts["line"])

    def take(self, event: list[Record]) -> bool:
        """Keep an event of the column-wise shape (True); False: the caller maps it record by record."""
        if len(event) not in (2, 3) or tuple(r.kind for r in event) not in SHAPES or any(r.interpreted for r in event):
            return False
        title = None
        for record in event:
            if record.kind == "SYSCALL":
                call = record
            elif record.kind == "SOCKADDR":
                addr = record
            else:
                title = record
        for name, value in zip(PARTS, (call.body, call.stamp, call.node, call.line, addr.body, addr.line,
                                       None if title is None else title.body, None if title is None else title.line,
                                       event[0].line), strict=True):
            self.parts[name].append(value)
        return True

    def extend(self, nodes: tuple[str, ...], stamps: tuple[str, ...], bodies: tuple[str, ...], lines: np.ndarray,
               rows: dict[str, np.ndarray]) -> None:
        """Keep socket events given as the rows of their SYSCALL, SOCKADDR and PROCTITLE (-1: none) and first line."""
        calls, addrs, titles = (rows[kind].tolist() for kind in ("SYSCALL", "SOCKADDR", "PROCTITLE"))
        parts = self.parts
        parts["call"] += [bodies[r] for r in calls]
        parts["stamp"] += [stamps[r] for r in calls]
        parts["node"] += [nodes[r] or None for r in calls]
        parts["call_line"] += lines[rows["SYSCALL"]].tolist()
        parts["addr"] += [bodies[r] for r in addrs]
        parts["addr_line"] += lines[rows["SOCKADDR"]].tolist()
        parts["title"] += [None if r < 0 else bodies[r] for r in titles]
        parts["title_line"] += [None if r < 0 else int(lines[r]) for r in titles]
        parts["line"] += rows["line"].tolist()

    def batch(self) -> Batch | None:
        """The gathered events' proc.net rows (None when none); events declined are mapped one by one."""
        parts, self.parts = self.parts, {name: [] for name in PARTS}
        if not parts["line"]:
            return None
        table, declined = net_rows(parts, self.types)
        for i in declined:
            self.mapper.add(_event(parts, i))
        return None if table is None else Batch("proc.net", table)


def _event(parts: dict[str, list], i: int) -> list[Record]:
    """Gathered event ``i`` as records, in file order."""
    stamp, node = parts["stamp"][i], parts["node"][i]
    records = [Record("SYSCALL", stamp, node, parts["call"][i], parts["call_line"][i]),
               Record("SOCKADDR", stamp, node, parts["addr"][i], parts["addr_line"][i])]
    if parts["title"][i] is not None:
        records.append(Record("PROCTITLE", stamp, node, parts["title"][i], parts["title_line"][i]))
    return sorted(records, key=lambda r: r.line)


def net_rows(parts: dict[str, list], types: dict[str, pa.DataType]) -> tuple[pa.Table | None, list[int]]:
    """The proc.net rows of the events gathered (:data:`PARTS`), and the indexes of the events to map one by one."""
    stamps = pa.array(parts["stamp"], _S)
    ok, found, arch, name = read_syscalls(pa.array(parts["call"], _S), stamps, _WANTED, NET_CALLS)
    raw_addr = pc.struct_field(pc.extract_regex(pa.array(parts["addr"], _S), _SADDR), "v")
    family = per_value(raw_addr, lambda v: _addr(v, "family"), _S)
    ok = pc.and_(ok, pc.is_in(family, pa.array(_FAMILIES)))
    title_body = pa.array(parts["title"], _S)
    raw_title = pc.struct_field(pc.extract_regex(title_body, _TITLE), "v")
    ok = pc.and_(ok, pc.or_(pc.is_null(title_body), pc.is_valid(raw_title)))
    take, declined = kept(ok)
    if take is None:
        return None, declined
    found = {key: values.take(take) for key, values in found.items()}
    arch, name, raw_addr, raw_title, stamps = (a.take(take) for a in (arch, name, raw_addr, raw_title, stamps))
    return _table(stamps, pa.array(parts["node"], _S).take(take), found, arch, name, raw_addr, raw_title,
                  pa.array(parts["line"], _I).take(take), types), declined


def kept(ok: pa.Array) -> tuple[pa.Array | None, list[int]]:
    """The positions of the events a column-wise map takes (None: none) and of those it declines (they go
    record by record): ``ok`` true, or null or false."""
    keep = np.asarray(ok.fill_null(False), dtype=bool)
    declined = np.flatnonzero(~keep).tolist()
    return (pa.array(np.flatnonzero(keep), pa.int64()) if keep.any() else None), declined


def read_syscalls(body: pa.Array, stamps: pa.Array, keys: tuple[str, ...],
                  calls: Iterable[str]) -> tuple[pa.Array, dict[str, pa.Array], pa.Array, pa.Array]:
    """Which SYSCALL records can be mapped column-wise (fields read as :func:`syscall_fields` does, a time of the
    raw form, a call among ``calls``), the values of ``keys``, ``arch`` and the call's name."""
    ok, found, arch, numbers = syscall_fields(body, keys)
    ok = pc.and_(ok, pc.match_substring_regex(stamps, STAMP))
    name = per_value(pc.binary_join_element_wise(arch, numbers, " "), call_name, _S)
    return pc.and_(ok, pc.is_in(name, pa.array(sorted(calls)))), found, arch, name


def syscall_fields(body: pa.Array, keys: tuple[str, ...]) -> tuple[pa.Array, dict[str, pa.Array], pa.Array, pa.Array]:
    """Which SYSCALL bodies can be read column-wise, the values of ``keys`` (null when absent), ``arch``, ``syscall``.

    Bodies of the kernel's layout (:data:`_TEMPLATE`) are read in one pass; the others are split into tokens
    (:func:`plain_fields`) when they are a plain run of ``key=value`` tokens without enriched keys, and declined
    (False) otherwise.
    """
    layout = pc.extract_regex(body, _TEMPLATE)
    miss = np.flatnonzero(np.asarray(pc.is_null(layout)))
    hit = pc.is_valid(layout)
    found = {key: pc.struct_field(layout, key) for key in keys}
    arch, numbers = pc.struct_field(layout, "arch"), pc.struct_field(layout, "syscall")
    if len(miss) == 0:
        return hit, found, arch, numbers
    other = body.take(pa.array(miss))
    ok = pc.match_substring_regex(other, PLAIN_BODY)
    ok = pc.and_(ok, pc.invert(pc.match_substring_regex(other, _ENRICHED)))
    ok = pc.and_(ok, pc.equal(pc.count_substring(other, "arch="), 1))
    ok = pc.and_(ok, pc.equal(pc.count_substring(other, "syscall="), 1))
    ids = pc.extract_regex(other, _SYSCALL_ID)
    plain = np.asarray(ok.fill_null(False), dtype=bool)
    at = np.cumsum(plain) - 1  # each plain body's place among the plain ones (others: null)
    spread = pa.array(at, mask=~plain)
    slow = {key: values.take(spread) for key, values in plain_fields(other.filter(pa.array(plain)), keys).items()}
    slow.update(arch=pc.struct_field(ids, "arch"), syscall=pc.struct_field(ids, "number"))
    # rows of the layout first, then the others: put each back at its place
    order = np.concatenate([np.flatnonzero(np.asarray(hit)), miss])
    back = pa.array(np.argsort(order))
    where = pa.array(np.flatnonzero(np.asarray(hit)))

    def merge(fast: pa.Array, other_: pa.Array) -> pa.Array:
        return pa.concat_arrays([fast.take(where), other_.cast(fast.type)]).take(back)

    found = {key: merge(values, slow[key]) for key, values in found.items()}
    return (merge(hit, ok), found, merge(arch, slow["arch"]), merge(numbers, slow["syscall"]))


def _table(stamps: pa.Array, nodes: pa.Array, found: dict[str, pa.Array], arch: pa.Array, name: pa.Array,
           raw_addr: pa.Array, raw_title: pa.Array, lines: pa.Array, types: dict[str, pa.DataType]) -> pa.Table:
    action = per_value(name, lambda v: NET_CALLS[v][0], _S)
    accept = pc.equal(action, "accept")
    code = per_value(found["exit"], exit_code, _I)
    values = process_columns(stamps, nodes, found)
    values.update(
        action=action, direction=per_value(name, lambda v: NET_CALLS[v][1], _S),
        family=per_value(raw_addr, lambda v: _addr(v, "family"), _S),
        success=pc.or_(pc.fill_null(pc.equal(found["success"], "yes"), False),
                       pc.fill_null(pc.and_(pc.equal(action, "connect"), pc.equal(code, EINPROGRESS)), False)),
    )
    ip = per_value(raw_addr, lambda v: _addr(v, "ip"), _S)
    port = per_value(raw_addr, lambda v: _addr(v, "port"), _I)
    for side, where in (("src", accept), ("dst", pc.invert(accept))):
        if pc.any(where).as_py():
            values[f"{side}_ip"] = pc.if_else(where, ip, pa.nulls(len(ip), _S))
            values[f"{side}_port"] = pc.if_else(where, port, pa.nulls(len(port), _I))
    extra = process_extra(found, name, arch) + [
        ("ppid", found["ppid"], None), ("uid", found["uid"], None), ("auid", found["auid"], None),
        ("exit", found["exit"], None), ("path", raw_addr, lambda v: _addr(v, "path")),
        ("proctitle", raw_title, proctitle),
    ]
    out = {column: values[column].cast(kind) for column, kind in types.items() if column in values}
    out["extra"] = json_objects(extra)
    out["_line"] = lines
    return pa.table(out)


def process_columns(stamps: pa.Array, nodes: pa.Array, found: dict[str, pa.Array]) -> dict[str, pa.Array]:
    """The columns every SYSCALL-based row shares (``Mapper._process``): time, host, serial, pid, image, user."""
    stamp = pc.extract_regex(stamps, STAMP)
    seconds = pc.struct_field(stamp, "s")
    micros = pc.utf8_rpad(pc.struct_field(stamp, "f"), 6, "0")
    return {
        "ts": pc.add(pc.multiply(pc.cast(seconds, _I), 1_000_000), pc.cast(micros, _I)).cast(_TS),
        "host": nodes,
        "record_id": pc.cast(pc.struct_field(stamp, "n"), _I),
        "pid": per_value(found["pid"], number, _I),
        "image": per_value(found["exe"], text, _S),
        "user": per_value(found["uid"], _user, _S),
    }


Extra = list[tuple[str, pa.Array, Callable | None]]


def process_extra(found: dict[str, pa.Array], name: pa.Array, arch: pa.Array) -> Extra:
    """The extra fields every SYSCALL-based row shares, in their order (for :func:`json_objects`)."""
    return [
        ("comm", found["comm"], text), ("tty", found["tty"], _plain), ("key", found["key"], _key),
        ("syscall", name, None), ("arch", arch, lambda v: ARCHES.get(v, v)), ("euid", found["euid"], None),
        ("gid", found["gid"], None),
    ]


def cwd_text(body: str) -> str | None:
    """A CWD record's directory, decoded as ``Mapper`` does."""
    return text(first_field(Record("CWD", "", None, body, 0), "cwd"))


def title_text(body: str) -> str | None:
    """A PROCTITLE record's command line, decoded as ``Mapper`` does."""
    return proctitle(first_field(Record("PROCTITLE", "", None, body, 0), "proctitle"))


def plain_fields(body: pa.Array, keys: tuple[str, ...]) -> dict[str, pa.Array]:
    """The values of ``keys`` in bodies that match :data:`PLAIN_BODY` (null when absent; the last when repeated)."""
    tokens = pc.split_pattern(body, " ")
    flat = pc.list_flatten(tokens)
    parents = np.asarray(pc.list_parent_indices(tokens))
    used = pc.not_equal(flat, "")
    flat, parents = flat.filter(used), parents[np.asarray(used)]
    pairs = pc.list_flatten(pc.split_pattern(flat, "=", max_splits=1))
    names = pc.dictionary_encode(pairs.take(pa.array(np.arange(0, len(pairs), 2))))
    values = pairs.take(pa.array(np.arange(1, len(pairs), 2)))
    codes, known = np.asarray(names.indices), names.dictionary.to_pylist()
    out = {}
    for key in keys:
        where = np.full(len(body), -1, dtype=np.int64)
        if key in known:
            at = np.flatnonzero(codes == known.index(key))
            last = np.append(parents[at][1:] != parents[at][:-1], True)  # the last of a repeated key wins
            where[parents[at][last]] = at[last]
        out[key] = values.take(pa.array(where, mask=where < 0))
    return out


def json_objects(fields: list[tuple[str, pa.Array, Callable | None]]) -> pa.Array:
    """Each row's fields that are not None as compact JSON text (None when none), keys in the given order."""
    pieces = []
    for key, values, decode in fields:
        prefix = f'"{key}":'
        if decode is None:
            pieces.append(per_value(values, lambda v, p=prefix: p + _compact(v), _S))
        else:
            pieces.append(per_value(values, lambda v, p=prefix, d=decode: None if (x := d(v)) is None
                                     else p + _compact(x), _S))
    joined = pc.binary_join_element_wise(*pieces, ",", null_handling="skip")
    return pc.if_else(pc.equal(joined, ""), pa.nulls(len(joined), _S),
                      pc.binary_join_element_wise("{", joined, "}", ""))


def call_name(pair: str) -> str | None:
    """The syscall's name from ``"ARCH NUMBER"`` as :func:`~winnow.sources.auditd_records.quick_syscall` reads it."""
    arch, _, number_ = pair.partition(" ")
    if not number_.isdigit():
        return number_
    return SYSCALLS.get(ARCHES.get(arch.lower(), arch), {}).get(int(number_))


def _addr(raw: str, part: str) -> str | int | None:
    addr = sockaddr(raw)
    return None if addr is None else getattr(addr, part)


def _user(raw: str) -> str | None:
    if raw in UNSET:
        return None
    return raw if raw.isdigit() else text(raw, encoded=False)


def _plain(raw: str) -> str | None:
    return text(raw, encoded=False)


def _key(raw: str) -> str | None:
    key = text(raw)
    return key.replace("\x01", ",") if key else None
