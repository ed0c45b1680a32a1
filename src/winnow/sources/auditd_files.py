"""auditd watched file opens column-wise: ``open``/``openat``/``openat2``/``creat`` SYSCALL + PATH (+ CWD, PROCTITLE)
-> ``proc.file``, one row per PATH item that names the file.

:func:`file_rows` maps a block's open events of the common shape (one SYSCALL, PATH records, at most one CWD and one
PROCTITLE) with Arrow kernels, as :mod:`winnow.sources.auditd_exec` does process starts: the SYSCALL's fields from
:func:`~winnow.sources.auditd_columns.read_syscalls`, the PATH items' ``name`` and ``nametype`` split as tokens
(:func:`~winnow.sources.auditd_columns.plain_fields`) when the record is a plain run of ``key=value`` tokens, each
distinct value decoded once by the record-by-record functions. It declines (for
:class:`~winnow.sources.auditd_events.Mapper`) events whose SYSCALL or any PATH it cannot read so, and events with no
PATH naming a file (counted there as unsupported).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.sources.auditd_columns import (
    PLAIN_BODY,
    cwd_text,
    json_objects,
    per_value,
    plain_fields,
    process_columns,
    process_extra,
    read_syscalls,
    title_text,
)
from winnow.sources.auditd_events import FILE_CALLS
from winnow.sources.auditd_records import text

_S, _I = pa.string(), pa.int64()
#: SYSCALL fields read for a proc.file row
_WANTED = ("success", "exit", "pid", "auid", "uid", "gid", "euid", "comm", "exe", "tty", "key")
#: PATH items that name the opened file (PARENT items name its directory)
_NAMING = ("NORMAL", "CREATE", "UNKNOWN")


def file_rows(stamps: list[str], nodes: list[str | None], calls: list[str], cwds: list[str | None],
              titles: list[str | None], lines: list[int], path_event: np.ndarray, paths: list[str],
              types: dict[str, pa.DataType]) -> tuple[pa.Table | None, list[int]]:
    """proc.file rows of open events given by their SYSCALL, CWD and PROCTITLE bodies (None: no such record) and their
    PATH bodies (``path_event``: the event of each, in file order), and the indexes of the events to map one by one."""
    events = len(calls)
    stamp_array = pa.array(stamps, _S)
    ok, found, arch, name = read_syscalls(pa.array(calls, _S), stamp_array, _WANTED, FILE_CALLS)
    path_body = pa.array(paths, _S)
    plain = np.asarray(pc.match_substring_regex(path_body, PLAIN_BODY), dtype=bool)
    event_ok = np.asarray(ok.fill_null(False), dtype=bool)
    event_ok[path_event[~plain]] = False
    # the PATH items of the events kept so far, and which of them name the file
    items = np.flatnonzero(event_ok[path_event])
    part = plain_fields(path_body.take(pa.array(items, _I)), ("nametype", "name"))
    path = per_value(part["name"], text, _S)
    naming = pc.and_(pc.is_in(pc.fill_null(part["nametype"], "NORMAL"), pa.array(_NAMING)), pc.not_equal(path, ""))
    naming = np.asarray(naming.fill_null(False), dtype=bool)
    event_ok &= np.bincount(path_event[items][naming], minlength=events) > 0  # none: counted record by record
    declined = np.flatnonzero(~event_ok).tolist()
    chosen = np.flatnonzero(naming & event_ok[path_event[items]])
    if not len(chosen):
        return None, declined
    at = pa.array(chosen, _I)
    nametype, path = part["nametype"].take(at), path.take(at)
    of = pa.array(path_event[items][chosen], _I)  # each row's event
    found = {key: values.take(of) for key, values in found.items()}
    name, arch = name.take(of), arch.take(of)
    values = process_columns(stamp_array.take(of), pa.array(nodes, _S).take(of), found)
    cwd = per_value(pa.array(cwds, _S), cwd_text, _S).take(of)
    relative = pc.fill_null(pc.and_(pc.invert(pc.starts_with(path, "/")), pc.not_equal(cwd, "")), False)
    joined = pc.binary_join_element_wise(pc.utf8_rtrim(cwd, characters="/"), path, "/")
    values["path"] = pc.if_else(relative, joined, path)
    values["action"] = pc.if_else(pc.fill_null(pc.equal(nametype, "CREATE"), False), pa.scalar("create"),
                                  per_value(name, FILE_CALLS.get, _S))
    extra = process_extra(found, name, arch) + [
        ("relative_path", pc.if_else(relative, path, pa.nulls(len(path), _S)), None),
        ("success", found["success"], None), ("exit", found["exit"], None), ("uid", found["uid"], None),
        ("auid", found["auid"], None), ("proctitle", per_value(pa.array(titles, _S), title_text, _S).take(of), None),
    ]
    out = {column: values[column].cast(kind) for column, kind in types.items() if column in values}
    out["extra"] = json_objects(extra)
    out["_line"] = pa.array(lines, _I).take(of)
    return pa.table(out), declined
