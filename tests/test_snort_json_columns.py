"""Snort 3 alert_json: the column-wise read (Arrow) gives the same rows and warnings as the line-by-line one."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from winnow.sources import ParseContext
from winnow.sources.snort_alerts import SnortJson
from winnow.sources.snort_json_columns import read_block
from winnow.sources.syslog_header import YearGuess

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ids" / "snort"
GOOD = ('{ "timestamp" : "03/15-13:13:29.192291", "msg" : "PROTOCOL-ICMP PING Unix", "pkt_num" : 1336, '
        '"proto" : "ICMP", "pkt_gen" : "raw", "dir" : "C2S", "src_addr" : "192.168.0.28", '
        '"dst_addr" : "192.168.0.167", "service" : "unknown", "rule" : "1:366:11", "priority" : 3, '
        '"class" : "Misc activity", "action" : "allow" }')
HOSTILE = [
    '{ "timestamp" : "03/15-13:13:29.1", "rule" : "1:366:11"',  # bad JSON
    '[1, 2]', '"text"', 'null',  # not objects
    '{ "timestamp" : "03/15-13:13:29.1", "rule" : "1:366:11", "priority" : "3" }',  # wrong types
    '{ "timestamp" : "03/15-13:13:29.1", "rule" : "1:366:11", "priority" : 3.5 }',
    '{ "timestamp" : "03/15-13:13:29.1", "rule" : "1:366:11", "msg" : 7 }',
    '{ "timestamp" : "03/15-13:13:29.1", "rule" : "1:366:11", "src_port" : "http" }',
    '{ "timestamp" : "03/15-13:13:29.1", "rule" : "1:366:11", "msg" : "a\tb\x01c" }',  # control characters
    '{ "timestamp" : "03/15-13:13:29.1", "rule" : "1:366:11", "msg" : "\\u0000\\ud800" }',
    '{ "timestamp" : "03/15-13:13:29.1" }', '{ "rule" : "1:366:11" }', '{ }',  # missing fields
    '{ "timestamp" : "02/30-13:13:29.1", "rule" : "1:366:11" }', '{ "timestamp" : 5, "rule" : "1:366:11" }',
    '{ "timestamp" : "03/15-13:13:29.1", "gid" : 1, "sid" : 2, "rev" : 3, "seconds" : 1511787706 }',
    '{ "timestamp" : "03/15-13:13:29.1", "rule" : "1:366:11", "msg" : "x", "msg" : "y" }',  # a key twice
    '{ "timestamp" : "03/15-13:13:29.1", "rule" : "1:366:11", "seconds" : 99999999999999 }',  # no real year
    '\xef\xbb\xbf' + GOOD, '   ', '', GOOD + '\r', '{ "timestamp" : "12/31-23:59:59", "rule" : "1:2:3" }',
]

#: lines Arrow reads that exercise every branch of the mapping (all taken column-wise)
VARIANTS = [
    '{ "timestamp" : "11/27-13:01:46.385814", "seconds" : 1511787706, "gid" : 1, "sid" : 2, "rev" : 0, '
    '"src_ap" : "10.1.2.4:48620", "dst_ap" : "[2001:db8::1]:80", "src_port" : 5, "proto" : "TCP" }',
    '{ "timestamp" : "11/27/2020-13:01:46", "rule" : "1:2:3", "msg" : "", "src_addr" : "", "dst_addr" : "9.9.9.9", '
    '"src_ap" : ":7", "dst_ap" : "1.1.1.1", "dir" : "", "action" : "", "class" : "none", "service" : "http" }',
    '{ "timestamp" : "20/01/02-01:02:03.5", "rule" : "bad", "gid" : 3, "sid" : 4, "src_addr" : "1.2.3.4", '
    '"dst_addr" : "", "dst_ap" : "5.6.7.8:9", "proto" : "\u0130CMP", "iface" : "eth0", "pkt_gen" : "" }',
    '{ "timestamp" : "01/02-00:00:00", "rule" : "1:9:1", "seconds" : -5, "priority" : 2, "msg" : "m" }',
    '{ "timestamp" : "07/02-00:00:00", "rule" : "1:9:1", "service" : "" }',
    '{ "timestamp" : "01/02-00:00:00", "rule" : "1:9:1", "pkt_num" : 0 }',
]
#: lines Arrow reads that the mapping refuses (the block goes line by line)
REFUSED = [
    '{ "timestamp" : "03/15-13:13:29", "rule" : "bad", "gid" : 1 }',
    '{ "timestamp" : "03/15-13:13:29", "rule" : "1:2:3", "src_ap" : "1.2.3.4:http" }',
    '{ "timestamp" : "3/15-13:13:29", "rule" : "1:2:3" }', '{ "timestamp" : "13/15-13:13:29", "rule" : "1:2:3" }',
]


def _read(raw: bytes, columnar: bool) -> tuple[list[dict], list[tuple], dict]:
    source = SnortJson()
    source.columnar = columnar
    ctx = ParseContext("alert_json.txt")
    rows = [r for batch in source.parse(io.BytesIO(raw), ctx) for r in batch.data.to_pylist()]
    return rows, [(w.line, w.reason, w.snippet) for w in ctx.warnings], dict(ctx.unsupported)


def _same(raw: bytes) -> list[dict]:
    fast, slow = _read(raw, True), _read(raw, False)
    assert fast == slow
    return fast[0]


@pytest.mark.parametrize("name", ["patel-aum_snort3_alert_json.txt", "snort3_demo_loggers-json_expected.txt"])
def test_shared_samples_read_the_same(name):
    raw = (SHARED / name).read_bytes()
    assert read_block(raw, YearGuess(dt.datetime.now(dt.UTC))) is not None  # taken column-wise
    assert len(_same(raw)) == raw.count(b"\n")  # every line an alert
    assert len(_same(raw * 3)) == 3 * raw.count(b"\n")


@pytest.mark.parametrize("line", HOSTILE)
def test_hostile_lines_read_the_same(line):
    _same((GOOD + "\n" + line + "\n" + GOOD + "\n").encode("utf-8", "surrogatepass"))


def test_all_hostile_lines_in_one_block_and_the_year_carries():
    _same("\n".join([GOOD, *HOSTILE, GOOD]).encode("utf-8", "surrogatepass") + b"\n")
    years = "\n".join([GOOD.replace("03/15", "12/31"), GOOD.replace("03/15", "01/01")] * 3) + "\n"
    rows = _same(years.encode())
    assert rows[1]["ts"].year == rows[0]["ts"].year + 1


def test_the_column_wise_read_takes_clean_blocks_and_refuses_hostile_ones():
    years = YearGuess(dt.datetime.now(dt.UTC))
    columns, extra = read_block(((GOOD + "\n") * 4).encode(), years)
    assert len(columns["ts"]) == 4 and extra["pkt_num"].to_pylist() == ["1336"] * 4 and years.month == 3
    assert read_block((GOOD + "\n" + HOSTILE[4] + "\n").encode(), years) is None


def test_every_mapping_branch_reads_the_same_column_wise():
    block = ("\n".join([GOOD, *VARIANTS]) + "\n").encode()
    assert read_block(block, YearGuess(dt.datetime.now(dt.UTC))) is not None
    assert len(_same(block)) == len(VARIANTS) + 1
    for line in REFUSED:
        block = (GOOD + "\n" + line + "\n").encode()
        assert read_block(block, YearGuess(dt.datetime.now(dt.UTC))) is None
        _same(block)


def test_a_lone_surrogate_is_a_located_warning_not_a_crash():
    line = '{ "timestamp" : "03/15-13:13:29.1", "rule" : "1:366:11", "msg" : "\\ud800" }'
    rows, warnings, _ = _read(("\n".join([GOOD, line, GOOD]) + "\n").encode(), True)
    assert len(rows) == 2
    assert warnings == [(2, "not a snort_json alert: text holds a lone UTF-16 surrogate (\\ud800-\\udfff)", line)]
