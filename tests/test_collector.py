"""The live NetFlow/IPFIX collector: a real exporter against a reference collector, a burst, the CLI."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from winnow.collect.loadgen import blast, v5_packet
from winnow.collect.netflow import NetflowCollector
from winnow.lake import Lake, Manifest

PCAP = "stratosphere/slips-dataset/pcap/test-cc-capture-1.pcap"
INSTALL_HINT = "needs softflowd and nfdump: apt-get install softflowd nfdump"


def lake_rows(lake: Path) -> list[dict]:
    files = sorted((lake / "net.conn").glob("day=*/*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def softflowd(pcap: Path, port: int, version: int) -> None:
    subprocess.run(["softflowd", "-a", "-A", "milli", "-r", str(pcap), "-n", f"127.0.0.1:{port}", "-v", str(version)],
                   check=True, capture_output=True, timeout=120)


def nfcapd_flows(pcap: Path, version: int, tmp: Path) -> list[tuple]:
    """Flows as the reference collector (nfcapd, read back by nfdump) sees softflowd's export."""
    port, out = free_port(), tmp / f"nfcapd-v{version}"
    out.mkdir()
    proc = subprocess.Popen(["nfcapd", "-w", str(out), "-b", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        softflowd(pcap, port, version)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    text = subprocess.run(["nfdump", "-q", "-N", "-R", str(out), "-o", "fmt:%sa|%sp|%da|%dp|%pr|%pkt|%byt|%ts"],
                          check=True, capture_output=True, text=True, env={**os.environ, "TZ": "UTC"}).stdout
    flows = []
    for line in text.splitlines():
        sa, sp, da, dp, pr, pkt, byt, ts = (f.strip() for f in line.split("|"))
        flows.append((sa, int(sp), da, int(dp), {"6": "tcp", "17": "udp", "1": "icmp"}.get(pr, pr), int(pkt),
                      int(byt), ts))
    return flows


@pytest.mark.slow
@pytest.mark.parametrize("version", [5, 9, 10])
def test_softflowd_export_matches_nfcapd(shared_data, tmp_path, version):
    if not (shutil.which("softflowd") and shutil.which("nfcapd") and shutil.which("nfdump")):
        pytest.skip(INSTALL_HINT)
    pcap = shared_data / PCAP
    expected = nfcapd_flows(pcap, version, tmp_path)
    collector = NetflowCollector(("127.0.0.1", 0), tmp_path / "lake", flush_seconds=60).start()
    softflowd(pcap, collector.address[1], version)
    time.sleep(0.3)
    stats = collector.stop()
    rows = lake_rows(tmp_path / "lake")
    got = sorted((r["src_ip"], r["src_port"], r["dst_ip"], r["dst_port"], r["proto"], r["src_pkts"], r["src_bytes"])
                 for r in rows)
    assert len(expected) > 500
    assert got == sorted(f[:7] for f in expected)
    assert stats.records_decoded == len(rows) == len(expected)
    assert stats.datagrams_malformed == stats.datagrams_dropped == stats.warnings == 0
    assert stats.sequence_lost_packets == 0
    # start times agree to the millisecond (nfdump prints them with milliseconds, in UTC)
    ours = sorted(r["ts"].strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] for r in rows)
    assert ours == sorted(f[7] for f in expected)


def _blast(port: int, seconds: float, datagrams_per_second: int, sent) -> None:
    sent.value = blast(port, seconds, datagrams_per_second)


@pytest.mark.slow
def test_burst_accounting_is_exact(tmp_path):
    collector = NetflowCollector(("127.0.0.1", 0), tmp_path / "lake", flush_rows=100_000, max_buffer=500,
                                 rcvbuf=1 << 20).start()
    port = collector.address[1]
    sent = multiprocessing.get_context("fork").Value("q", 0)
    sender = multiprocessing.get_context("fork").Process(target=_blast, args=(port, 10.0, 1_700, sent))
    started = time.monotonic()
    sender.start()
    sender.join(30)
    sent_at = time.monotonic()
    deadline = sent_at + 5
    while not collector.queue.empty() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # a last datagram reveals any loss before it
        sock.sendto(v5_packet(sent.value * 30), ("127.0.0.1", port))
    time.sleep(0.3)
    stats = collector.stop()
    stopped_at = time.monotonic()
    total = sent.value + 1
    offered_flows_per_second = sent.value * 30 / 10.0
    assert offered_flows_per_second >= 50_000
    assert stats.datagrams_received == stats.datagrams_decoded + stats.datagrams_malformed + stats.datagrams_dropped
    assert stats.datagrams_malformed == 0
    if stats.kernel_drops is not None:
        assert stats.datagrams_received + stats.kernel_drops == total
    assert stats.records_decoded == 30 * stats.datagrams_decoded
    assert len(lake_rows(tmp_path / "lake")) == stats.rows_written == stats.records_decoded
    assert stats.sequence_lost_packets == total - stats.datagrams_decoded
    print(f"burst: sent {total}, received {stats.datagrams_received}, decoded {stats.datagrams_decoded}, "
          f"buffer drops {stats.datagrams_dropped}, kernel drops {stats.kernel_drops}; "
          f"sending {sent_at - started:.1f} s, draining and flushing {stopped_at - sent_at:.1f} s")
    assert stopped_at - started < 30


def test_same_batch_published_twice_is_stored_once(tmp_path):
    collector = NetflowCollector(("127.0.0.1", 0), tmp_path / "lake")
    collector.decoder.feed(v5_packet(0), "192.0.2.7")
    ((exporter, table),) = collector.decoder.take_by_exporter()
    manifest = Manifest(collector.lake)
    for _ in range(2):
        collector._publish(exporter, table, manifest, None)
    collector.sock.close()
    assert len(Manifest(Lake(tmp_path / "lake")).entries()) == 1
    rows = lake_rows(tmp_path / "lake")
    assert len(rows) == 30 and rows[0]["_source_file"].endswith("/192.0.2.7")


def test_cli_collects_until_sigterm(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "winnow.cli.main", "collect", "netflow", "--listen",
                             f"127.0.0.1:{port}", "--lake", str(tmp_path / "lake"), "--flush-seconds", "60"],
                            stderr=subprocess.PIPE, text=True)
    try:
        assert "listening on udp" in proc.stderr.readline()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for i in range(3):
                sock.sendto(v5_packet(i * 30), ("127.0.0.1", port))
            sock.sendto(b"\x00\x05 garbage", ("127.0.0.1", port))
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "decoded 3, malformed 1" in err
    assert len(lake_rows(tmp_path / "lake")) == 90


def test_small_parts_are_merged_and_a_batch_stays_published_once(tmp_path):
    from winnow.config import load, use
    from winnow.lake.compact import level
    from winnow.sources.netflow_decode import NetflowDecoder

    lake, port = tmp_path / "lake", free_port()

    def parts() -> list[str]:
        return sorted(str(p.relative_to(lake)) for p in lake.glob("net.conn/day=*/*.parquet"))

    with use(load(sets=["collect.compact_parts=4"])):
        first = NetflowCollector(("127.0.0.1", port), lake)
        for i in range(10):
            first.decoder.feed(v5_packet(i * 30, base=i * 30), "192.0.2.7")
            first._flush()
        assert first.stats.flushes == 10 and first.stats.merges == 2  # at flushes 4 and 8
        assert sorted(level(p) for p in parts()) == [0, 0, 1, 1]
        decoder = NetflowDecoder()  # the first flush's batch again: already published, inside a merged part
        decoder.feed(v5_packet(0, base=0), "192.0.2.7")
        ((exporter, table),) = decoder.take_by_exporter()
        first._publish(exporter, table, Manifest(first.lake), None)
        assert len(lake_rows(lake)) == 300
        first.sock.close()  # gone before its shutdown merge: the next collector on this address does it
        second = NetflowCollector(("127.0.0.1", port), lake).start()
        stats = second.stop()
    assert stats.merges == 2 and [level(p) for p in parts()] == [2]
    rows = lake_rows(lake)
    assert len(rows) == 300 and len({(r["src_ip"], r["ts"]) for r in rows}) == 300
    entries = Manifest(Lake(lake)).entries().values()
    assert len(entries) == 10 and {p for e in entries for p in e.parts} == set(parts())
