"""Synthetic NetFlow v5 export traffic: datagrams to test and measure a collector.

Used by the collector's tests and ``benchmarks/netflow.py``; sends to loopback only by default.
"""

from __future__ import annotations

import socket
import struct
import time

V5_FLOWS = 30


def v5_packet(seq: int, count: int = V5_FLOWS, secs: int = 1_700_000_000, base: int = 0) -> bytes:
    """A NetFlow v5 datagram of ``count`` TCP flows 10.0.x.y:40000+i -> 192.0.2.1:443 with flow sequence ``seq``."""
    header = struct.pack("!HHIIIIBBH", 5, count, 100_000, secs, 0, seq, 0, 0, 0)
    records = b"".join(
        struct.pack("!4s4s4sHHIIIIHHBBBBHHBBH", bytes([10, 0, (base + i) >> 8 & 255, (base + i) & 255]),
                    bytes([192, 0, 2, 1]), b"\0" * 4, 1, 2, 3 + i, 300 + i, 90_000, 99_000, 40000 + i, 443,
                    0, 0x1B, 6, 0, 0, 0, 0, 0, 0)
        for i in range(count))
    return header + records


def blast(port: int, seconds: float, datagrams_per_second: int, host: str = "127.0.0.1") -> int:
    """Send v5 datagrams with consecutive flow sequence numbers at a paced rate; return how many were sent."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    packet = bytearray(v5_packet(0))
    start, sent = time.perf_counter(), 0
    try:
        while (now := time.perf_counter() - start) < seconds:
            due = int(now * datagrams_per_second) + 1
            while sent < due:
                struct.pack_into("!I", packet, 16, (sent * V5_FLOWS) & 0xFFFFFFFF)
                sock.sendto(packet, (host, port))
                sent += 1
            time.sleep(0.0005)
    finally:
        sock.close()
    return sent
