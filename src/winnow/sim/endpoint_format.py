"""Render endpoint events as Winlogbeat-style Sysmon JSON lines and raw auditd text, column-wise.

Network events (one per connection: the bulk) are rendered with Arrow string kernels over whole
columns; process starts (a few per process) are rendered one by one. `LineWriter` appends rendered
lines to `<out>/endpoint/<date>/{sysmon.json,audit.log}` straight from the Arrow buffers.

Formats follow the real tools:
    * Sysmon through Winlogbeat: `@timestamp` (ISO, Z: when the record was written, a few ms after
      the event), `host.name`, `winlog.event_id`, `winlog.channel` "Microsoft-Windows-Sysmon/Operational",
      `winlog.provider_name`, `winlog.computer_name`, `winlog.record_id`, `winlog.process` (Sysmon's
      own pid and thread) and `winlog.event_data` with every value as text and `UtcTime` as
      "YYYY-MM-DD HH:MM:SS.mmm" (the ECS `event.*` copies Winlogbeat adds are left out).
    * auditd `log_format=RAW` with `name_format=hostname`: `node=<host> type=<KIND>
      msg=audit(<seconds>.<millis>:<serial>): key=value ...`; untrusted strings quoted, or upper-case
      hex when they hold a space, a quote or a control byte; SOCKADDR `saddr` is the hex of the
      `struct sockaddr_in` (family little-endian, port and address in network order, 8 zero bytes).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
SYSMON_PROVIDER = "Microsoft-Windows-Sysmon"
#: Service names Sysmon prints for well-known ports (others "-").
PORT_NAMES = {53: "domain", 80: "http", 88: "kerberos", 123: "ntp", 135: "epmap", 389: "ldap", 443: "https",
              445: "microsoft-ds", 8080: "http-alt", 9100: "jetdirect"}

_HEX_UP = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
_HEX_LOW = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_PORT_NAME = pa.array([PORT_NAMES.get(p, "-") for p in range(65536)], pa.string())


def hex_fixed(values: np.ndarray, width: int, upper: bool = True) -> pa.Array:
    """Integers as zero-padded hex text of `width` digits (the low `4 * width` bits)."""
    v = np.asarray(values).astype(np.uint64)
    digits = _HEX_UP if upper else _HEX_LOW
    mat = np.empty((len(v), width), dtype=np.uint8)
    for i in range(width):
        mat[:, width - 1 - i] = digits[((v >> np.uint64(4 * i)) & np.uint64(15)).astype(np.int64)]
    offsets = np.arange(len(v) + 1, dtype=np.int32) * width
    return pa.StringArray.from_buffers(len(v), pa.py_buffer(offsets), pa.py_buffer(mat.tobytes()))


def ipv4_text(u32: np.ndarray) -> pa.Array:
    """Dotted-quad text of IPv4 addresses given as 32-bit integers."""
    v = np.asarray(u32, dtype=np.int64)
    parts = [pc.cast(pa.array((v >> s) & 255), pa.string()) for s in (24, 16, 8, 0)]
    return pc.binary_join_element_wise(*parts, ".")


def num(values: np.ndarray) -> pa.Array:
    """Integers as decimal text."""
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def audit_stamp(ms: np.ndarray) -> pa.Array:
    """auditd's `<seconds>.<millis>` of epoch milliseconds."""
    ms = np.asarray(ms, dtype=np.int64)
    frac = pc.utf8_lpad(num(ms % 1000), 3, "0")
    return pc.binary_join_element_wise(num(ms // 1000), frac, ".")


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day of days since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month, day


def utc_text(ms: np.ndarray, iso: bool = False) -> pa.Array:
    """Sysmon UtcTime ("2026-11-02 10:00:00.123") or, with `iso`, "2026-11-02T10:00:00.123Z"."""
    ms = np.asarray(ms, dtype=np.int64)
    n = len(ms)
    days, rest = np.divmod(ms, 86_400_000)
    year, month, day = _civil(days)
    width = 24 if iso else 23
    mat = np.empty((n, width), dtype=np.uint8)
    fields = ((0, 4, year), (5, 2, month), (8, 2, day), (11, 2, rest // 3_600_000), (14, 2, rest // 60_000 % 60),
              (17, 2, rest // 1000 % 60), (20, 3, rest % 1000))
    for at, digits, value in fields:
        for k in range(digits):
            mat[:, at + digits - 1 - k] = 48 + (value // 10**k) % 10
    for at, char in ((4, "-"), (7, "-"), (10, "T" if iso else " "), (13, ":"), (16, ":"), (19, ".")):
        mat[:, at] = ord(char)
    if iso:
        mat[:, 23] = ord("Z")
    offsets = np.arange(n + 1, dtype=np.int32) * width
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(mat.tobytes()))


def json_text(value: str) -> str:
    """A string escaped for use inside JSON double quotes."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


def audit_value(value: str) -> str:
    """An untrusted auditd string field: quoted when plain printable text, else upper-case hex."""
    if value and value.isascii() and value.isprintable() and " " not in value and '"' not in value:
        return f'"{value}"'
    return value.encode().hex().upper()


def proctitle_value(argv: list[str]) -> str:
    """PROCTITLE as auditd logs it: the NUL-separated argv in hex unless it is one plain word."""
    if len(argv) == 1:
        return audit_value(argv[0])
    return "\x00".join(argv).encode().hex().upper()


def _join(*pieces: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*[p if isinstance(p, pa.Array) else pa.scalar(p) for p in pieces], "")


def sysmon_net_lines(
    *,
    ms: np.ndarray,
    record: np.ndarray,
    computer: pa.Array,
    sysmon_pid: np.ndarray,
    guid: pa.Array,
    pid: np.ndarray,
    image: pa.Array,
    user: pa.Array,
    udp: np.ndarray,
    initiated: np.ndarray,
    src_ip: np.ndarray,
    src_port: np.ndarray,
    dst_ip: np.ndarray,
    dst_port: np.ndarray,
    src_name: pa.Array,
) -> pa.Array:
    """Sysmon event 3 (NetworkConnect) lines, each ending in a newline; `image`, `user`, `computer` JSON-escaped.

    For Initiated=true the Source is this host; for Initiated=false (an accepted connection) this
    writes the Source as the local, listening side and the Destination as the remote peer.
    """
    n = len(ms)
    created = np.asarray(ms) + 1 + (np.asarray(record) % 37)
    proto = pc.if_else(pa.array(np.asarray(udp, dtype=bool)), pa.scalar("udp"), pa.scalar("tcp"))
    init = pc.if_else(pa.array(np.asarray(initiated, dtype=bool)), pa.scalar("true"), pa.scalar("false"))
    if n == 0:
        return pa.array([], pa.string())
    return _join(
        '{"@timestamp":"', utc_text(created, iso=True), '","host":{"name":"', computer, '"},"winlog":{"channel":"',
        SYSMON_CHANNEL, '","computer_name":"', computer, '","event_id":3,"provider_name":"', SYSMON_PROVIDER,
        '","record_id":', num(record), ',"process":{"pid":', num(sysmon_pid), ',"thread":{"id":',
        num(sysmon_pid + 812), '}},"event_data":{"RuleName":"-","UtcTime":"', utc_text(ms), '","ProcessGuid":"',
        guid, '","ProcessId":"', num(pid), '","Image":"', image, '","User":"', user, '","Protocol":"', proto,
        '","Initiated":"', init, '","SourceIsIpv6":"false","SourceIp":"', ipv4_text(src_ip),
        '","SourceHostname":"', src_name, '","SourcePort":"', num(src_port), '","SourcePortName":"',
        _PORT_NAME.take(pa.array(np.asarray(src_port, dtype=np.int64))),
        '","DestinationIsIpv6":"false","DestinationIp":"', ipv4_text(dst_ip),
        '","DestinationHostname":"-","DestinationPort":"', num(dst_port), '","DestinationPortName":"',
        _PORT_NAME.take(pa.array(np.asarray(dst_port, dtype=np.int64))), '"}}}\n',
    )


def sysmon_exec_line(
    *, ms: int, record: int, computer: str, sysmon_pid: int, data: dict[str, str]
) -> str:
    """One Sysmon event 1 (ProcessCreate) line with its newline; `data` is the event data in Sysmon's order."""
    when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    created = dt.datetime.fromtimestamp((ms + 1 + record % 37) / 1000, dt.UTC)
    event_data = {"RuleName": "-", "UtcTime": when.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}", **data}
    obj = {
        "@timestamp": created.strftime("%Y-%m-%dT%H:%M:%S.") + f"{(ms + 1 + record % 37) % 1000:03d}Z",
        "host": {"name": computer},
        "winlog": {
            "channel": SYSMON_CHANNEL, "computer_name": computer, "event_id": 1, "provider_name": SYSMON_PROVIDER,
            "record_id": record, "process": {"pid": sysmon_pid, "thread": {"id": sysmon_pid + 812}},
            "event_data": event_data,
        },
    }
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def audit_net_lines(
    *,
    ms: np.ndarray,
    serial: np.ndarray,
    node: pa.Array,
    accept: np.ndarray,
    exit_code: np.ndarray,
    fd: np.ndarray,
    pointer: pa.Array,
    ppid: np.ndarray,
    pid: np.ndarray,
    uid: np.ndarray,
    auid: np.ndarray,
    ses: np.ndarray,
    comm: pa.Array,
    exe: pa.Array,
    proctitle: pa.Array,
    addr: np.ndarray,
    port: np.ndarray,
) -> pa.Array:
    """SYSCALL + SOCKADDR + PROCTITLE records of connect(2) / accept(2) events: one 3-line text per event.

    `comm` and `exe` are already rendered as auditd values (quoted or hex); `addr`/`port` are the
    destination of a connect or the peer of an accept.
    """
    n = len(ms)
    if n == 0:
        return pa.array([], pa.string())
    accept = np.asarray(accept, dtype=bool)
    head = _join("node=", node, " type=")
    stamp = _join(" msg=audit(", audit_stamp(ms), ":", num(serial), "): ")
    exit_code = np.asarray(exit_code, dtype=np.int64)
    success = pc.if_else(pa.array(exit_code >= 0), pa.scalar("yes"), pa.scalar("no"))
    uid_t = num(uid)
    return _join(
        head, "SYSCALL", stamp, "arch=c000003e syscall=",
        pc.if_else(pa.array(accept), pa.scalar("43"), pa.scalar("42")),
        " success=", success, " exit=", num(exit_code), " a0=", hex_fixed(fd, 1, upper=False),
        " a1=", pointer, " a2=", pc.if_else(pa.array(accept), pointer, pa.scalar("10")),
        " a3=0 items=0 ppid=", num(ppid), " pid=", num(pid), " auid=", num(auid), " uid=", uid_t, " gid=", uid_t,
        " euid=", uid_t, " suid=", uid_t, " fsuid=", uid_t, " egid=", uid_t, " sgid=", uid_t, " fsgid=", uid_t,
        " tty=(none) ses=", num(ses), " comm=", comm, " exe=", exe, ' subj=unconfined key="network"\n',
        head, "SOCKADDR", stamp, "saddr=0200", hex_fixed(port, 4), hex_fixed(addr, 8), "0000000000000000\n",
        head, "PROCTITLE", stamp, "proctitle=", proctitle, "\n",
    )


def audit_exec_lines(
    *, ms: int, serial: int, node: str, ppid: int, pid: int, uid: int, auid: int, ses: int, exe: str,
    argv: list[str], cwd: str, inode: int,
) -> str:
    """The records of one execve(2) event (SYSCALL, EXECVE, CWD, two PATH, PROCTITLE) as one text."""
    head = f"node={node} type="
    stamp = f" msg=audit({ms // 1000}.{ms % 1000:03d}:{serial}): "
    ids = " ".join(f"{k}={uid}" for k in ("uid", "gid", "euid", "suid", "fsuid", "egid", "sgid", "fsgid"))
    comm = exe.rsplit("/", 1)[-1][:15]
    args = " ".join(f"a{i}={audit_value(a)}" for i, a in enumerate(argv))
    ptr = 0x55D0_0000_0000 + (inode * 4099) % 0xFFFF_FFFF
    return "\n".join([
        f"{head}SYSCALL{stamp}arch=c000003e syscall=59 success=yes exit=0 a0={ptr:x} a1={ptr + 0x1A0:x} "
        f"a2={ptr + 0x3C8:x} a3=0 items=2 ppid={ppid} pid={pid} auid={auid} {ids} tty=(none) ses={ses} "
        f'comm={audit_value(comm)} exe={audit_value(exe)} subj=unconfined key="exec"',
        f"{head}EXECVE{stamp}argc={len(argv)} {args}",
        f"{head}CWD{stamp}cwd={audit_value(cwd)}",
        f"{head}PATH{stamp}item=0 name={audit_value(exe)} inode={inode} dev=08:02 mode=0100755 ouid=0 ogid=0 "
        "rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0",
        f'{head}PATH{stamp}item=1 name="/lib64/ld-linux-x86-64.so.2" inode=1311091 dev=08:02 mode=0100755 '
        "ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0",
        f"{head}PROCTITLE{stamp}proctitle={proctitle_value(argv)}",
    ]) + "\n"


class LineWriter:
    """Appends texts (each ending in a newline) to one endpoint log per simulated day."""

    def __init__(self, root: Path, name: str) -> None:
        self.root = root
        self.name = name
        self.files: list[str] = []
        self._date: str | None = None
        self._fh: BinaryIO | None = None

    def _open(self, date: str) -> BinaryIO:
        if date != self._date or self._fh is None:
            self.close()
            path = self.root / date / self.name
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path, "ab")  # noqa: SIM115 - kept open across chunks of the day
            self._date = date
            if str(path) not in self.files:
                self.files.append(str(path))
        return self._fh

    def write_merged(self, date: str, bulk: pa.Array, bulk_ms: np.ndarray, few: list[str],
                     few_ms: np.ndarray) -> None:
        """Write two time-sorted streams merged by time: rendered `bulk` texts and a short list `few`."""
        fh = self._open(date)
        if not len(bulk):
            for text in few:
                fh.write(text.encode())
            return
        data = bulk.buffers()[2]
        offsets = np.frombuffer(bulk.buffers()[1], dtype=np.int32, count=len(bulk) + 1, offset=bulk.offset * 4)
        at = np.searchsorted(np.asarray(bulk_ms), np.asarray(few_ms), side="right")
        prev = 0
        for k, text in enumerate(few):
            if at[k] > prev:
                fh.write(memoryview(data)[int(offsets[prev]) : int(offsets[at[k]])])  # type: ignore[index]
                prev = int(at[k])
            fh.write(text.encode())
        if len(bulk) > prev:
            fh.write(memoryview(data)[int(offsets[prev]) : int(offsets[len(bulk)])])  # type: ignore[index]

    def close(self) -> None:
        """Close the open file, if any."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            self._date = None
