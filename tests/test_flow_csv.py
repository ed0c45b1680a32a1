"""Argus (.binetflow) and nfdump CSV exports -> net.conn."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from winnow.sources import ParseContext, sources

SAMPLES = Path(__file__).parent / "samples"
ARGUS = "stratosphere/slips-dataset/argus-binetflow"


def parse(name: str, raw: bytes) -> tuple[pa.Table, ParseContext]:
    ctx = ParseContext("sample")
    batches = list(sources()[name].parse(io.BytesIO(raw), ctx))
    return pa.concat_tables([b.data for b in batches]), ctx


def test_argus_sample_hex_ports_and_responder_counts():
    table, ctx = parse("argus_csv", (SAMPLES / "argus_csv.binetflow").read_bytes())
    rows = table.to_pylist()
    assert not ctx.warnings and len(rows) == 3
    assert rows[1]["src_port"] == 0xC001 and rows[2]["src_port"] == 8 and rows[2]["dst_port"] == 0
    assert (rows[1]["src_bytes"], rows[1]["dst_bytes"], rows[1]["src_pkts"], rows[1]["dst_pkts"]) == (900, 3300, 4, 6)
    assert '"label":"flow=Normal"' in rows[1]["extra"] and '"state":"FSPA_FSPA"' in rows[1]["extra"]
    assert str(rows[0]["ts"]) == "2019-04-04 16:23:00.325010+00:00"


def test_nfdump_sample_stops_at_summary():
    table, ctx = parse("nfdump_csv", (SAMPLES / "nfdump_csv.csv").read_bytes())
    rows = table.to_pylist()
    assert not ctx.warnings and len(rows) == 2
    assert (rows[1]["src_ip"], rows[1]["proto"], rows[1]["duration"], rows[1]["src_bytes"]) == \
        ("2001:db8::1", "udp", 2.25, 300)
    assert '"tcp_flags":"......S."' in rows[0]["extra"] and "mpls1" not in rows[0]["extra"]


@pytest.mark.parametrize("name, scanner, port, hosts", [
    ("test4-malicious.binetflow", "192.168.2.12", 81, 64),   # Slips: horizontal scan to port 81/tcp
    ("test3-mixed.binetflow", "46.166.151.160", 3389, 28),   # Slips: horizontal scan to port 3389/tcp
])
def test_argus_slips_scans(shared_data, name, scanner, port, hosts):
    table, ctx = parse("argus_csv", (shared_data / ARGUS / name).read_bytes())
    rows = table.to_pylist()
    assert {r["dst_ip"] for r in rows if r["src_ip"] == scanner and r["dst_port"] == port} and \
        len({r["dst_ip"] for r in rows if r["src_ip"] == scanner and r["dst_port"] == port}) == hosts


def test_argus_files_all_sniff_and_parse(shared_data):
    for path in sorted((shared_data / ARGUS).glob("*.binetflow")):
        raw = path.read_bytes()
        assert [s.name for s in sources().values() if s.sniff(raw[:65536], path.name)] == ["argus_csv"]
        table, _ = parse("argus_csv", raw)
        assert table.num_rows >= raw.count(b"\n") - 2  # header, and test5's one management record


def test_nfdump_export_of_real_capture(shared_data):
    if not shutil.which("nfdump"):
        pytest.skip("needs nfdump: apt-get install nfdump")
    nfcapd_file = shared_data / "stratosphere/slips-dataset/nfdump/test1-malicious.nfdump"
    text = subprocess.run(["nfdump", "-r", str(nfcapd_file), "-o", "csv"], check=True, capture_output=True,
                          env={**os.environ, "TZ": "UTC"}).stdout
    assert sources()["nfdump_csv"].sniff(text[:65536], "flows.csv")
    table, ctx = parse("nfdump_csv", text)
    rows = table.to_pylist()
    assert len(rows) == 4593 and not ctx.warnings
    storm = [r for r in rows if (r["src_ip"], r["dst_ip"], r["dst_port"]) == ("147.32.80.119", "147.32.82.62", 902)]
    assert len(storm) == 2305
