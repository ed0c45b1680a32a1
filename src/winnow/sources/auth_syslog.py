"""Authentication lines of syslog (sshd, PAM, sudo, su) -> ``auth.logon``.

Reads ``/var/log/auth.log``, ``/var/log/secure`` and ``/var/log/messages`` style files with RFC
3164, RFC 5424 or ISO (rsyslog) headers (see :mod:`winnow.sources.syslog_header`). Lines of other
programs (kernel, cron, ...) are counted as skipped ("other syslog"), not warned about; lines of
an authentication program that carry no authentication event (``check pass; user unknown``,
reverse-mapping notices, ...) are counted as skipped under that program's name. A line without a
syslog time stamp is a warning.

**Time.** RFC 3164 time stamps have no zone and no year: they are read as UTC, and the year is
the current UTC year, or the previous one when the first line's month is more than one month
ahead of the current month; within a file a month jump of more than six months backwards
(December -> January) moves to the next year, forwards to the previous one
(:class:`~winnow.sources.syslog_header.YearGuess`). RFC 5424 and ISO time stamps keep their offset.

**What a row is.** ``action`` is ``logon`` (sshd ``Accepted``/``Failed``), ``invalid_user``
(sshd ``Invalid user``), ``pam_failure`` (PAM ``authentication failure``, ``PAM N more
authentication failures``), ``disconnect`` (connection closed, reset or dropped, too many
failures), ``session_open``/``session_close`` (PAM sessions of sshd, su, sudo, login, cron ...) or
``sudo`` (one sudo command, or sudo's ``N incorrect password attempts``). ``host``, ``process``
and ``pid`` come from the syslog header; ``user`` is the target account (sudo's ``USER=``, su's
and PAM's ``user``), ``subject_user`` the caller (sudo's invoking user, PAM ``ruser``, a PAM
session's ``by``); ``logon_type`` is ``ssh`` for sshd, ``console`` for login, else the PAM service
(``sudo``, ``su``, ``cron``, ``gdm``...). Everything else the line says goes to ``extra``: ``key``
(publickey fingerprint), ``submethod`` (``pam`` of ``keyboard-interactive/pam``), ``rhost``,
``tty``, ``logname``, ``uid``, ``pwd``, ``preauth``, disconnect ``code`` and ``message``,
``user_state`` (authenticating / invalid), ``more`` (PAM N more), ``repeated``, ``counted_on_line``.

**Counting attempts.** sshd and PAM log the same password attempt twice, so ``attempts`` says how
many authentication attempts a row stands for, and ``sum(attempts)`` (never a row count) is the
number of attempts:

* sshd ``Accepted``/``Failed`` lines: 1 each; ``message repeated N times: [ Failed ... ]`` is
  expanded to N rows of 1 (all with the line number of the summary line, and ``repeated: N``
  in ``extra``), as is sysklogd's ``last message repeated N times`` for the line before it. A
  count above 10,000 is kept as one row with ``attempts = N`` and a warning.
* sudo: 1 per command, N for ``N incorrect password attempts``.
* PAM ``authentication failure`` lines are the echo of an attempt when the program that asked
  PAM logs its own result (sshd ``Failed``, sudo ``incorrect password attempts``): such a line is
  paired with the next failure result of the same host and pid (program name when the tag has no
  pid, as Debian's ``sudo:``) within 1,000 lines and gets 0
  (``extra.counted_on_line`` names the line that counts it). A PAM failure that is followed by
  a success of its process, or that never pairs while its program never logs its own results
  in this file, is the only record of that attempt and gets 1 (old Red Hat
  ``sshd(pam_unix)`` lines in ``/var/log/messages``, su, login, gdm ...).
* ``Invalid user``, ``PAM N more authentication failures``, disconnects and sessions: 0 (they
  describe attempts counted on other lines).

**Attacker-controlled text.** User names come from the network and may hold anything (spaces,
`` from 6.6.6.6 port 1``, escape sequences, bytes that are not UTF-8): every sshd message is
matched anchored on its right end, with the user name as the greedy middle part, so a forged
``from`` inside a user name cannot change the source address. Bytes that are not UTF-8 are kept
as ``\\xNN`` escapes without a warning (a warning per line would let a client get the file
abandoned). ``src_ip`` holds addresses only; a host name (``UseDNS``, PAM ``rhost=``) goes to
``extra.rhost``. sudo's ``PWD`` and ``COMMAND`` are written by the caller and read left to right.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import BinaryIO, ClassVar

import pyarrow as pa

from winnow.addresses import is_address
from winnow.schema import get_table
from winnow.sources.base import Batch, ParseContext, Source
from winnow.sources.blocks import read_blocks, split_lines
from winnow.sources.registry import register
from winnow.sources.syslog_header import BadTimestamp, Header, YearGuess, parse_header

TABLE = "auth.logon"
#: rows per batch
BATCH_ROWS = 65_536
#: lines within which a PAM failure must meet its process's own result to be an echo
PAIR_WINDOW = 1_000
#: "message repeated N times" expands to at most this many rows; above, one row with attempts = N
MAX_REPEAT = 10_000

_SSHD = frozenset({"sshd", "sshd-session", "sshd-auth"})
#: programs whose own messages are read (besides PAM lines, read from any program)
_AUTH_PROGRAMS = _SSHD | {"sudo", "su", "login"}
#: services that log their own result after PAM (so their PAM failures are echoes)
_SELF_LOGGING = frozenset({"sshd", "sudo"})
_LOGON_TYPES = {"sshd": "ssh", "login": "console"}

_PORT = r"(?P<port>\d{1,5})"
#: an IPv4 or IPv6 address (not a bare number, which a port would also be)
_ADDR = r"(?P<ip>\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*(?:%\w+)?)"
_PRE = r"(?P<pre> \[preauth\])?"

_REPEATED = re.compile(r"message repeated (?P<n>\d{1,9}) times: \[ ?(?P<inner>.*)\]$")
_LAST_REPEATED = re.compile(r"last message repeated (?P<n>\d{1,9}) times?$")
_PAM_PREFIX = re.compile(r"pam_unix\((?P<service>[^:()\s]+):(?P<kind>\w+)\): (?P<rest>.*)$")
_PAM_KV = re.compile(
    r"logname=(?P<logname>.*?) uid=(?P<uid>\d*) euid=(?P<euid>\d*) tty=(?P<tty>\S*) ruser=(?P<ruser>.*?) "
    r"rhost=(?P<rhost>\S*)(?:\s+user=(?P<user>.*?))?\s*$"
)
_SESSION = re.compile(
    r"session (?P<what>opened|closed) for user (?P<user>.*?)(?:\(uid=(?P<uid>\d+)\))?"
    r"(?: by (?P<by>.*?)(?:\(uid=(?P<by_uid>\d*)\))?)?\s*$"
)

_SSHD_RESULT = re.compile(
    r"(?P<verb>Accepted|Failed) (?P<method>\S+) for (?P<invalid>invalid user )?(?P<user>.*) from (?P<ip>\S+) "
    r"port " + _PORT + r"(?: ssh2?)?(?:: (?P<key>.*))?$"
)
_SSHD_INVALID = re.compile(r"(?:Invalid|Illegal) user (?P<user>.*) from (?P<ip>\S+)(?: port " + _PORT + ")?$")
_SSHD_MAX = re.compile(
    r"error: maximum authentication attempts exceeded for (?P<invalid>invalid user )?(?P<user>.*) from "
    r"(?P<ip>\S+) port " + _PORT + r"(?: ssh2?)?" + _PRE + "$"
)
_SSHD_CLOSED = re.compile(
    r"(?P<verb>Disconnected from|Connection closed by|Connection reset by)"
    r"(?: (?P<who>authenticating user|invalid user|user) (?P<user>.*))? " + _ADDR + "(?: port " + _PORT + ")?"
    + _PRE + "$"
)
_DISCONNECT_TEXT = r": ?(?P<code>\d{1,4}): ?(?P<text>.*)$"
_SSHD_RECEIVED = (
    re.compile(r"(?:error: )?Received disconnect from (?P<ip>\S+) port " + _PORT + _DISCONNECT_TEXT),
    re.compile(r"(?:error: )?Received disconnect from (?P<ip>\S+)" + _DISCONNECT_TEXT),
)
_SSHD_NO_ID = re.compile(r"Did not receive identification string from (?P<ip>\S+)(?: port " + _PORT + ")?$")
_SSHD_DISCONNECTING = re.compile(
    r"Disconnecting(?: (?:authenticating|invalid) user (?P<user>.*) " + _ADDR + " port " + _PORT + ")?: "
    r"(?P<text>.*?)" + _PRE + "$"
)
_CLOSED_REASONS = {
    "Disconnected from": "disconnected", "Connection closed by": "connection closed",
    "Connection reset by": "connection reset",
}
_TOO_MANY = re.compile(r"Too many authentication failures(?: for (?:invalid user )?(?P<user>.*))?$")
_SSHD_PAM_MORE = re.compile(r"PAM (?P<n>\d{1,6}) more authentication failures?; (?P<kv>.*)$")
_SSHD_BREAK_IN = re.compile(r"reverse mapping checking getaddrinfo|Address \S+ maps to .* POSSIBLE BREAK-IN")

_SUDO = re.compile(r"\s*(?P<user>[^\s:][^:]*?) : (?P<rest>.*)$")
_SUDO_KEY = re.compile(r"(?P<key>[A-Z]{2,10})=(?P<value>.*)$", re.S)
_SUDO_BAD_PASSWORD = re.compile(r"(?P<n>\d{1,6}) incorrect password attempts?")


#: whether a text is an address, remembered for the addresses a log repeats
_is_ip = lru_cache(maxsize=65_536)(is_address)


def _split_program(program: str) -> tuple[str, bool]:
    """(process name, whether the tag is an old Red Hat ``name(pam_unix)`` one) of a syslog program tag."""
    if program.endswith("(pam_unix)"):
        return program[: -len("(pam_unix)")], True
    return program, False


def _service(process: str | None) -> str:
    """The service a process stands for: sshd for every sshd flavour, else the process name."""
    return "sshd" if process in _SSHD else process or ""


def _where(match: re.Match[str]) -> tuple[str | None, str | None]:
    """(address, port) a message names; the port is optional in some message shapes."""
    return match["ip"], match.groupdict().get("port")


def _port(text: str | None) -> int | None:
    if not text:
        return None
    value = int(text)
    return value if value <= 65_535 else None


@dataclass(slots=True)
class _Row:
    """One auth.logon row being built; ``attempts`` None means "PAM echo or not: not known yet"."""

    ts: int
    line: int
    host: str | None
    process: str | None
    pid: int | None
    action: str
    outcome: str
    logon_type: str | None = None
    user: str | None = None
    src_ip: str | None = None
    src_port: int | None = None
    method: str | None = None
    reason: str | None = None
    subject_user: str | None = None
    command: str | None = None
    attempts: int | None = 0
    extra: dict = field(default_factory=dict)

    def source(self, address: str | None, port: str | None = None) -> _Row:
        """Set where the attempt came from: an address goes to src_ip, a host name to extra.rhost."""
        if address:
            if _is_ip(address):
                self.src_ip = address
            else:
                self.extra["rhost"] = address
        self.src_port = _port(port)
        return self


#: auth.logon columns a row fills
_COLUMNS = ("ts", "host", "action", "outcome", "user", "src_ip", "src_port", "logon_type", "method", "reason",
            "subject_user", "process", "pid", "attempts", "command")


@dataclass(frozen=True, slots=True)
class _Event:
    """Where a message came from: its header, with the program split into process and service."""

    ts: int
    line: int
    host: str | None
    process: str
    pid: int | None
    service: str  # sshd for every sshd flavour, else the process name
    pam_only: bool  # old Red Hat "sshd(pam_unix)" tags: every message is a PAM message

    @classmethod
    def of(cls, header: Header, line: int) -> _Event:
        process, pam_only = _split_program(header.program or "")
        return cls(header.ts_us, line, header.host, process, header.pid, _service(process), pam_only)

    @property
    def key(self) -> tuple[str | None, int | str]:
        """Which process on which host: the pid, or the program name when the tag has no pid (Debian sudo)."""
        return self.host, self.pid if self.pid is not None else self.process

    def row(self, action: str, outcome: str, **values) -> _Row:
        return _Row(self.ts, self.line, self.host, self.process, self.pid, action, outcome, **values)


class _Reader:
    """Turns lines into rows, holding back PAM failures until it knows whether they are echoes."""

    def __init__(self, ctx: ParseContext, now: dt.datetime) -> None:
        self.ctx = ctx
        self.years = YearGuess(now)
        self.rows: list[_Row] = []
        self.pending: dict[tuple[str | None, int | str], _Row] = {}  # by _Event.key; insertion order is line order
        self.self_logging: set[tuple[str | None, str]] = set()  # (host, service) seen logging own results
        self.previous: tuple[_Event, str] | None = None  # the last auth message, for "last message repeated"

    # ------------------------------------------------------------ lines

    def feed(self, number: int, raw: bytes) -> None:
        text = raw.decode("utf-8", "backslashreplace")
        if not text.strip():
            return
        try:
            header = parse_header(text, self.years)
        except BadTimestamp as exc:
            self.ctx.warn(number, str(exc), raw)
            return
        if header is None:
            self.ctx.warn(number, "not a syslog line: no time stamp", raw)
            return
        self._expire(number)
        event = _Event.of(header, number)
        if header.program is None:
            self._untagged(event, header.message)
            return
        skipped = self._message(event, header.message)
        if skipped is not None:
            self.ctx.skip_unsupported(skipped, 1)
        self.previous = None if skipped == "other syslog" else (event, header.message)

    def _untagged(self, event: _Event, message: str) -> None:
        """A line without a program tag: sysklogd's "last message repeated N times", or other syslog."""
        match = _LAST_REPEATED.match(message)
        if match is None or self.previous is None or self.previous[0].host != event.host:
            self.ctx.skip_unsupported("other syslog", 1)
            return
        before, text = self.previous
        again = _Event(event.ts, event.line, before.host, before.process, before.pid, before.service, before.pam_only)
        skipped = self._repeat(again, text, int(match["n"]))
        if skipped is not None:
            self.ctx.skip_unsupported(skipped, 1)

    def _repeat(self, event: _Event, message: str, n: int) -> str | None:
        """Add the rows of a message logged ``n`` times; return the skip kind when it yields none."""
        if not _is_auth(event.process, event.pam_only, message):
            return "other syslog"
        start = len(self.rows)
        skipped = self._message(event, message)
        if n > MAX_REPEAT:
            self.ctx.warn(event.line, f"repeat count {n} above {MAX_REPEAT}: kept as one row with attempts={n}")
            for row in self.rows[start:]:
                row.attempts = n if row.attempts else row.attempts
        else:
            for _ in range(n - 1):
                self._message(event, message)
        for row in self.rows[start:]:
            row.extra["repeated"] = n
        return skipped

    def _message(self, event: _Event, message: str) -> str | None:
        """Add the rows of one message; return the skip kind when it yields none."""
        match = _REPEATED.match(message)
        if match is not None:
            return self._repeat(event, match["inner"], int(match["n"]))
        if event.pam_only:
            return self._pam(event, event.service, message)
        match = _PAM_PREFIX.match(message)
        if match is not None:
            return self._pam(event, match["service"], match["rest"])
        if event.service == "sshd":
            return self._sshd(event, message)
        if event.service == "sudo":
            return self._sudo(event, message)
        return f"{event.process} other" if event.process in _AUTH_PROGRAMS else "other syslog"

    # ------------------------------------------------------------ PAM

    def _pam(self, event: _Event, service: str, message: str) -> str | None:
        logon_type = _LOGON_TYPES.get(service, service)
        if message.startswith("authentication failure; "):
            match = _PAM_KV.match(message, len("authentication failure; "))
            if match is None:
                return f"{event.process} other"
            row = self._pam_row(event, match, logon_type, "authentication failure")
            self.rows.append(row)
            self._await_result(event, row, service)
            return None
        match = _SESSION.match(message)
        if match is not None:
            row = event.row(f"session_{'open' if match['what'] == 'opened' else 'close'}", "success",
                            logon_type=logon_type, user=match["user"] or None, subject_user=match["by"] or None)
            if match["uid"]:
                row.extra["uid"] = int(match["uid"])
            self.rows.append(row)
            return None
        return f"{event.process} other"

    def _pam_row(self, event: _Event, match: re.Match[str], logon_type: str, reason: str) -> _Row:
        row = event.row("pam_failure", "failure", logon_type=logon_type, user=match["user"] or None,
                        subject_user=match["ruser"] or None, reason=reason).source(match["rhost"])
        for key in ("tty", "logname"):
            if match[key]:
                row.extra[key] = match[key]
        return row

    def _await_result(self, event: _Event, row: _Row, service: str) -> None:
        """Hold a PAM failure until its process logs its own result (see the module docstring)."""
        if service not in _SELF_LOGGING:
            row.attempts = 1
            return
        earlier = self.pending.pop(event.key, None)
        if earlier is not None:  # two PAM failures without a result between them: the first stood alone
            earlier.attempts = 1
        row.attempts = None
        self.pending[event.key] = row

    def _result(self, event: _Event, failed: bool) -> None:
        """The process logged its own result: a held PAM failure is its echo (failed) or stood alone."""
        row = self.pending.pop(event.key, None)
        if failed:
            self.self_logging.add((event.host, event.service))
        if row is None:
            return
        row.attempts = 0 if failed else 1
        if failed:
            row.extra["counted_on_line"] = event.line

    def _expire(self, line: int, final: bool = False) -> None:
        """Settle held PAM failures that met no result within the window (or at the end of the file)."""
        while self.pending:
            key, row = next(iter(self.pending.items()))
            if not final and row.line > line - PAIR_WINDOW:
                return
            del self.pending[key]
            row.attempts = 0 if (row.host, _service(row.process)) in self.self_logging else 1

    # ------------------------------------------------------------ sshd

    def _sshd(self, event: _Event, message: str) -> str | None:
        handlers = _SSHD_HANDLERS.get(message[: message.find(" ")], ())
        for handler in handlers:
            row = handler(self, event, message)
            if row is not None:
                if row.logon_type is None:
                    row.logon_type = "ssh"
                self.rows.append(row)
                return None
        return "sshd reverse mapping" if _SSHD_BREAK_IN.match(message) else f"{event.process} other"

    def _sshd_result(self, event: _Event, message: str) -> _Row | None:
        match = _SSHD_RESULT.match(message)
        if match is None:
            return None
        failed = match["verb"] == "Failed"
        method, _, submethod = match["method"].partition("/")
        row = event.row("logon", "failure" if failed else "success", user=match["user"], method=method,
                        reason="invalid user" if match["invalid"] else None, attempts=1)
        row.source(*_where(match))
        if submethod:
            row.extra["submethod"] = submethod
        if match["key"]:
            row.extra["key"] = match["key"]
        self._result(event, failed)
        return row

    def _sshd_invalid(self, event: _Event, message: str) -> _Row | None:
        match = _SSHD_INVALID.match(message)
        if match is None:
            return None
        row = event.row("invalid_user", "failure", user=match["user"], reason="invalid user")
        return row.source(*_where(match))

    def _sshd_closed(self, event: _Event, message: str) -> _Row | None:
        match = _SSHD_CLOSED.match(message) or _SSHD_MAX.match(message)
        if match is None:
            return None
        if "verb" in match.re.groupindex:
            row = event.row("disconnect", "unknown", user=match["user"], reason=_CLOSED_REASONS[match["verb"]])
            if match["who"]:
                row.extra["user_state"] = match["who"].split()[0]
        else:
            row = event.row("disconnect", "failure", user=match["user"],
                            reason="maximum authentication attempts exceeded")
            if match["invalid"]:
                row.extra["user_state"] = "invalid"
        if match["pre"]:
            row.extra["preauth"] = True
        return row.source(*_where(match))

    def _sshd_received(self, event: _Event, message: str) -> _Row | None:
        for pattern in _SSHD_RECEIVED:
            match = pattern.match(message)
            if match is not None:
                break
        else:
            return None
        text = match["text"]
        row = event.row("disconnect", "unknown", reason="received disconnect")
        if text.endswith(" [preauth]"):
            text = text[: -len(" [preauth]")]
            row.extra["preauth"] = True
        row.extra.update(code=int(match["code"]), message=text)
        return row.source(*_where(match))

    def _sshd_other_disconnect(self, event: _Event, message: str) -> _Row | None:
        match = _SSHD_NO_ID.match(message)
        if match is not None:
            return event.row("disconnect", "unknown", reason="no identification string").source(*_where(match))
        match = _SSHD_DISCONNECTING.match(message)
        if match is None:
            return None
        too_many = _TOO_MANY.match(match["text"])
        row = event.row("disconnect", "failure" if too_many else "unknown",
                        reason="too many authentication failures" if too_many else match["text"],
                        user=match["user"] or (too_many["user"] if too_many else None))
        if match["pre"]:
            row.extra["preauth"] = True
        return row.source(*_where(match))

    def _sshd_pam_more(self, event: _Event, message: str) -> _Row | None:
        match = _SSHD_PAM_MORE.match(message)
        kv = _PAM_KV.match(match["kv"]) if match is not None else None
        if kv is None:
            return None
        n = int(match["n"])  # type: ignore[index]
        row = self._pam_row(event, kv, "ssh", f"PAM {n} more authentication failures")
        row.extra["more"] = n
        return row

    # ------------------------------------------------------------ sudo

    def _sudo(self, event: _Event, message: str) -> str | None:
        match = _SUDO.match(message)
        if match is None:
            return "sudo other"
        reasons: list[str] = []
        fields: dict[str, str] = {}
        parts = match["rest"].split(" ; ")
        for i, part in enumerate(parts):
            key = _SUDO_KEY.match(part)
            if key is None:
                reasons.append(part.strip())
            elif key["key"] == "COMMAND":
                fields["COMMAND"] = " ; ".join([key["value"], *parts[i + 1 :]])
                break
            else:
                fields[key["key"]] = key["value"]
        if "COMMAND" not in fields and "TTY" not in fields:
            return "sudo other"
        bad_password = next((m for r in reasons if (m := _SUDO_BAD_PASSWORD.match(r))), None)
        row = event.row("sudo", "failure" if reasons else "success", logon_type="sudo", user=fields.get("USER"),
                        subject_user=match["user"], command=fields.get("COMMAND"),
                        reason="; ".join(reasons) or None, attempts=int(bad_password["n"]) if bad_password else 1)
        for key in ("TTY", "PWD", "GROUP", "ENV"):
            if key in fields:
                row.extra[key.lower()] = fields[key]
        self._result(event, failed=bad_password is not None)
        self.rows.append(row)
        return None

    # ------------------------------------------------------------ batches

    def take(self, final: bool = False) -> list[_Row]:
        """Rows whose attempts are settled, in order (all of them at the end of the file)."""
        if final:
            self._expire(0, final=True)
            ready = len(self.rows)
        else:
            ready = next((i for i, row in enumerate(self.rows) if row.attempts is None), len(self.rows))
        out, self.rows = self.rows[:ready], self.rows[ready:]
        return out


#: sshd message handlers by the message's first word (each handler checks the whole message)
_SSHD_HANDLERS: dict[str, tuple[Callable[[_Reader, _Event, str], _Row | None], ...]] = {
    "Accepted": (_Reader._sshd_result,), "Failed": (_Reader._sshd_result,),
    "Invalid": (_Reader._sshd_invalid,), "Illegal": (_Reader._sshd_invalid,),
    "Disconnected": (_Reader._sshd_closed,), "Connection": (_Reader._sshd_closed,),
    "error:": (_Reader._sshd_closed, _Reader._sshd_received), "Received": (_Reader._sshd_received,),
    "Did": (_Reader._sshd_other_disconnect,), "Disconnecting": (_Reader._sshd_other_disconnect,),
    "Disconnecting:": (_Reader._sshd_other_disconnect,), "PAM": (_Reader._sshd_pam_more,),
}


def _batch(rows: list[_Row]) -> Batch:
    schema = get_table(TABLE).arrow_schema
    data = {"ts": pa.array([r.ts for r in rows], pa.int64()).cast(pa.timestamp("us", tz="UTC"))}
    for name in _COLUMNS:
        if name != "ts":
            data[name] = pa.array([getattr(r, name) for r in rows], schema.field(name).type)
    data["extra"] = pa.array(
        [json.dumps(r.extra, ensure_ascii=False, separators=(",", ":")) if r.extra else None for r in rows],
        pa.string(),
    )
    data["_line"] = pa.array([r.line for r in rows], pa.int64())
    return Batch(TABLE, pa.table(data))


def _is_auth(process: str, pam_only: bool, message: str) -> bool:
    """Whether a message may be an authentication event: an auth program's, or a PAM one."""
    return pam_only or process in _AUTH_PROGRAMS or message.startswith(("pam_unix(", "message repeated "))


def _is_auth_line(header: Header) -> bool:
    return _is_auth(*_split_program(header.program or ""), header.message)


@register
class AuthSyslog(Source):
    """See the module docstring.

    Args:
        now: returns the reference time for year-less time stamps (default: the current UTC time).
    """

    name: ClassVar[str] = "auth_syslog"
    description: ClassVar[str] = (
        "syslog authentication lines (auth.log, secure, messages; RFC 3164/5424/ISO headers): sshd logons, "
        "disconnects and invalid users, PAM failures and sessions, sudo, su. Year-less RFC 3164 times are UTC in "
        "the current year (the previous one when the month is over a month ahead; December -> January rolls over)"
    )
    tables: ClassVar[tuple[str, ...]] = (TABLE,)

    def __init__(self, now: Callable[[], dt.datetime] | None = None) -> None:
        self.now = now or (lambda: dt.datetime.now(dt.UTC))

    def sniff(self, head: bytes, filename: str) -> bool:
        lines = [ln for ln in split_lines(head)[:200] if ln.strip()]
        if len(lines) > 1 and not head.endswith(b"\n"):
            lines.pop()  # cut off by the head size
        years = YearGuess(self.now())
        parsed = []
        for raw in lines:
            try:
                parsed.append(parse_header(raw.decode("utf-8", "backslashreplace"), years))
            except BadTimestamp:
                parsed.append(None)
            if parsed[0] is None:  # not syslog (a binary file, another format): no need to read on
                return False
        if not parsed or sum(h is not None for h in parsed) < 0.8 * len(parsed):
            return False
        return any(h is not None and _is_auth_line(h) for h in parsed)

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[Batch]:
        reader = _Reader(ctx, self.now())
        threshold = BATCH_ROWS
        for block, first in read_blocks(stream, ctx):
            for i, raw in enumerate(split_lines(block)):
                reader.feed(first + i, raw)
                if len(reader.rows) >= threshold:
                    rows = reader.take()
                    if rows:
                        yield _batch(rows)
                    threshold = len(reader.rows) + BATCH_ROWS  # rows held behind an unsettled PAM failure wait
        rows = reader.take(final=True)
        if rows:
            yield _batch(rows)
