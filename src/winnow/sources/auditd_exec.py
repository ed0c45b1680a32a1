"""auditd process starts column-wise: ``execve``/``execveat`` SYSCALL + EXECVE (+ CWD, PATH, PROCTITLE) -> proc.exec.

:func:`exec_rows` maps a block's exec events of the common shape (one SYSCALL, one EXECVE, at most one CWD and one
PROCTITLE, any PATH records) with Arrow kernels, as :mod:`winnow.sources.auditd_columns` does socket events: the
SYSCALL's fields come from :func:`~winnow.sources.auditd_columns.read_syscalls`, and each distinct EXECVE, CWD and
PROCTITLE body is decoded once by the record-by-record functions. It declines (for
:class:`~winnow.sources.auditd_events.Mapper`) failed execs, SYSCALLs it cannot read column-wise or without a
readable ``exe`` (the image then comes from PATH item 0), and EXECVE arguments the record-by-record code warns about.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from winnow.sources.auditd_columns import (
    STAMP,
    cwd_text,
    json_objects,
    kept,
    per_value,
    process_columns,
    process_extra,
    read_syscalls,
    title_text,
)
from winnow.sources.auditd_events import EXEC_CALLS
from winnow.sources.auditd_records import Record, argc, execve_args, join_args, number, text

_S, _I = pa.string(), pa.int64()
#: SYSCALL fields read for a proc.exec row
_WANTED = ("success", "ppid", "pid", "auid", "uid", "gid", "euid", "ses", "comm", "exe", "tty", "key")


def exec_rows(stamps: list[str], nodes: list[str | None], calls: list[str], execs: list[str],
              cwds: list[str | None], titles: list[str | None], lines: list[int],
              types: dict[str, pa.DataType]) -> tuple[pa.Table | None, list[int]]:
    """proc.exec rows of exec events given by their SYSCALL, EXECVE, CWD and PROCTITLE bodies (None: no such record),
    and the indexes of the events to map one by one."""
    stamp_array = pa.array(stamps, _S)
    ok, found, arch, name = read_syscalls(pa.array(calls, _S), stamp_array, _WANTED, EXEC_CALLS)
    ok = pc.and_(ok, pc.not_equal(found["success"], "no"))  # a failed exec is counted, record by record
    image = per_value(found["exe"], text, _S)
    ok = pc.and_(ok, pc.not_equal(image, ""))  # no image: it comes from PATH item 0, record by record
    decoded: dict[str, tuple[list[str], str | None] | None] = {}

    def args(body_: str) -> tuple[list[str], str | None] | None:
        """The arguments and argc of an EXECVE body; None when the record-by-record code would warn."""
        if body_ not in decoded:
            record = Record("EXECVE", "", None, body_, 0)
            into: dict = {}
            decoded[body_] = None if execve_args(record, into) else (join_args(into), argc(record))
        return decoded[body_]

    execve = pa.array(execs, _S)
    ok = pc.and_(ok, per_value(execve, lambda v: args(v) is not None, pa.bool_()))
    take, declined = kept(ok)
    if take is None:
        return None, declined
    found = {key: values.take(take) for key, values in found.items()}
    arch, name, image, execve, stamp_array = (a.take(take) for a in (arch, name, image, execve, stamp_array))
    nodes_ = pa.array(nodes, _S).take(take)
    argv = per_value(execve, lambda v: " ".join(args(v)[0]) if args(v)[0] else None, _S)
    title = per_value(pa.array(titles, _S).take(take), title_text, _S)
    command_line = pc.coalesce(argv, title)
    count = per_value(execve, lambda v: args(v)[1], _S)
    length = per_value(execve, lambda v: str(len(args(v)[0])), _S)
    values = process_columns(stamp_array, nodes_, found)
    pid = values["pid"]
    seconds = pc.struct_field(pc.extract_regex(stamp_array, STAMP), "s")
    fraction = pc.struct_field(pc.extract_regex(stamp_array, STAMP), "f")
    guid = pc.binary_join_element_wise(pc.fill_null(nodes_, ""), pc.cast(pid, _S),
                                       pc.binary_join_element_wise(seconds, fraction, "."), ":")
    ses = per_value(found["ses"], number, _I)
    values.update(
        image=image, action=pa.array(["start"] * len(take), _S), command_line=command_line,
        cwd=per_value(pa.array(cwds, _S).take(take), cwd_text, _S),
        ppid=per_value(found["ppid"], number, _I), uid=per_value(found["uid"], number, _I),
        auid=per_value(found["auid"], number, _I), process_guid=guid, logon_id=pc.cast(ses, _S),
    )
    extra = process_extra(found, name, arch) + [
        ("proctitle", pc.if_else(pc.fill_null(pc.equal(title, command_line), False), pa.nulls(len(title), _S), title),
         None),
        ("argc", pc.if_else(pc.fill_null(pc.equal(count, length), False), pa.nulls(len(count), _S), count), None),
    ]
    out = {column: values[column].cast(kind) for column, kind in types.items() if column in values}
    out["extra"] = json_objects(extra)
    out["_line"] = pa.array(lines, _I).take(take)
    return pa.table(out), declined
