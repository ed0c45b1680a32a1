"""IDS alerts: Suricata EVE and Snort sources (tests/data/ids/, the real samples) and the ``ids`` detector."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from conftest import engine_params

from winnow.detections import get_detector
from winnow.engine import Window, connect
from winnow.ingest import ingest
from winnow.sources import ParseContext, sniff, sources
from winnow.sources.snort_alerts import CSV_ALL

DATA = Path(__file__).parent / "data" / "ids"


def parse(path: Path) -> tuple[str, dict[str, list[dict]], ParseContext]:
    raw = path.read_bytes()
    source = sniff(raw[:65536], str(path))
    assert source is not None, f"{path.name} not recognised"
    ctx = ParseContext(path.name)
    out: dict[str, list[dict]] = {}
    for batch in source.parse(io.BytesIO(raw), ctx):
        out.setdefault(batch.table, []).extend(batch.data.to_pylist())
    return source.name, out, ctx


def test_eve_records_map_to_alert_and_net_tables():
    name, tables, ctx = parse(DATA / "eve.json")
    assert name == "suricata_eve" and ctx.unsupported == {"eve stats": 1, "eve fileinfo": 1}
    alert = tables["ids.alert"][0]
    assert (alert["signature_id"], alert["severity"], alert["sensor"]) == (2052099, 1, "sensor-a")
    assert alert["attack"] == ["T1071", "TA0011"] and alert["proto"] == "tcp" and alert["flow_id"] == "1779933231472895"
    conn = tables["net.conn"][0]
    assert (conn["uid"], conn["duration"], conn["src_bytes"], conn["dst_pkts"], conn["service"]) == ("7", 2.5, 700, 4,
                                                                                                      "http")
    dns = {r["query"]: r for r in tables["net.dns"]}  # the answered query is one row: its answer
    assert len(tables["net.dns"]) == 2 and dns["answered.example"]["answers"] == ["1.2.3.4", "5.6.7.8"]
    assert dns["answered.example"]["rcode_name"] == "NOERROR" and dns["unanswered.example"]["qtype_name"] == "TXT"
    assert tables["net.http"][0]["status"] == 200 and tables["net.http"][0]["host"] == "ocsp.example"
    tls = tables["net.tls"][0]
    assert (tls["server_name"], tls["cert_chain_fps"]) == ("bad.example", ["aa:bb"])
    assert tls["ja3"] == "b910ec17404b376cc7dfdbc1ac51f7d3"


def test_malformed_lines_are_located_warnings():
    _, tables, ctx = parse(DATA / "eve.json")
    assert [w.line for w in ctx.warnings] == [12, 13, 14, 15]
    assert "not valid JSON" in ctx.warnings[0].reason and "not an object" in ctx.warnings[1].reason
    assert "flow_id" in ctx.warnings[2].reason and "without an alert object" in ctx.warnings[3].reason
    assert sum(len(rows) for rows in tables.values()) == 8


@pytest.mark.parametrize(("fixture", "fmt", "good", "bad_lines"), [
    ("snort_fast.txt", "snort_fast", 6, [6]),
    ("snort_json.txt", "snort_json", 2, [3, 4]),
    ("snort_csv_default.csv", "snort_csv", 2, [3]),
    ("snort_csv_all.csv", "snort_csv", 1, []),
])
def test_snort_formats(fixture, fmt, good, bad_lines):
    name, tables, ctx = parse(DATA / fixture)
    rows = tables["ids.alert"]
    assert name == fmt and len(rows) == good and [w.line for w in ctx.warnings] == bad_lines
    assert all(r["engine"] in ("snort", "suricata") and r["signature_id"] is not None for r in rows)


def test_snort_field_details():
    fast = parse(DATA / "snort_fast.txt")[1]["ids.alert"]
    assert fast[0]["signature"].startswith("MALWARE-CNC") and fast[0]["severity"] == 1  # quotes dropped
    assert (fast[2]["proto"], fast[2]["src_port"], fast[2]["dst_ip"]) == ("icmp", None, "172.25.212.153")
    assert fast[3]["engine"] == "suricata" and fast[3]["ts"].year == 2024 and fast[3]["category"] is None
    assert fast[4]["action"] == "Drop" and (fast[5]["src_ip"], fast[5]["dst_port"]) == ("2001:db8::5", 8)
    csv_default = parse(DATA / "snort_csv_default.csv")[1]["ids.alert"]
    assert csv_default[0]["signature"] == "116:433:1" and csv_default[0]["severity"] is None
    assert csv_default[1]["src_ip"].endswith(":0005") and csv_default[1]["src_port"] == 48620
    full = parse(DATA / "snort_csv_all.csv")[1]["ids.alert"][0]
    assert len(CSV_ALL) == 45 and full["signature"] == "MALWARE-CNC Win.Trojan.Yoddos outbound, indicator"
    assert full["ts"].year == 2017 and full["action"] == "drop"  # the year from 'seconds'


def test_sniffing_keeps_formats_apart():
    for name in ("suricata_eve", "snort_fast", "snort_json", "snort_csv"):
        assert name in sources()
    zeek = b'{"ts":1700000000.1,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2"}\n'
    assert sniff(zeek, "conn.log").name == "zeek_json"


# --- real samples: rows landed + rows in warnings equal an independent count ------------------------------

_SIG = re.compile(r"\[\d+:\d+:\d+\]")


def independent_count(path: Path) -> int:
    """Alerts in a sample counted without Winnow (JSON event_type, '[gid:sid:rev]' lines, CSV lines)."""
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    if path.parent.name == "suricata-eve" and path.suffix != ".log" or path.name.endswith("eve-small.log"):
        return sum(json.loads(ln).get("event_type") == "alert" for ln in lines)
    if "json" in path.name:
        return len(lines)
    if path.suffix == ".csv":
        return len(lines)
    return sum(bool(_SIG.search(ln)) and "[**]" in ln for ln in lines)


@pytest.fixture(scope="module")
def real_lake(shared_data, tmp_path_factory):
    lake = tmp_path_factory.mktemp("ids-real") / "lake"
    report = ingest([shared_data / "ids"], lake)
    return shared_data / "ids", lake, report


def _rows_by_file(lake: Path, table: str) -> dict[str, int]:
    """Rows of ``table`` per source file name."""
    column = "file" if table == "ingest_warnings" else "_source_file"
    with connect("duckdb", lake) as engine:
        t = engine.table(table, Window())
        if t is None:
            return {}
        rows = t.group_by(column).aggregate(n=t.count()).to_pyarrow().to_pylist()
    return {Path(r[column]).name: r["n"] for r in rows}


def test_real_samples_alerts_landed_plus_warnings_equal_independent_count(real_lake):
    root, lake, report = real_lake
    landed = _rows_by_file(lake, "ids.alert")
    warned = _rows_by_file(lake, "ingest_warnings")
    checked = 0
    for path in sorted((root / "suricata-eve").iterdir()) + sorted((root / "snort").iterdir()):
        if "full" in path.name or "u2spewfoo" in path.name or path.suffix == ".tsv":
            continue  # alert_full and unified2 text are not read (docs/ACCURACY.md)
        expected = independent_count(path)
        assert landed.get(path.name, 0) + warned.get(path.name, 0) == expected, path.name
        checked += 1
    assert checked == 23
    eve = [p.name for p in (root / "suricata-eve").iterdir() if not p.name.endswith("fast.log")]
    assert len(eve) == 14 and sum(landed.get(name, 0) for name in eve) == 2157  # the README's EVE total
    assert sum(warned.values()) == 1  # one interleaved line in the Snort 2 fast log


def test_reingest_adds_nothing(tmp_path):
    lake = tmp_path / "lake"
    ingest([DATA], lake)
    first = _rows_by_file(lake, "ids.alert")
    report = ingest([DATA], lake)
    assert _rows_by_file(lake, "ids.alert") == first and sum(first.values()) == 8 + 6 + 2 + 2 + 1 - 5
    assert all(f.status == "already ingested" for f in report.files)


# --- the detector ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fixture_lake(tmp_path_factory):
    lake = tmp_path_factory.mktemp("ids-fixture") / "lake"
    ingest([DATA], lake)
    return lake


@pytest.mark.parametrize("engine_name", engine_params())
def test_detector_groups_by_pair_and_rule_on_both_engines(engine_name, fixture_lake):
    with connect(engine_name, fixture_lake) as engine:
        findings = get_detector("ids").find(engine, Window())
    by_entity = {f.entity: f for f in findings}
    top = by_entity["10.4.17.101->85.239.53.219 1:2052099"]
    assert top.severity == "high" and {f.severity for f in findings[:2]} == {"high"} and top in findings[:2]
    assert top.evidence["alerts"] == 2 and top.evidence["blocked"] == 1
    assert top.evidence["attack"] == ["T1071", "TA0011"]
    assert "ATT&CK T1071, TA0011" in top.why and "fired 2 times" in top.why and "A Network Trojan" in top.why
    assert top.dport == 80 and top.first_seen < top.last_seen and set(top.components) == {"priority", "volume"}
    emotet = by_entity["10.11.14.101->50.78.167.65 1:48402"]
    assert emotet.severity == "high" and emotet.evidence["engine"] == "snort" and emotet.evidence["alerts"] == 2
    assert by_entity["10.4.17.101->10.4.17.1 1:2002752"].severity == "low"
    assert by_entity["5.6.7.8->1.2.3.4 116:433"].evidence["priority"] == 3  # no priority in the log: the setting
    assert by_entity["172.25.212.245->172.25.212.153 1:477"].evidence["priority"] == 3  # priority 0: likewise
    assert len(findings) == len(by_entity) == 12  # 14 alerts, two pairs fired twice


def test_detector_severity_map_is_a_setting(fixture_lake):
    with connect("duckdb", fixture_lake) as engine:
        strict = get_detector("ids", high_priority=0, medium_priority=1).find(engine, Window())
    assert {f.severity for f in strict if f.evidence["priority"] == 1} == {"medium"}


def test_detector_on_real_samples_names_the_known_malware(real_lake):
    _, lake, _ = real_lake
    with connect("duckdb", lake) as engine:
        findings = get_detector("ids").find(engine, Window())
    high = [f for f in findings if f.severity == "high"]
    assert any("SSLoad" in f.why and f.src == "10.4.17.101" for f in high)  # stamus-training-02: SSLoad
    assert any("Emotet" in f.why and f.src == "10.11.14.101" for f in high)  # Snort 3 Emotet run
    assert any("T1590" in (f.evidence["attack"] or []) for f in findings)  # Security Onion rule metadata
