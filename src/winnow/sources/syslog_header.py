"""Split a syslog line into its header (time, host, program, pid) and message.

Three header shapes are read:

* RFC 3164 / BSD (``Dec 10 06:55:46 LabSZ sshd[24200]: msg``), optionally after a ``<PRI>``.
  The timestamp has no year and no zone: it is read as **UTC**, and the year comes from
  :class:`YearGuess` (see there for the rule).
* RFC 5424 (``<34>1 2024-01-02T03:04:05.123+01:00 host app procid msgid [sd] msg``): the
  structured data is skipped (it is parsed only to find where the message starts).
* ISO timestamps as rsyslog's ``RSYSLOG_FileFormat`` writes them
  (``2024-01-02T03:04:05.123456+00:00 host sshd[1]: msg``), optionally after a ``<PRI>``.

ISO timestamps keep their own offset and are converted to UTC; ones without an offset are
read as UTC. A line whose time cannot be read is not a syslog line (:func:`parse_header`
returns None); a line with a time and a host but no ``program[pid]:`` tag is a syslog line
with ``program`` None.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DAY = dt.date(1970, 1, 1).toordinal()
_US = 1_000_000

_PRI = r"(?:<\d{1,3}>)?"
_BSD = re.compile(
    _PRI + r"(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?P<day>\d{1,2}) "
    r"(?P<h>[01]\d|2[0-3]):(?P<m>[0-5]\d):(?P<s>[0-5]\d|60)(?:\.(?P<frac>\d{1,6}))? +(?P<rest>.*)$"
)
_ISO_TS = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?"
_ISO = re.compile(_PRI + r"(?P<ts>" + _ISO_TS + r") +(?P<rest>.*)$")
_RFC5424 = re.compile(
    r"<\d{1,3}>1 (?P<ts>" + _ISO_TS + r"|-) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) (?P<rest>.*)$"
)
#: host then ``program[pid]:``; the program may carry a ``(pam_unix)`` suffix (old Red Hat PAM)
_HOST_TAG = re.compile(r"(?P<host>\S+) +(?P<prog>[^\s\[\]:]{1,64})(?:\[(?P<pid>\d{1,10})\])?: ?(?P<msg>.*)$")
#: no host: the tag comes first (local logs written without a host name)
_TAG_ONLY = re.compile(r"(?P<prog>[^\s\[\]:]{1,64})\[(?P<pid>\d{1,10})\]: ?(?P<msg>.*)$")
_HOST_ONLY = re.compile(r"(?P<host>\S+) +(?P<msg>.*)$")


@dataclass(frozen=True, slots=True)
class Header:
    """One syslog line taken apart; ``ts_us`` is microseconds since the epoch, UTC."""

    ts_us: int
    host: str | None
    program: str | None
    pid: int | None
    message: str


class YearGuess:
    """Years for year-less RFC 3164 timestamps, one instance per file.

    The first timestamp of a file takes the current UTC year, or the previous year when its
    month is more than one month ahead of the current month (a file read in January holding
    December lines is from last December). Each later line keeps the year of the line before,
    unless its month jumps more than six months: backwards (December -> January) moves to the
    next year, forwards (a stray December line after January ones) to the previous year.

    Args:
        now: the reference time (the current UTC time when ingesting).
    """

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.year: int | None = None
        self.month = 0

    def __call__(self, month: int) -> int:
        if self.year is None:
            self.year = self.now.year - 1 if month > self.now.month + 1 else self.now.year
        elif month < self.month - 6:
            self.year += 1
        elif month > self.month + 6:
            self.year -= 1
        self.month = month
        return self.year


class BadTimestamp(ValueError):
    """The line has a syslog time stamp that names no real time (30 February, month 13)."""


def iso_to_us(text: str) -> int:
    """Microseconds since the epoch of an ISO-8601 time; no offset means UTC."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return (value - _EPOCH) // dt.timedelta(microseconds=1)


@lru_cache(maxsize=4096)
def _day_number(year: int, month: int, day: int) -> int:
    """Days since the epoch; ValueError for a date that does not exist."""
    return dt.date(year, month, day).toordinal() - _EPOCH_DAY


def _bsd_us(match: re.Match[str], years: YearGuess) -> int:
    month = _MONTHS[match["mon"]]
    try:
        day = _day_number(years(month), month, int(match["day"]))
    except ValueError as exc:
        raise BadTimestamp(f"no such date: {match['mon']} {match['day']}") from exc
    seconds = day * 86_400 + int(match["h"]) * 3600 + int(match["m"]) * 60 + min(int(match["s"]), 59)
    frac = match["frac"]
    return seconds * _US + (int(frac.ljust(6, "0")) if frac else 0)


def _tagged(rest: str) -> tuple[str | None, str | None, int | None, str]:
    """(host, program, pid, message) of the part after the time stamp."""
    match = _TAG_ONLY.match(rest)  # first: a host name never holds "[", so this cannot eat one
    if match is not None:
        return None, match["prog"], int(match["pid"]), match["msg"]
    match = _HOST_TAG.match(rest)
    if match is not None:
        pid = match["pid"]
        return match["host"], match["prog"], int(pid) if pid else None, match["msg"]
    match = _HOST_ONLY.match(rest)
    if match is not None:
        return match["host"], None, None, match["msg"]
    return None, None, None, rest


def _skip_structured_data(rest: str) -> str:
    """The message after RFC 5424 structured data (``-`` or ``[id k="v"]...``)."""
    if rest.startswith("-"):
        return rest[2:] if rest.startswith("- ") else rest[1:]
    i, n = 0, len(rest)
    while i < n and rest[i] == "[":
        quoted = False
        i += 1
        while i < n:
            char = rest[i]
            if char == "\\" and quoted:
                i += 2
                continue
            if char == '"':
                quoted = not quoted
            elif char == "]" and not quoted:
                break
            i += 1
        i += 1
    message = rest[i:]
    return message[1:] if message.startswith(" ") else message


def _nil(value: str) -> str | None:
    return None if value == "-" else value


def parse_header(line: str, years: YearGuess) -> Header | None:
    """Take a syslog line apart; None when it has no syslog time stamp.

    Raises:
        BadTimestamp: the time stamp has the right shape but names no real date.
    """
    if line.startswith("<"):
        match = _RFC5424.match(line)
        if match is not None:
            if match["ts"] == "-":
                return None
            try:
                ts = iso_to_us(match["ts"])
            except ValueError as exc:
                raise BadTimestamp(f"bad RFC 5424 time stamp {match['ts']!r}") from exc
            procid = match["procid"]
            message = _skip_structured_data(match["rest"]).removeprefix("\ufeff")
            pid = int(procid) if procid.isdigit() and len(procid) <= 10 else None
            return Header(ts, _nil(match["host"]), _nil(match["app"]), pid, message)
    match = _BSD.match(line)
    if match is not None:
        return Header(_bsd_us(match, years), *_tagged(match["rest"]))
    match = _ISO.match(line)
    if match is not None:
        try:
            ts = iso_to_us(match["ts"])
        except ValueError as exc:
            raise BadTimestamp(f"bad time stamp {match['ts']!r}") from exc
        return Header(ts, *_tagged(match["rest"]))
    return None
