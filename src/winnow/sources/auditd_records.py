"""Linux audit records, one line at a time: header, ``key=value`` fields, hex-encoded strings, socket addresses.

A raw record is ``[node=NAME ]type=KIND msg=audit(SECONDS.MILLIS:SERIAL): key=value ...``. Three variants
are read the same way:

* raw ``audit.log`` (``log_format=RAW``): untrusted strings (``exe``, ``comm``, ``cwd``, ``name``,
  EXECVE ``aN``, ``proctitle``, ``acct`` ...) are either double-quoted or, when they hold a space, a
  quote or a non-printable byte, upper-case hex;
* ``log_format=ENRICHED``: each record ends with ``\\x1d`` (GS) followed by interpreted fields whose keys
  are upper case (``UID="root" ARCH=x86_64 SYSCALL=connect SADDR={ saddr_fam=inet laddr=... lport=... }``).
  Copies that lost the GS byte (``key="k"ARCH=x86_64``, ``saddr=0200..SADDR={ ... }``) read the same;
* ``ausearch -i`` output (interpreted): ``msg=audit(MM/DD/YYYY HH:MM:SS.mmm:SERIAL) : ...`` with names
  instead of numbers and ``----`` between events. Its times are the wall clock of whoever ran ausearch,
  in a zone the file does not name: they are read as UTC and the row says so in ``extra``.

Userspace records wrap their fields in ``msg='...'``; those fields are read as if they were top level.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import NamedTuple

#: raw header; the body starts right after the match
_RAW_HEADER = re.compile(r"(?:node=(\S*) )?type=(\S+) msg=audit\((\d{1,12}\.\d{1,6}:\d{1,18})\):? ?")
#: every line of a block: (node, kind, stamp, body) for a raw record, else the whole line in the fifth group
BLOCK_LINES = re.compile(
    r"^(?:(?:node=(\S*) )?type=(\S+) msg=audit\((\d{1,12}\.\d{1,6}:\d{1,18})\):? ?(.*)|(.*))$", re.MULTILINE
)
#: ``ausearch -i`` header (en_US date order)
_INTERPRETED_HEADER = re.compile(
    r"(?:node=(\S*) )?type=(\S+) msg=audit\((\d\d)/(\d\d)/(\d{4}) (\d\d):(\d\d):(\d\d)\.(\d{1,6}):(\d{1,18})\) : ?"
)
#: one ``key=value``; a key starts a token (after a space, ``(``, a closing quote or GS); values are
#: double-quoted, ``{ braced }`` (enriched SADDR) or run to the next space or GS
_FIELD = re.compile(r"(?<![^\s(\x1d\"])([A-Za-z_][\w.\-\[\]]*)=(\"[^\"]*\"|\{[^}]*\}|[^\s\x1d]*)")
_HEX = re.compile(r"(?:[0-9A-F]{2})+")
#: an EXECVE argument: index, chunk number (long form), quoted value or raw (hex) value
_EXECVE_ARG = re.compile(r"(?<![^\s\x1d])a(\d+)(?:\[(\d+)\])?=(?:(\"[^\"]*\"?)|([^\s\x1d]*))")
_ARGC = re.compile(r"\bargc=(\d+)")
_INTERPRETED_SADDR = re.compile(r"(inet6?) host:(\S+) serv:(\d+)")
_EXIT_CODE = re.compile(r"-?\d+")
_SYSCALL_ID = re.compile(r"\barch=(\w+) syscall=(\w+)")
_SYSCALL_ENRICHED = re.compile(r"\bSYSCALL=(\w+)")
_WHOLE_LINE = {"PROCTITLE": "proctitle", "SOCKADDR": "saddr"}

MAX_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z: later times cannot be stored

#: fields whose value the kernel or libaudit hex-encodes when it holds a space, quote or control byte
ENCODED_FIELDS = frozenset({
    "acct", "cmd", "comm", "cwd", "data", "dir", "exe", "file", "grp", "key", "name", "new_group", "new_user",
    "ocomm", "old_group", "old_user", "path", "proctitle", "root_dir", "vm", "watch",
})
#: values that mean "no id" in auid / ses / uid fields
UNSET = frozenset({"4294967295", "-1", "unset", "(null)", "?", "(none)", ""})

#: ``arch=`` (AUDIT_ARCH_*) to the name enriched logs use
ARCHES = {"c000003e": "x86_64", "40000003": "i386", "c00000b7": "aarch64"}
#: the syscalls this source maps, by architecture (numbers from each arch's unistd table)
SYSCALLS: dict[str, dict[int, str]] = {
    "x86_64": {59: "execve", 322: "execveat", 42: "connect", 43: "accept", 288: "accept4", 49: "bind",
               2: "open", 257: "openat", 437: "openat2", 85: "creat"},
    "i386": {11: "execve", 358: "execveat", 102: "socketcall", 361: "bind", 362: "connect", 364: "accept4",
             5: "open", 295: "openat", 437: "openat2", 8: "creat"},
    "aarch64": {221: "execve", 281: "execveat", 203: "connect", 202: "accept", 242: "accept4", 200: "bind",
                56: "openat", 437: "openat2"},
}
#: i386 socketcall(2): its first argument names the call
SOCKETCALLS = {2: "bind", 3: "connect", 5: "accept", 18: "accept4"}
#: sa_family values (host byte order, read little-endian: the x86 / arm layout)
FAMILIES = {0: "unspec", 1: "unix", 2: "inet", 10: "inet6", 16: "netlink", 17: "packet"}
#: enriched / interpreted family names to ours
FAMILY_NAMES = {"inet": "inet", "inet6": "inet6", "local": "unix", "unix": "unix", "netlink": "netlink"}


class Record(NamedTuple):
    """One audit record: its kind, event key, where it was read, and its still unparsed body.

    ``stamp`` is ``"SECONDS.FRACTION:SERIAL"`` as logged (for ``ausearch -i`` records, rebuilt from the
    date); time and serial are only converted when a row needs them.
    """

    kind: str
    stamp: str
    node: str | None
    body: str
    line: int
    interpreted: bool = False

    @property
    def seconds(self) -> str:
        """``SECONDS.FRACTION`` as logged."""
        return self.stamp.partition(":")[0]

    @property
    def ts_us(self) -> int:
        """Microseconds since the epoch."""
        sec, _, frac = self.seconds.partition(".")
        return int(sec) * 1_000_000 + int(frac.ljust(6, "0"))

    @property
    def serial(self) -> int:
        """The event serial number."""
        return int(self.stamp.partition(":")[2])


class BadRecord(ValueError):
    """The line is not an audit record (the message says why)."""


class NoTime(ValueError):
    """An audit record without a time (``type=UNKNOWN[1329] msg=?``): nothing to place, not a damaged line."""


def parse_header(line: str, number: int) -> Record:
    """Split one line into a :class:`Record`; raise :class:`BadRecord` when it is not an audit record."""
    m = _RAW_HEADER.match(line)
    if m is not None:
        node, kind, stamp = m.groups()
        if int(stamp.partition(".")[0]) > MAX_EPOCH:
            raise BadRecord("timestamp out of range")
        return Record(kind, stamp, node or None, line[m.end():], number)
    m = _INTERPRETED_HEADER.match(line)
    if m is not None:
        node, kind, month, day, year, hh, mm, ss, frac, serial = m.groups()
        try:
            when = dt.datetime(int(year), int(month), int(day), int(hh), int(mm), int(ss), tzinfo=dt.UTC)
        except ValueError as exc:
            raise BadRecord(f"bad date: {exc}") from None
        stamp = f"{int(when.timestamp())}.{frac}:{serial}"
        return Record(kind, stamp, node or None, line[m.end():], number, interpreted=True)
    if line.startswith("type=") and " msg=?" in line:
        raise NoTime()
    if "type=" in line and "msg=audit(" in line:
        raise BadRecord("audit record with a damaged header")
    raise BadRecord("not an audit record")


def fields(record: Record) -> dict[str, str]:
    """The record's ``key=value`` pairs, values as logged (quotes kept; decode with :func:`text`).

    Enriched (interpreted) fields keep their upper-case keys; a key seen twice keeps its last value.
    For ``ausearch -i`` PROCTITLE the value is the rest of the line (it is not quoted there).
    """
    body = record.body
    if "msg='" in body:  # userspace record: read the fields inside msg='...' as top level ones
        head, _, inner = body.partition("msg='")
        inner, _, tail = inner.rpartition("'") if "'" in inner else (inner, "", "")
        if "(hostname=" in inner:  # old format: acct=root : exe="..." (hostname=?, addr=?, terminal=cron res=x)
            inner = inner.replace(" : ", " ").replace("(hostname=", "hostname=").replace(", ", " ").rstrip(")")
        body = f"{head} {inner} {tail}"
    if "SADDR={" in body:
        body = body.replace("SADDR={", "\x1dSADDR={", 1)
    if record.interpreted and record.kind in _WHOLE_LINE:  # ausearch -i prints these unquoted, spaces and all
        key = _WHOLE_LINE[record.kind]
        if body.startswith(key + "="):
            return {key: '"' + body[len(key) + 1:].strip() + '"'}
    return dict(_FIELD.findall(body))


def is_quoted(value: str) -> bool:
    """True for a double-quoted value."""
    return len(value) >= 2 and value[0] == '"' and value[-1] == '"'


def text(value: str | None, encoded: bool = True) -> str | None:
    """Decode one logged value: strip quotes, turn hex into text, ``(null)``/``?``/empty into None.

    Hex is decoded as UTF-8 with invalid bytes kept as ``\\xNN`` escapes (a hunter should see them).
    ``encoded`` says whether the field is one the kernel may hex-encode; others are only unquoted.
    """
    if value is None:
        return None
    if value.startswith('"'):
        return value[1:-1] if is_quoted(value) else value[1:]
    if value in ("(null)", "?", ""):
        return None
    if encoded and _HEX.fullmatch(value):
        return bytes.fromhex(value).decode("utf-8", "backslashreplace")
    return value


def raw_bytes(value: str) -> bytes | None:
    """The bytes of an argument as logged: quoted text, or hex; None when it is neither."""
    if value.startswith('"'):
        return (value[1:-1] if is_quoted(value) else value[1:]).encode("utf-8", "surrogateescape")
    if _HEX.fullmatch(value):
        return bytes.fromhex(value)
    return None


def execve_args(record: Record, into: dict[int, dict[int, bytes] | str]) -> list[str]:
    """Collect one EXECVE record's arguments (``aN=``, and the long form ``aN_len=`` + ``aN[i]=``) into ``into``.

    ``into`` maps argument index to its text, or for the long form to its chunks by number; chunks are
    joined as bytes so a multi-byte character split between two chunks survives. Returns the names of
    arguments that are neither quoted nor valid hex (kept as logged, reported by the caller);
    ``ausearch -i`` arguments are plain text.
    """
    broken = []
    for index, chunk, quoted, raw in _EXECVE_ARG.findall(record.body):
        if quoted and not chunk:  # the common case, in short
            into[int(index)] = quoted[1:-1] if len(quoted) > 1 and quoted[-1] == '"' else quoted[1:]
            continue
        if quoted:
            value: str | bytes = quoted[1:-1] if len(quoted) > 1 and quoted[-1] == '"' else quoted[1:]
        elif record.interpreted or not raw:
            value = raw
        elif _HEX.fullmatch(raw):
            value = bytes.fromhex(raw)
        else:
            broken.append(f"a{index}")
            value = raw
        if chunk:
            chunks = into.setdefault(int(index), {})
            if isinstance(chunks, dict):
                chunks[int(chunk)] = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
        else:
            into[int(index)] = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
    return broken


def join_args(args: dict[int, dict[int, bytes] | str]) -> list[str]:
    """Arguments in order; chunked ones joined and decoded as UTF-8 with invalid bytes escaped."""
    out = []
    for index in sorted(args):
        value = args[index]
        if isinstance(value, dict):
            value = b"".join(value[i] for i in sorted(value)).decode("utf-8", "backslashreplace")
        out.append(value)
    return out


def argc(record: Record) -> str | None:
    """The EXECVE record's ``argc`` as logged, or None."""
    m = _ARGC.search(record.body)
    return m.group(1) if m is not None else None


def first_field(record: Record, key: str) -> str | None:
    """The value of ``key`` when it is the record's first field (CWD, PROCTITLE, SOCKADDR), else from all fields."""
    if not record.interpreted:
        m = _FIELD.search(record.body)
        if m is not None and m.group(1) == key:
            return m.group(2)
    return fields(record).get(key)


def proctitle(value: str | None) -> str | None:
    """PROCTITLE as text: hex (NUL-separated argv) or quoted; NULs become spaces."""
    if value is None:
        return None
    data = raw_bytes(value)
    if data is None:
        return text(value, encoded=False)
    return data.rstrip(b"\x00").replace(b"\x00", b" ").decode("utf-8", "backslashreplace")


@dataclass(slots=True)
class SockAddr:
    """A decoded socket address."""

    family: str
    ip: str | None = None
    port: int | None = None
    path: str | None = None


def sockaddr(value: str) -> SockAddr | None:
    """Decode a SOCKADDR ``saddr``: raw hex ``struct sockaddr``, an enriched ``{ ... }`` or ``ausearch -i`` text.

    Returns None when the value cannot be read. An IPv4-mapped IPv6 address is returned as its IPv4
    text (with family inet6), so it joins network logs that show the IPv4 address.
    """
    if value.startswith('"'):
        value = value.strip('"')
    if value.startswith("{"):
        return _interpreted_sockaddr(value)
    m = _INTERPRETED_SADDR.match(value)
    if m is not None:
        return SockAddr(m.group(1), m.group(2), int(m.group(3)))
    if value.startswith(("unknown family", "local ")):
        return SockAddr("unspec" if value.startswith("unknown") else "unix", path=value[6:] or None)
    if not _HEX.fullmatch(value) or len(value) < 4:
        return None
    data = bytes.fromhex(value)
    code = int.from_bytes(data[:2], "little")
    family = FAMILIES.get(code, str(code))
    if code == 2 and len(data) >= 8:
        return SockAddr(family, socket.inet_ntoa(data[4:8]), int.from_bytes(data[2:4], "big"))
    if code == 10 and len(data) >= 24:
        addr = ipaddress.IPv6Address(data[8:24])
        ip = str(addr.ipv4_mapped) if addr.ipv4_mapped is not None else str(addr)
        return SockAddr(family, ip, int.from_bytes(data[2:4], "big"))
    if code == 1:
        path = data[2:]
        if path[:1] == b"\x00":  # abstract socket name
            name = "@" + path[1:].rstrip(b"\x00").decode("utf-8", "backslashreplace")
        else:
            name = path.split(b"\x00", 1)[0].decode("utf-8", "backslashreplace")
        return SockAddr(family, path=name or None)
    if code in (2, 10):
        return None  # too short for its family
    return SockAddr(family)


def _interpreted_sockaddr(value: str) -> SockAddr | None:
    parts = dict(_FIELD.findall(value.strip("{} ")))
    family = parts.get("saddr_fam") or parts.get("fam")
    if family is None:
        return None
    family = FAMILY_NAMES.get(family, family)
    port = parts.get("lport")
    return SockAddr(family, parts.get("laddr"), int(port) if port and port.isdigit() else None,
                    text(parts.get("path"), encoded=False))


def quick_syscall(body: str) -> str | None:
    """The mapped syscall's name read straight from a SYSCALL body, without splitting all its fields.

    Cheap enough to run on every SYSCALL record; :func:`syscall_name` gives the same answer from fields.
    """
    m = _SYSCALL_ENRICHED.search(body) if "SYSCALL=" in body else None
    if m is not None:
        name = m.group(1)
    else:
        m = _SYSCALL_ID.search(body)
        if m is None:
            return None
        arch, number_ = m.groups()
        if not number_.isdigit():
            return number_  # ausearch -i prints the name
        name = SYSCALLS.get(ARCHES.get(arch.lower(), arch), {}).get(int(number_))
    if name == "socketcall":
        m = re.search(r"\ba0=(\w+)", body)
        try:
            return SOCKETCALLS.get(int(m.group(1), 16)) if m else None
        except ValueError:
            return None
    return name


def syscall_name(found: dict[str, str]) -> str | None:
    """The mapped syscall's name (execve, connect, ...) from ``arch``/``syscall`` or enriched ``SYSCALL``.

    i386 ``socketcall`` is resolved to the call its first argument names. None when unknown.
    """
    name = found.get("SYSCALL")
    if name is None:
        number = found.get("syscall", "")
        if not number.isdigit():
            name = number or None  # ausearch -i prints the name
        else:
            arch = found.get("ARCH") or ARCHES.get(found.get("arch", "").lower(), found.get("arch"))
            name = SYSCALLS.get(arch or "", {}).get(int(number))
    if name == "socketcall":
        try:
            name = SOCKETCALLS.get(int(found.get("a0", ""), 16))
        except ValueError:
            return None
    return name


def exit_code(value: str | None) -> int | None:
    """The syscall's ``exit`` as an integer (also ``-115(Operation now in progress)``); None when not one."""
    if not value:
        return None
    m = _EXIT_CODE.match(value)
    return int(m.group()) if m is not None else None


def number(value: str | None) -> int | None:
    """A decimal id (pid, uid, ses ...) as int; None when unset (4294967295 / -1 / unset) or not a number."""
    if value is None or value in UNSET:
        return None
    if value.startswith('"'):
        value = value.strip('"')
    if not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def name_or_number(found: dict[str, str], key: str) -> str | None:
    """An account as text: the enriched name (``UID="root"``) when logged, else the number (unset -> None)."""
    name = text(found.get(key.upper()), encoded=False)
    if name is not None and name not in UNSET:
        return name
    raw = found.get(key)
    if raw is None or raw in UNSET:
        return None
    return raw if raw.isdigit() else text(raw, encoded=False)  # ausearch -i prints the name
