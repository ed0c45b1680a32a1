"""Assemble audit records into events; map them to ``proc.exec``, ``proc.net``, ``proc.file`` and ``auth.logon`` rows.

**Assembly rule.** Records of one event share ``(timestamp, serial)``; they may be interleaved with
records of other events. A kernel event (SYSCALL and its EXECVE, CWD, PATH, PROCTITLE, SOCKADDR ...)
is complete when its ``EOE`` record arrives, or, for logs without EOE, once ``window`` further records
have been read without one of its own (default 2,000), or at the end of the file (an event cut by log
rotation is emitted with the records this file has). Userspace records (``USER_*``, ``CRED_*``,
``DAEMON_*`` ...) are events of their own and are emitted at once. At most ``MAX_EVENT_RECORDS``
records are kept per event; more are dropped with a warning. Memory is bounded by the window.

Events come out in completion order, not file order; each row's ``_line`` is the line of its event's
first record.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import BinaryIO

from winnow.sources.auditd_records import (
    ARCHES,
    BLOCK_LINES,
    MAX_EPOCH,
    UNSET,
    BadRecord,
    NoTime,
    Record,
    argc,
    execve_args,
    exit_code,
    fields,
    first_field,
    join_args,
    name_or_number,
    number,
    parse_header,
    proctitle,
    quick_syscall,
    sockaddr,
    syscall_name,
    text,
)
from winnow.sources.base import ParseContext
from winnow.sources.blocks import read_blocks

#: most bytes of audit.log read at a time (its events are regrouped in Python, block by block)
MAX_BLOCK = 4 << 20
WINDOW = 2000
MAX_EVENT_RECORDS = 1000
EXPIRE_EVERY = 512
EINPROGRESS = -115
#: lines ausearch prints between events
SEPARATORS = ("----", "time->")

STANDALONE = ("USER_", "CRED_", "DAEMON_", "SERVICE_", "CRYPTO_", "ADD_", "DEL_", "GRP_", "ROLE_", "ACCT_",
              "ANOM_LOGIN", "SYSTEM_", "VIRT_")
#: userspace record kinds that become auth.logon rows, and their action
AUTH_ACTIONS = {
    "USER_AUTH": "credential_validation", "USER_LOGIN": "logon", "USER_LOGOUT": "logoff",
    "USER_START": "session_open", "USER_END": "session_close", "CRED_ACQ": "setcred", "USER_ERR": "logon",
    "USER_CMD": "sudo",
}
EXEC_CALLS = frozenset({"execve", "execveat"})
#: file opens a watch rule (``-w /etc/shadow -p r``) logs, and the proc.file action each gives
FILE_CALLS = {"open": "open", "openat": "open", "openat2": "open", "creat": "create"}
NET_CALLS = {"connect": ("connect", "outbound"), "accept": ("accept", "inbound"),
             "accept4": ("accept", "inbound"), "bind": ("bind", None)}
_KIND = re.compile(r"[A-Z][A-Z0-9_]{0,39}")
_OUTCOMES = {"success": "success", "yes": "success", "1": "success", "failed": "failure", "no": "failure",
             "0": "failure", "fail": "failure"}
_TTY = re.compile(r"(?:/dev/)?tty\d*")


class Assembler:
    """Group records into events by ``(node, timestamp, serial)``; see the module docstring for the rule."""

    def __init__(self, ctx: ParseContext, window: int = WINDOW) -> None:
        self.ctx, self.window = ctx, window
        self.open: dict[tuple[str | None, str], list[Record]] = {}
        self.last: dict[tuple[str | None, str], int] = {}
        self.seen = 0

    def add(self, record: Record) -> list[list[Record]] | None:
        """Take one record; return the events it completes (None when none)."""
        self.seen += 1
        done = None
        kind = record.kind
        if kind.startswith(STANDALONE):
            done = [[record]]
        else:
            key = (record.node, record.stamp)
            if kind == "EOE":
                event = self.open.pop(key, None)
                if event is not None:
                    del self.last[key]
                    done = [event]
            else:
                event = self.open.get(key)
                if event is None:
                    self.open[key] = [record]
                elif len(event) < MAX_EVENT_RECORDS:
                    event.append(record)
                elif len(event) == MAX_EVENT_RECORDS:
                    self.ctx.warn(record.line, f"event has more than {MAX_EVENT_RECORDS} records; the rest dropped",
                                  record.body)
                    event.append(record)  # one past the limit marks the event as warned about
                self.last[key] = self.seen
        if self.seen % EXPIRE_EVERY == 0 and self.open:
            expired = self._expire(self.seen - self.window)
            if expired:
                done = (done or []) + expired
        return done

    def _expire(self, before: int) -> list[list[Record]]:
        old = [key for key, seen in self.last.items() if seen < before]
        for key in old:
            del self.last[key]
        return [self.open.pop(key) for key in old]

    def drain(self) -> list[list[Record]]:
        """Every open event (end of file)."""
        events = list(self.open.values())
        self.open.clear()
        self.last.clear()
        return events


def read_events(stream: BinaryIO, ctx: ParseContext, window: int = WINDOW) -> Iterator[list[Record]]:
    """Read records from a binary stream and yield complete events (lists of records in file order).

    Each block is split into records by one regular-expression pass; only lines that are not plain raw
    records (``ausearch -i`` text, separators, damaged lines) take the slow path.
    """
    assembler = Assembler(ctx, window)
    for lines, first in read_lines(stream, ctx):
        yield from line_events(assembler, lines, first)
    yield from assembler.drain()


def read_lines(stream: BinaryIO, ctx: ParseContext) -> Iterator[tuple[list[tuple[str, ...]], int]]:
    """Each block's lines split by :data:`BLOCK_LINES` (node, kind, stamp, body, other), and its first line number."""
    for block, first in read_blocks(stream, ctx, min(MAX_BLOCK, ctx.block_size)):
        yield BLOCK_LINES.findall(_text(block, first, ctx)), first


def line_events(assembler: Assembler, lines: list[tuple[str, ...]], first: int) -> Iterator[list[Record]]:
    """The events one block's lines complete, added record by record (bad lines warned about or counted)."""
    ctx, add = assembler.ctx, assembler.add
    for offset, (node, kind, stamp, body, other) in enumerate(lines):
        if kind:
            if stamp[12:13] == "." and int(stamp[:12]) > MAX_EPOCH:  # only 12-digit seconds can be
                ctx.warn(first + offset, "timestamp out of range", body)
                continue
            done = add(Record(kind, stamp, node or None, body, first + offset))
        elif not other or other.startswith(SEPARATORS) or other.isspace():
            continue
        else:
            try:
                done = add(parse_header(other, first + offset))
            except NoTime:
                ctx.skip_unsupported("auditd record without time", 1)
                continue
            except BadRecord as exc:
                ctx.warn(first + offset, str(exc), other)
                continue
        if done:
            yield from done


def _text(block: bytes, first: int, ctx: ParseContext) -> str:
    """The block as text with ``\\r\\n`` made ``\\n``; undecodable lines are warned about and repaired."""
    try:
        text_ = block.decode("utf-8")
    except UnicodeDecodeError:
        lines = []
        for i, raw in enumerate(block.split(b"\n")):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                ctx.warn(first + i, "invalid UTF-8, undecodable bytes replaced", raw)
                lines.append(raw.decode("utf-8", "replace"))
        text_ = "\n".join(lines)
    return text_.replace("\r\n", "\n") if "\r" in text_ else text_


def skip_label(kind: str) -> str:
    """The label an event of this first record kind is counted under when no table takes it (bounded text)."""
    return kind if _KIND.fullmatch(kind) else "other"


class Mapper:
    """Turn events into rows: ``add(event)`` appends to ``rows[table]`` via the ``emit`` callback."""

    def __init__(self, ctx: ParseContext, emit) -> None:
        self.ctx, self.emit = ctx, emit

    def add(self, event: list[Record]) -> None:
        """Map one event, or count it as unsupported."""
        first = event[0]
        if len(event) == 1 and first.kind in AUTH_ACTIONS:
            self._auth(first)
            return
        syscall = next((r for r in event if r.kind == "SYSCALL"), None)
        if syscall is None:
            self._skip(skip_label(first.kind))
            return
        name = quick_syscall(syscall.body)
        if name in EXEC_CALLS or (name is None and any(r.kind == "EXECVE" for r in event)):
            self._exec(event, syscall, fields(syscall))
        elif name in NET_CALLS:
            self._net(event, syscall, fields(syscall), name)
        elif name in FILE_CALLS:
            self._file(event, syscall, fields(syscall), name)
        else:
            self._skip("SYSCALL")

    def _skip(self, what: str) -> None:
        """Count an event no table takes; ``what`` must be a bounded label (never free text from the log)."""
        self.ctx.skip_unsupported(f"auditd {what}", 1)

    # ------------------------------------------------------------------ process start

    def _exec(self, event: list[Record], syscall: Record, found: dict[str, str]) -> None:
        if found.get("success") == "no":
            self._skip("failed execve")
            return
        args: dict[int, dict[int, bytes] | str] = {}
        cwd = title = item0 = count = None
        for record in event:
            kind = record.kind
            if kind == "EXECVE":
                count = count or argc(record)
                for key in execve_args(record, args):
                    self.ctx.warn(record.line, f"EXECVE {key} is neither quoted nor hex; kept as logged",
                                  record.body)
            elif kind == "CWD":
                cwd = text(first_field(record, "cwd"), not record.interpreted)
            elif kind == "PROCTITLE":
                title = proctitle(first_field(record, "proctitle"))
            elif kind == "PATH" and item0 is None and "exe" not in found:
                part = fields(record)
                if part.get("item") == "0":
                    item0 = text(part.get("name"), not record.interpreted)
        argv = join_args(args)
        command_line = " ".join(argv) if argv else title
        values, extra = self._process(syscall, found)
        image = values["image"] or item0
        values.update(
            action="start", image=image, command_line=command_line, cwd=cwd, ppid=number(found.get("ppid")),
            uid=number(found.get("uid")), auid=number(found.get("auid")),
            process_guid=f"{syscall.node or ''}:{values['pid']}:{syscall.seconds}" if values["pid"] is not None
            else None,
        )
        if title is not None and title != command_line:
            extra["proctitle"] = title
        if count is not None and count != str(len(argv)):
            extra["argc"] = count
        if image != values["image"] and found.get("exe"):
            extra["exe"] = text(found["exe"], not syscall.interpreted)
        self.emit("proc.exec", values, extra, event[0].line)

    # ------------------------------------------------------------------ connect / accept / bind

    def _net(self, event: list[Record], syscall: Record, found: dict[str, str], name: str) -> None:
        record = next((r for r in event if r.kind == "SOCKADDR"), None)
        if record is None:
            self._skip(f"{name} without SOCKADDR")
            return
        raw = first_field(record, "saddr")
        addr = sockaddr(raw) if raw is not None else None
        if addr is None and "SADDR=" in record.body:
            addr = sockaddr(fields(record).get("SADDR") or "")
        if addr is None:
            self.ctx.warn(record.line, "SOCKADDR saddr is not a socket address", record.body)
            return
        if addr.family not in ("inet", "inet6", "unix"):
            family = addr.family if addr.family.isalnum() and len(addr.family) < 16 else "other"
            self._skip(f"{name} {family}")
            return
        action, direction = NET_CALLS[name]
        code = exit_code(found.get("exit"))
        success = found.get("success") == "yes" or (action == "connect" and code == EINPROGRESS)
        values, extra = self._process(syscall, found)
        side = "src" if action == "accept" else "dst"
        values.update(action=action, direction=direction, family=addr.family, success=success,
                      **{f"{side}_ip": addr.ip, f"{side}_port": addr.port})
        extra.update(ppid=found.get("ppid"), uid=found.get("uid"), auid=found.get("auid"), exit=found.get("exit"))
        if addr.path is not None:
            extra["path"] = addr.path
        title = next((proctitle(first_field(r, "proctitle")) for r in event if r.kind == "PROCTITLE"), None)
        if title is not None:
            extra["proctitle"] = title
        self.emit("proc.net", values, extra, event[0].line)

    # ------------------------------------------------------------------ open / creat under a watch

    def _file(self, event: list[Record], syscall: Record, found: dict[str, str], name: str) -> None:
        cwd, paths = None, []
        for record in event:
            if record.kind == "CWD":
                cwd = text(first_field(record, "cwd"), not record.interpreted)
            elif record.kind == "PATH":
                part = fields(record)
                if part.get("nametype", "NORMAL") in ("NORMAL", "CREATE", "UNKNOWN"):
                    paths.append((part.get("nametype"), text(part.get("name"), not record.interpreted)))
        paths = [(kind, path) for kind, path in paths if path]
        if not paths:
            self._skip(f"{name} without PATH")
            return
        title = next((proctitle(first_field(r, "proctitle")) for r in event if r.kind == "PROCTITLE"), None)
        shared_values, shared_extra = self._process(syscall, found)
        for kind, path in paths:
            values, extra = shared_values.copy(), shared_extra.copy()
            if not path.startswith("/") and cwd:
                extra["relative_path"] = path
                path = cwd.rstrip("/") + "/" + path
            action = "create" if kind == "CREATE" else FILE_CALLS[name]
            values.update(action=action, path=path)
            extra.update(success=found.get("success"), exit=found.get("exit"), uid=found.get("uid"),
                         auid=found.get("auid"), proctitle=title)
            self.emit("proc.file", values, extra, event[0].line)

    def _process(self, syscall: Record, found: dict[str, str]) -> tuple[dict, dict]:
        """Columns and extra fields every SYSCALL-based row shares."""
        encoded = not syscall.interpreted
        key = text(found.get("key"), encoded)
        values = {
            "ts": syscall.ts_us, "host": syscall.node, "record_id": syscall.serial,
            "pid": number(found.get("pid")), "image": text(found.get("exe"), encoded),
            "user": name_or_number(found, "uid"),
        }
        ses = number(found.get("ses"))
        if ses is not None:
            values["logon_id"] = str(ses)
        arch = found.get("ARCH") or ARCHES.get(found.get("arch", ""), found.get("arch"))
        auid_name = text(found.get("AUID"), False)
        extra = {
            "comm": text(found.get("comm"), encoded), "tty": text(found.get("tty"), False),
            "key": key.replace("\x01", ",") if key else None, "syscall": syscall_name(found) or found.get("syscall"),
            "arch": arch, "euid": found.get("euid"), "gid": found.get("gid"),
            "auid_name": auid_name if auid_name not in UNSET else None,
        }
        if syscall.interpreted:
            extra["ts_local"] = "ausearch -i time, zone unknown, read as UTC"
        return values, extra

    # ------------------------------------------------------------------ PAM / login / sudo

    def _auth(self, record: Record) -> None:
        found = fields(record)
        values, extra = logon_fields(record.kind, found, not record.interpreted)
        values.update(ts=record.ts_us, host=record.node, record_id=record.serial, pid=number(found.get("pid")))
        ses = number(found.get("ses"))
        if ses is not None:
            values["logon_id"] = str(ses)
        self.emit("auth.logon", values, extra, record.line)


#: the fields :func:`logon_fields` reads (``pid`` and ``ses`` are read by the caller)
LOGON_KEYS = ("op", "exe", "terminal", "addr", "hostname", "res", "acct", "id", "ID", "auid", "AUID", "uid", "UID",
              "rport", "laddr", "lport", "cmd", "grantors", "cwd")


def logon_fields(kind: str, found: dict[str, str], encoded: bool) -> tuple[dict, dict]:
    """An auth.logon row's columns and extra fields from a userspace record's fields (:data:`LOGON_KEYS`), all but
    those of the record itself (time, host, serial, pid, session)."""
    op = text(found.get("op"), False)
    exe = text(found.get("exe"), encoded)
    process = exe.rsplit("/", 1)[-1] if exe else None
    terminal = text(found.get("terminal"), encoded)
    addr = text(found.get("addr"), False)
    hostname = text(found.get("hostname"), False)
    res = text(found.get("res"), False)
    user = text(found.get("acct"), encoded)
    if user is None and kind != "USER_CMD":
        user = name_or_number(found, "id")
    subject = name_or_number(found, "auid") or (name_or_number(found, "uid") if kind == "USER_CMD" else None)
    values = {
        "action": AUTH_ACTIONS[kind], "outcome": _OUTCOMES.get((res or "").lower(), "unknown"), "user": user,
        "src_ip": _ip(addr), "src_port": _port(found.get("rport")), "dst_ip": _ip(text(found.get("laddr"), False)),
        "dst_port": _port(found.get("lport")), "logon_type": _logon_type(process, terminal), "method": _method(op),
        "subject_user": subject, "process": process, "attempts": 1,
    }
    if kind == "USER_ERR":
        values["reason"] = op.removeprefix("PAM:") if op else None
    if kind == "USER_CMD":
        values["command"] = text(found.get("cmd"), encoded)
    extra = {
        "type": kind, "op": op, "terminal": terminal, "exe": exe, "uid": found.get("uid"),
        "hostname": hostname if hostname not in (None, addr) else None, "grantors": found.get("grantors"),
        "cwd": text(found.get("cwd"), encoded), "res": res if values["outcome"] == "unknown" else None,
    }
    if values["src_ip"] is None and addr is not None:
        extra["addr"] = addr
    return values, extra


def _ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _port(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and int(value) < 65536 else None


def _logon_type(process: str | None, terminal: str | None) -> str | None:
    """ssh (sshd or terminal ssh), sudo, su, cron, console (a tty) or None."""
    if process in ("sshd", "sshd-session") or terminal in ("ssh", "sshd"):
        return "ssh"
    if process in ("sudo", "su", "cron", "crond") or terminal == "cron":
        return "cron" if process in ("cron", "crond") or terminal == "cron" else process
    if terminal and _TTY.fullmatch(terminal):
        return "console"
    return None


def _method(op: str | None) -> str | None:
    """The authentication method when ``op`` names one (pubkey, password ...); ``pam`` for PAM stack calls."""
    if not op:
        return None
    low = op.lower()
    for word, method in (("pubkey", "publickey"), ("password", "password"), ("keyboard", "keyboard-interactive"),
                         ("gssapi", "gssapi"), ("hostbased", "hostbased")):
        if word in low:
            return method
    return "pam" if low.startswith("pam") else None
