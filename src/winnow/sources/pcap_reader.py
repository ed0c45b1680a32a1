"""A small bounds-checked reader of pcap and pcapng captures, down to UDP datagrams.

Only what flow sources need: frames of Ethernet (with 802.1Q/802.1ad tags), Linux cooked (SLL,
SLL2), BSD loopback and raw IP links; IPv4 (first fragments only) and IPv6 (hop-by-hop, routing,
destination-options headers skipped); UDP. Every length read from the file is checked before
use; a damaged capture ends the iteration with a message to ``warn`` instead of an exception.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

PCAP_MAGICS = {
    b"\xa1\xb2\xc3\xd4": (">", 1_000), b"\xd4\xc3\xb2\xa1": ("<", 1_000),
    b"\xa1\xb2\x3c\x4d": (">", 1), b"\x4d\x3c\xb2\xa1": ("<", 1),
}  # byte order, nanoseconds per tick / 1000 (microsecond or nanosecond captures)
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
MAX_FRAME = 256 * 1024
MAX_BLOCK = 16 * 1024 * 1024
ETH, RAW, LOOP, SLL, SLL2, IPV4, IPV6 = 1, 101, 0, 113, 276, 228, 229
RAW_ALT = (12, 14)

Warn = Callable[[int | None, str, bytes | str], None]


@dataclass(frozen=True)
class Datagram:
    """One UDP datagram of a capture; ``number`` is the 1-based frame number."""

    number: int
    ts_us: int
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes


def is_capture(head: bytes) -> bool:
    """True when ``head`` starts like a pcap or pcapng file."""
    return head[:4] in PCAP_MAGICS or head[:4] == PCAPNG_SHB and len(head) >= 12 and head[8:12] in (
        b"\x1a\x2b\x3c\x4d", b"\x4d\x3c\x2b\x1a")


def frames(stream: BinaryIO, warn: Warn) -> Iterator[tuple[int, int, int, bytes]]:
    """Yield ``(number, ts_us, linktype, frame)`` for every packet of a pcap or pcapng stream."""
    head = stream.read(4)
    if head in PCAP_MAGICS:
        yield from _pcap(stream, head, warn)
    elif head == PCAPNG_SHB:
        yield from _pcapng(stream, head, warn)


def _pcap(stream: BinaryIO, magic: bytes, warn: Warn) -> Iterator[tuple[int, int, int, bytes]]:
    order, per_us = PCAP_MAGICS[magic]
    rest = stream.read(20)
    if len(rest) < 20:
        warn(None, "pcap header truncated", rest)
        return
    linktype = struct.unpack(order + "I", rest[16:20])[0] & 0x0FFFFFFF
    record = struct.Struct(order + "IIII")
    number = 0
    while True:
        raw = stream.read(16)
        if not raw:
            return
        number += 1
        if len(raw) < 16:
            warn(number, "pcap record header truncated", raw)
            return
        secs, frac, caplen, _ = record.unpack(raw)
        if caplen > MAX_FRAME:
            warn(number, f"pcap record length {caplen} is implausible; rest of capture skipped", raw)
            return
        frame = stream.read(caplen)
        if len(frame) < caplen:
            warn(number, f"capture ends inside a packet ({len(frame)} of {caplen} bytes)", raw)
            return
        yield number, secs * 1_000_000 + (frac // 1000 if per_us == 1 else frac), linktype, frame


def _pcapng(stream: BinaryIO, first: bytes, warn: Warn) -> Iterator[tuple[int, int, int, bytes]]:
    order = "<"
    interfaces: list[tuple[int, int]] = []  # (linktype, ticks per second)
    number = 0
    pending = first
    while True:
        raw = pending + stream.read(8 - len(pending))
        pending = b""
        if not raw:
            return
        if len(raw) < 8:
            warn(number + 1, "pcapng block header truncated", raw)
            return
        if raw[:4] == PCAPNG_SHB:
            bom = stream.read(4)
            order = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            length = struct.unpack(order + "I", raw[4:8])[0]
            interfaces = []
            body = bom
            need = length - 12
        else:
            btype, length = struct.unpack(order + "II", raw)
            body = b""
            need = length - 8
        if length < 12 or length > MAX_BLOCK or length % 4:
            warn(number + 1, f"pcapng block length {length} is invalid; rest of capture skipped", raw)
            return
        body += stream.read(need)
        if len(body) < length - 8:
            warn(number + 1, "capture ends inside a pcapng block", raw)
            return
        if raw[:4] == PCAPNG_SHB:
            continue
        if btype == 1 and len(body) >= 8:
            linktype = struct.unpack(order + "H", body[:2])[0]
            interfaces.append((linktype, _tsresol(body[8:-4], order)))
        elif btype in (6, 3):
            number += 1
            if btype == 6:
                if len(body) < 24:
                    warn(number, "pcapng packet block too short", body[:40])
                    continue
                iface, hi, lo, caplen = struct.unpack(order + "IIII", body[:16])
                data = body[20:20 + caplen]
            else:
                iface, hi, lo = 0, 0, 0
                caplen = struct.unpack(order + "I", body[:4])[0] if len(body) >= 4 else 0
                data = body[4:4 + caplen]
            if iface >= len(interfaces) or len(data) < caplen:
                warn(number, "pcapng packet refers to an unknown interface or overruns its block", body[:40])
                continue
            linktype, per_second = interfaces[iface]
            ticks = hi << 32 | lo
            yield number, ticks * 1_000_000 // per_second, linktype, data


def _tsresol(options: bytes, order: str) -> int:
    """Ticks per second from an interface block's if_tsresol option (default microseconds)."""
    off = 0
    while off + 4 <= len(options):
        code, length = struct.unpack(order + "HH", options[off:off + 4])
        if code == 0:
            break
        if code == 9 and length >= 1 and off + 5 <= len(options):
            value = options[off + 4]
            return 2 ** (value & 0x7F) if value & 0x80 else 10 ** min(value, 18)
        off += 4 + (length + 3) // 4 * 4
    return 1_000_000


def _network(linktype: int, frame: bytes) -> tuple[int, bytes] | None:
    """(IP version, IP packet) of a frame, or None when it carries no IP."""
    if linktype == ETH:
        off = 12
        while off + 2 <= len(frame):
            ethertype = int.from_bytes(frame[off:off + 2], "big")
            if ethertype in (0x8100, 0x88A8, 0x9100):
                off += 4
                continue
            return _by_ethertype(ethertype, frame[off + 2:])
        return None
    if linktype == SLL:
        return _by_ethertype(int.from_bytes(frame[14:16], "big"), frame[16:]) if len(frame) >= 16 else None
    if linktype == SLL2:
        return _by_ethertype(int.from_bytes(frame[0:2], "big"), frame[20:]) if len(frame) >= 20 else None
    if linktype == LOOP:
        return (4, frame[4:]) if frame[:4] in (b"\x02\x00\x00\x00", b"\x00\x00\x00\x02") else (6, frame[4:])
    if linktype in (RAW, IPV4, IPV6, *RAW_ALT) and frame:
        return frame[0] >> 4, frame
    return None


def _by_ethertype(ethertype: int, packet: bytes) -> tuple[int, bytes] | None:
    return (4, packet) if ethertype == 0x0800 else (6, packet) if ethertype == 0x86DD else None


def _udp(version: int, packet: bytes) -> tuple[str, str, bytes] | None:
    """(source address, destination address, UDP segment) of an IP packet carrying UDP."""
    if version == 4 and len(packet) >= 20 and packet[0] >> 4 == 4:
        ihl = (packet[0] & 0x0F) * 4
        total = int.from_bytes(packet[2:4], "big")
        if packet[9] != 17 or ihl < 20 or int.from_bytes(packet[6:8], "big") & 0x1FFF:
            return None  # not UDP, or a non-first fragment
        end = min(len(packet), total) if total >= ihl else len(packet)
        return socket.inet_ntoa(packet[12:16]), socket.inet_ntoa(packet[16:20]), packet[ihl:end]
    if version == 6 and len(packet) >= 40 and packet[0] >> 4 == 6:
        nxt, off = packet[6], 40
        end = min(len(packet), 40 + int.from_bytes(packet[4:6], "big"))
        while nxt in (0, 43, 60) and off + 8 <= end:
            nxt, off = packet[off], off + (packet[off + 1] + 1) * 8
        if nxt != 17:
            return None
        src = socket.inet_ntop(socket.AF_INET6, packet[8:24])
        return src, socket.inet_ntop(socket.AF_INET6, packet[24:40]), packet[off:end]
    return None


def datagrams(stream: BinaryIO, warn: Warn) -> Iterator[Datagram]:
    """Yield the UDP datagrams of a capture (payload cut to the UDP length)."""
    for number, ts_us, linktype, frame in frames(stream, warn):
        network = _network(linktype, frame)
        if network is None:
            continue
        found = _udp(*network)
        if found is None or len(found[2]) < 8:
            continue
        src, dst, segment = found
        sport, dport, length = struct.unpack("!HHH", segment[:6])
        if length < 8:
            continue
        yield Datagram(number, ts_us, src, sport, dst, dport, segment[8:length])
