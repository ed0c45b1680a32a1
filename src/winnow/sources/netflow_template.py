"""Compiled NetFlow v9 / IPFIX templates and the field converters they use.

A :class:`Template` is built from the (element id, length, enterprise number) specifiers of a
template record: it knows each field's element (:mod:`winnow.sources.netflow_fields`), which
field fills which net.conn role (the best-ranked candidate per role; scope fields of options
templates never fill a connection column), and how to read a data set. Templates whose fields all
have fixed lengths decode whole sets at once with one ``struct`` over the record; templates with
variable-length fields (RFC 7011 section 7: one length byte, 255 = a two-byte length follows) are
walked record by record; a record cut off by the end of its set ends the walk (with a warning
unless the rest of the set is zero padding).

Field values are converted after decoding: integers and floats as they are, NTP timestamps to
epoch micro- or nanoseconds, IPv4/IPv6 addresses to text, MACs to colon-separated hex, strings to
text, unknown variable-length fields to text when printable (else hex), anything else to hex; a
column whose conversion fails is kept as hex.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from winnow.sources.netflow_fields import REVERSE_PEN, REVERSE_PRIORITY, ROLE_PRIORITY, Element, element

VARIABLE = 65535
NTP_EPOCH = 2208988800
#: net.conn columns filled straight from an element's value
COLUMN_ROLES = ("src_ip", "dst_ip", "src_port", "dst_port", "proto", "src_bytes", "src_pkts", "dst_bytes", "dst_pkts")


def _ntp_us(value: int) -> int:
    return ((value >> 32) - NTP_EPOCH) * 1_000_000 + ((value & 0xFFFFFFFF) * 1_000_000 >> 32)


def _ntp_ns(value: int) -> int:
    return ((value >> 32) - NTP_EPOCH) * 1_000_000_000 + ((value & 0xFFFFFFFF) * 1_000_000_000 >> 32)


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\x00").decode("utf-8", "replace")


def _text_or_hex(raw: bytes) -> str:
    text = raw.rstrip(b"\x00")
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        return raw.hex()
    return decoded if decoded.isprintable() else raw.hex()


_NATIVE = {1: "B", 2: "H", 4: "I", 8: "Q"}


def _field_code(el: Element, length: int) -> str:
    """struct code of one fixed-length field: a native integer/float where possible, else raw bytes."""
    if el.kind in ("u", "ts_s", "ts_ms", "ts_us", "ts_ns") and length in _NATIVE:
        return _NATIVE[length]
    if el.kind == "f" and length in (4, 8):
        return "f" if length == 4 else "d"
    return f"{length}s"


def _converter(el: Element, length: int, native: bool) -> Callable | None:
    """Function turning the decoded value (native int or raw bytes) into the output value, or None."""
    kind = el.kind
    if native:
        return {"ts_us": _ntp_us, "ts_ns": _ntp_ns}.get(kind) if length == 8 else None
    if kind == "ip4" and length == 4:
        return socket.inet_ntoa
    if kind == "ip6" and length == 16:
        return lambda raw: socket.inet_ntop(socket.AF_INET6, raw)
    if kind == "mac" and length == 6:
        return _mac
    if kind == "str":
        return _text
    if length == VARIABLE and kind == "u":
        return _text_or_hex  # a variable-length element we do not know: usually text
    if kind in ("u", "ts_s", "ts_ms") and length <= 8:
        return lambda raw: int.from_bytes(raw, "big")
    if kind in ("ts_us", "ts_ns") and length == 8:
        ntp = _ntp_us if kind == "ts_us" else _ntp_ns
        return lambda raw: ntp(int.from_bytes(raw, "big"))
    if kind == "f" and length in (4, 8):
        fmt = "!f" if length == 4 else "!d"
        return lambda raw: struct.unpack(fmt, raw)[0]
    return bytes.hex


@dataclass
class Template:
    """A compiled template: field layout, role positions and the struct for fixed-length records."""

    tid: int
    fields: tuple[tuple[Element, int, int], ...]  # (element, length, PEN)
    scope_count: int = 0
    fixed: struct.Struct | None = None
    min_len: int = 0
    converters: tuple[Callable | None, ...] = ()
    roles: dict[str, int] = field(default_factory=dict)
    extras: tuple[tuple[str, int], ...] = ()
    specs: tuple[tuple[int, int, int], ...] = ()

    @classmethod
    def compile(cls, tid: int, specs: list[tuple[int, int, int]], scope_count: int = 0) -> Template:
        """Build from (element id, length, PEN) specifiers."""
        fields = tuple((element(eid, pen), length, pen) for eid, length, pen in specs)
        variable = any(length == VARIABLE for _, length, _ in fields)
        min_len = sum(1 if length == VARIABLE else length for _, length, _ in fields)
        fixed = None
        if variable:
            converters = tuple(_converter(el, length, False) if length else None for el, length, _ in fields)
        else:
            codes = [_field_code(el, length) if length else "0s" for el, length, _ in fields]
            fixed = struct.Struct("!" + "".join(codes))
            converters = tuple(
                _converter(el, length, code in "BHIQfd") if length else None
                for (el, length, _), code in zip(fields, codes, strict=True)
            )
        roles: dict[str, int] = {}
        rank: dict[str, int] = {}
        for i, (el, length, pen) in enumerate(fields):
            if el.role is None or length == 0 or i < scope_count and el.role in COLUMN_ROLES:
                continue
            order = REVERSE_PRIORITY if pen == REVERSE_PEN else ROLE_PRIORITY
            candidates = order.get(el.role, ())
            r = candidates.index(el.id) if el.id in candidates else len(candidates)
            if el.role not in rank or r < rank[el.role]:
                roles[el.role], rank[el.role] = i, r
        used = set(roles.values())
        extras = tuple((el.key, i) for i, (el, length, _) in enumerate(fields)
                       if i not in used and length and el.kind != "skip")
        return cls(tid, fields, scope_count, fixed, min_len, converters, roles, extras,
                   tuple(tuple(spec) for spec in specs))

    def records(self, body: bytes, warn: Callable[[str], None]) -> list[list]:
        """Decode every record of a data set body into columns (one list per field)."""
        if self.fixed is not None:
            size = self.fixed.size
            n = len(body) // size
            rows = list(self.fixed.iter_unpack(memoryview(body)[: n * size])) if n else []
            columns = [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in self.fields]
        else:
            columns = self._variable(body, warn)
        for i, conv in enumerate(self.converters):
            if conv is not None and columns[i]:
                try:
                    columns[i] = [conv(v) for v in columns[i]]
                except (ValueError, OSError, struct.error, UnicodeError):
                    columns[i] = [bytes(v).hex() if isinstance(v, bytes) else v for v in columns[i]]
        return columns

    def _variable(self, body: bytes, warn: Callable[[str], None]) -> list[list]:
        columns: list[list] = [[] for _ in self.fields]
        end, off = len(body), 0
        while end - off >= self.min_len:
            row, start = [], off
            for _, length, _ in self.fields:
                if length == VARIABLE:
                    length = body[off]
                    off += 1
                    if length == 255:
                        if off + 2 > end:
                            break
                        length = int.from_bytes(body[off:off + 2], "big")
                        off += 2
                if off + length > end:
                    break
                row.append(body[off:off + length])
                off += length
            if len(row) != len(self.fields):
                if any(body[start:]):
                    warn(f"template {self.tid}: a variable-length field runs past the end of its set")
                break
            for col, value in zip(columns, row, strict=True):
                col.append(value)
        return columns
