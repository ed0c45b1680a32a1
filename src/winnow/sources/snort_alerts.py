"""Snort alerts -> ids.alert: Snort 3 ``alert_json`` and ``alert_csv``, and the ``alert_fast`` text of Snort 2 and 3.

alert_fast (Snort 2, Snort 3, and Suricata's ``fast.log``, which writes the same lines)::

    11/14-17:31:36.069820 [**] [1:48402:1] "MSG" [**] [Classification: C] [Priority: 1] {TCP} a:p -> b:q

Snort 3 quotes the message, Snort 2 does not; classification, priority, an action (``[Drop]``) and
``[AppID: ..]`` are optional; ICMP addresses have no port.

alert_csv has no header; two layouts are read (Snort 3's ``alert_csv.fields``), told apart by the
number of fields, separator ``, `` with quoted messages:

* the default, 10 fields: ``timestamp, pkt_num, proto, pkt_gen, pkt_len, dir, src_ap, dst_ap, rule, action``
  (no message or priority: ``signature`` is then ``gid:sid:rev`` and ``severity`` null);
* every field, 45, in Snort's order: action, class, b64_data, dir, dst_addr, dst_ap, dst_port, eth_dst,
  eth_len, eth_src, eth_type, gid, icmp_code, icmp_id, icmp_seq, icmp_type, iface, ip_id, ip_len, msg, mpls,
  pkt_gen, pkt_len, pkt_num, priority, proto, rev, rule, seconds, service, sid, src_addr, src_ap, src_port,
  target, tcp_ack, tcp_flags, tcp_len, tcp_seq, tcp_win, timestamp, tos, ttl, udp_len, vlan.

Times: Snort writes local time without a zone, read here as UTC. ``MM/DD-hh:mm:ss.us`` has no year: it
comes from ``seconds`` when the record has it, else :class:`~winnow.sources.syslog_header.YearGuess`
(the current year, carried forward through the file). With ``-y``: ``MM/DD/YY-`` (Snort 2), ``YY/MM/DD-``
(Snort 3, told apart when the first number is over 12) and ``MM/DD/YYYY-`` (Suricata fast.log, whose
rows are marked engine ``suricata``). Lines that are not alerts are located warnings.

alert_json blocks are read column-wise (:mod:`winnow.sources.snort_json_columns`, Arrow's JSON reader);
a block it refuses is read line by line here, the same rows and warnings either way.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from abc import abstractmethod
from collections.abc import Iterator
from typing import BinaryIO, ClassVar

from winnow.sources.base import AbandonFile, Batch, ParseContext, Source
from winnow.sources.blocks import read_blocks, split_lines
from winnow.sources.ids_rows import alert_batch, column_batch
from winnow.sources.json_text import SURROGATE_REASON, lone_surrogate
from winnow.sources.registry import register
from winnow.sources.snort_json_columns import read_block
from winnow.sources.syslog_header import YearGuess

_TIME = re.compile(r"^(\d{2})/(\d{2})(?:/(\d{2}|\d{4}))?-(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$")
_FAST = re.compile(
    r"^(?P<ts>\d{2}/\d{2}(?:/\d{2,4})?-\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s+(?:\[(?P<action>[\w ]+)\]\s+)?\[\*\*\]\s+"
    r"\[(?P<gid>\d+):(?P<sid>\d+):(?P<rev>\d+)\]\s+(?P<msg>.*?)\s*\[\*\*\]"
    r"(?:\s+\[Classification:\s*(?P<cls>[^\]]*)\])?(?:\s+\[Priority:\s*(?P<prio>\d+)\])?"
    r"(?:\s+\[AppID:\s*(?P<app>[^\]]*)\])?\s+\{(?P<proto>[^}]*)\}\s+(?P<src>\S+)\s+->\s+(?P<dst>\S+)\s*$"
)
_RULE = re.compile(r"^(\d+):(\d+):(\d+)$")
_JSON_RULE = re.compile(rb'"rule"\s*:\s*"\d+:\d+:\d+"')
_PORTED = {"tcp", "udp", "sctp"}

CSV_DEFAULT = ("timestamp", "pkt_num", "proto", "pkt_gen", "pkt_len", "dir", "src_ap", "dst_ap", "rule", "action")
CSV_ALL = (
    "action", "class", "b64_data", "dir", "dst_addr", "dst_ap", "dst_port", "eth_dst", "eth_len", "eth_src",
    "eth_type", "gid", "icmp_code", "icmp_id", "icmp_seq", "icmp_type", "iface", "ip_id", "ip_len", "msg", "mpls",
    "pkt_gen", "pkt_len", "pkt_num", "priority", "proto", "rev", "rule", "seconds", "service", "sid", "src_addr",
    "src_ap", "src_port", "target", "tcp_ack", "tcp_flags", "tcp_len", "tcp_seq", "tcp_win", "timestamp", "tos",
    "ttl", "udp_len", "vlan",
)
_CSV_LAYOUTS = {len(CSV_DEFAULT): CSV_DEFAULT, len(CSV_ALL): CSV_ALL}


class BadAlert(ValueError):
    """A line that is not a readable alert of the format (the message says why)."""


def snort_time(text: str, years: YearGuess, seconds: object = None) -> tuple[dt.datetime, bool]:
    """The UTC time of a Snort/Suricata alert time stamp, and whether it carried a four-digit year."""
    match = _TIME.match(text.strip())
    if not match:
        raise BadAlert(f"time stamp {text[:40]!r} is not MM/DD-hh:mm:ss")
    a, b, c, hh, mi, ss, frac = match.groups()
    if c is None:
        month, day = int(a), int(b)
        year = (dt.datetime.fromtimestamp(int(seconds), dt.UTC).year if isinstance(seconds, int | str)
                and str(seconds).isdigit() else years(month))
    elif len(c) == 4:
        month, day, year = int(a), int(b), int(c)
    elif int(a) > 12:
        year, month, day = 2000 + int(a), int(b), int(c)
    else:
        month, day, year = int(a), int(b), 2000 + int(c)
    try:
        value = dt.datetime(year, month, day, int(hh), int(mi), int(ss), int((frac or "0").ljust(6, "0")),
                            tzinfo=dt.UTC)
    except ValueError as exc:
        raise BadAlert(f"time stamp {text[:40]!r} names no real time ({exc})") from None
    return value, c is not None and len(c) == 4


def split_address(text: str | None, proto: str | None, ported: bool | None = None) -> tuple[str | None, int | None]:
    """``ip:port`` (``[v6]:port``, or a bare v6 with its port after the last colon) -> (ip, port)."""
    if not text:
        return None, None
    text = text.strip()
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        return host, _port(port.lstrip(":"))
    has_port = ported if ported is not None else (proto or "").lower() in _PORTED or text.count(":") == 1
    if has_port and ":" in text:
        host, _, port = text.rpartition(":")
        return host, _port(port)
    return text, None


def _port(text: str) -> int | None:
    if not text.isdigit():
        raise BadAlert(f"port {text[:20]!r} is not a number")
    return int(text)


def _rule(text: object) -> tuple[int, int, int] | None:
    match = _RULE.match(str(text).strip()) if text is not None else None
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _number(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if not text.lstrip("-").isdigit():
        raise BadAlert(f"{text[:20]!r} is not a number")
    return int(text)


def _row(fields: dict, years: YearGuess) -> dict:
    """An ids.alert row from Snort's named alert fields (alert_json keys, alert_csv columns)."""
    proto = str(fields.get("proto") or "").lower() or None
    ts, _ = snort_time(str(fields.get("timestamp") or ""), years, fields.get("seconds"))
    rule = _rule(fields.get("rule"))
    gid, sid, rev = rule or (_number(fields.get("gid")), _number(fields.get("sid")), _number(fields.get("rev")))
    src_ip, src_port = split_address(fields.get("src_ap"), proto, ported=True)
    dst_ip, dst_port = split_address(fields.get("dst_ap"), proto, ported=True)
    if fields.get("src_addr"):
        src_ip, dst_ip = str(fields["src_addr"]), str(fields.get("dst_addr") or "") or dst_ip
    src_port = _number(fields.get("src_port")) if fields.get("src_port") not in (None, "") else src_port
    dst_port = _number(fields.get("dst_port")) if fields.get("dst_port") not in (None, "") else dst_port
    if sid is None:
        raise BadAlert("no rule (gid:sid:rev) in the alert")
    msg = fields.get("msg")
    service = fields.get("service")
    return {
        "ts": ts, "engine": "snort", "src_ip": src_ip or None, "src_port": src_port, "dst_ip": dst_ip or None,
        "dst_port": dst_port, "proto": proto, "app_proto": None if service in (None, "", "unknown") else str(service),
        "direction": fields.get("dir") or None, "gid": gid, "signature_id": sid, "rev": rev,
        "signature": str(msg) if msg not in (None, "") else f"{gid}:{sid}:{rev}",
        "category": None if fields.get("class") in (None, "", "none") else str(fields["class"]),
        "severity": _number(fields.get("priority")), "action": fields.get("action") or None,
        "extra": {k: str(fields[k]) for k in ("pkt_num", "pkt_gen", "iface") if fields.get(k) not in (None, "")},
    }


class _LineAlerts(Source):
    """A line-per-alert Snort log: each line through ``read_line``; bad lines are located warnings."""

    @abstractmethod
    def read_line(self, text: str, years: YearGuess) -> dict:
        """One alert line as an ``ids.alert`` row; BadAlert (or ValueError) when the line is not one."""

    def read_columns(self, block: bytes, first: int, years: YearGuess, ctx: ParseContext) -> Batch | None | bool:
        """A whole block read column-wise (its batch, or None when no row), or False: read it line by line."""
        return False

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[Batch]:
        years = YearGuess(dt.datetime.now(dt.UTC))
        for block, first in read_blocks(stream, ctx):
            fast = self.read_columns(block, first, years, ctx)
            if fast is not False:
                if fast is not None:
                    yield fast
                continue
            yield from self.read_lines(block, first, years, ctx)

    def read_lines(self, block: bytes, first: int, years: YearGuess, ctx: ParseContext) -> Iterator[Batch]:
        """The block line by line: each line through ``read_line``; bad lines are located warnings."""
        rows: list[dict] = []
        lines: list[int] = []
        abandon: AbandonFile | None = None
        try:
            for i, raw in enumerate(split_lines(block)):
                if not raw.strip():
                    continue
                try:
                    rows.append(self.read_line(raw.decode("utf-8", "replace"), years))
                    lines.append(first + i)
                except (BadAlert, ValueError, TypeError, RecursionError) as exc:
                    ctx.warn(first + i, f"not a {self.name} alert: {exc}", raw)
        except AbandonFile as exc:
            abandon = exc
        batch = alert_batch(rows, lines, ctx)
        if batch is not None:
            yield batch
        if abandon is not None:
            raise abandon


@register
class SnortFast(_LineAlerts):
    name: ClassVar[str] = "snort_fast"
    description: ClassVar[str] = "Snort 2/3 alert_fast text (and Suricata fast.log) -> ids.alert"
    tables: ClassVar[tuple[str, ...]] = ("ids.alert",)

    def sniff(self, head: bytes, filename: str) -> bool:
        lines = [ln for ln in split_lines(head)[:5] if ln.strip()]
        return bool(lines) and all(_FAST.match(ln.decode("utf-8", "replace")) for ln in lines[:2])

    def read_line(self, text: str, years: YearGuess) -> dict:
        match = _FAST.match(text)
        if not match:
            raise BadAlert("the line does not read as 'time [**] [gid:sid:rev] msg [**] ... {proto} src -> dst'")
        proto = match["proto"].strip().lower()
        ts, four_digit_year = snort_time(match["ts"], years)
        src_ip, src_port = split_address(match["src"], proto)
        dst_ip, dst_port = split_address(match["dst"], proto)
        msg = match["msg"].strip()
        if len(msg) >= 2 and msg[0] == msg[-1] == '"':
            msg = msg[1:-1]
        category = (match["cls"] or "").strip()
        return {
            "ts": ts, "engine": "suricata" if four_digit_year else "snort", "src_ip": src_ip, "src_port": src_port,
            "dst_ip": dst_ip, "dst_port": dst_port, "proto": proto, "app_proto": match["app"],
            "gid": int(match["gid"]), "signature_id": int(match["sid"]), "rev": int(match["rev"]), "signature": msg,
            "category": None if category in ("", "(null)") else category,
            "severity": int(match["prio"]) if match["prio"] else None, "action": match["action"],
        }


@register
class SnortJson(_LineAlerts):
    name: ClassVar[str] = "snort_json"
    description: ClassVar[str] = "Snort 3 alert_json (one object per line, any fields including 'rule') -> ids.alert"
    tables: ClassVar[tuple[str, ...]] = ("ids.alert",)

    def sniff(self, head: bytes, filename: str) -> bool:
        first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0]
        return first.startswith(b"{") and bool(_JSON_RULE.search(first)) and b'"event_type"' not in first

    columnar: ClassVar[bool] = True

    def read_columns(self, block: bytes, first: int, years: YearGuess, ctx: ParseContext) -> Batch | None | bool:
        if not self.columnar:
            return False
        read = read_block(block, years)
        if read is None:
            return False
        columns, extra = read
        n = len(columns["ts"])
        return column_batch(columns, extra, range(first, first + n), ctx) if n else None

    def read_line(self, text: str, years: YearGuess) -> dict:
        obj = json.loads(text)
        if not isinstance(obj, dict):
            raise BadAlert("JSON value is not an object")
        if lone_surrogate(text.encode("utf-8", "replace"), obj):
            raise BadAlert(SURROGATE_REASON)
        return _row(obj, years)


@register
class SnortCsv(_LineAlerts):
    name: ClassVar[str] = "snort_csv"
    description: ClassVar[str] = ("Snort 3 alert_csv without header: the default 10 fields or all 45 "
                                  "(docs in sources/snort_alerts.py) -> ids.alert")
    tables: ClassVar[tuple[str, ...]] = ("ids.alert",)

    def sniff(self, head: bytes, filename: str) -> bool:
        first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0].decode("utf-8", "replace")
        try:
            fields = self._fields(first)
        except BadAlert:
            return False
        return _TIME.match(fields["timestamp"].strip()) is not None and _rule(fields["rule"]) is not None

    @staticmethod
    def _fields(text: str) -> dict[str, str]:
        try:
            values = next(csv.reader([text], skipinitialspace=True), [])
        except csv.Error as exc:  # a NUL or carriage return inside a field: not alert_csv
            raise BadAlert(f"not CSV: {exc}") from None
        layout = _CSV_LAYOUTS.get(len(values))
        if layout is None:
            raise BadAlert(f"{len(values)} fields; alert_csv layouts read: {sorted(_CSV_LAYOUTS)}")
        return dict(zip(layout, (v.strip() for v in values), strict=True))

    def read_line(self, text: str, years: YearGuess) -> dict:
        return _row(self._fields(text), years)
