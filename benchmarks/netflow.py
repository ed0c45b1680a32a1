"""NetFlow collector figures: offline decode rate, and a paced loopback burst into a live collector.

    python benchmarks/netflow.py [--datagrams 5000] [--seconds 10] [--rate 1700]

Prints flows/s of the decoder (decode + Arrow batch, v5 datagrams of 30 flows), then sends
``rate`` v5 datagrams/s for ``seconds`` from a separate process to a collector on 127.0.0.1 and
prints what was sent, received, decoded and dropped (queue full / kernel socket buffer).
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time

from winnow.collect.loadgen import V5_FLOWS, blast, v5_packet
from winnow.collect.netflow import NetflowCollector
from winnow.sources.netflow_decode import NetflowDecoder


def decode_rate(datagrams: int) -> float:
    packets = [v5_packet(i * V5_FLOWS, base=i) for i in range(datagrams)]
    decoder = NetflowDecoder()
    start = time.perf_counter()
    for packet in packets:
        decoder.feed(packet, "127.0.0.1")
    table = decoder.take()
    assert table is not None and table.num_rows == datagrams * V5_FLOWS
    return table.num_rows / (time.perf_counter() - start)


def _send(port: int, seconds: float, rate: int, sent) -> None:
    sent.value = blast(port, seconds, rate)


def burst(seconds: float, rate: int) -> None:
    with tempfile.TemporaryDirectory() as lake:
        collector = NetflowCollector(("127.0.0.1", 0), lake, max_buffer=2_000, rcvbuf=1 << 20).start()
        ctx = multiprocessing.get_context("fork")
        sent = ctx.Value("q", 0)
        sender = ctx.Process(target=_send, args=(collector.address[1], seconds, rate, sent))
        start = time.perf_counter()
        sender.start()
        sender.join()
        while not collector.queue.empty():
            time.sleep(0.05)
        stats = collector.stop()
        elapsed = time.perf_counter() - start
    print(f"offered {sent.value * V5_FLOWS / seconds:,.0f} flows/s for {seconds:g} s: sent {sent.value:,} datagrams, "
          f"received {stats.datagrams_received:,}, decoded {stats.datagrams_decoded:,}, "
          f"dropped (queue full) {stats.datagrams_dropped:,}, dropped by the kernel {stats.kernel_drops}, "
          f"rows written {stats.rows_written:,}; all written after {elapsed:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datagrams", type=int, default=5_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1_700, help="datagrams per second (30 flows each)")
    args = parser.parse_args()
    print(f"decode: {decode_rate(args.datagrams):,.0f} flows/s (v5, {args.datagrams:,} datagrams)")
    burst(args.seconds, args.rate)


if __name__ == "__main__":
    main()
