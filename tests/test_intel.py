"""Threat intel: feed formats with their bad records, matching on both engines, and a real capture."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import engine_params, ingested_lake

from winnow.config import Config
from winnow.detections import get_detector
from winnow.engine import Window, connect
from winnow.errors import WinnowError
from winnow.intel import load_feeds
from winnow.pipeline.detect import build_detector

FEEDS = Path(__file__).resolve().parent / "data" / "intel"
T0 = 1793577600.0  # 2026-11-02T00:00:00Z
HASH = "aa11bb22cc33dd44ee55ff6600112233445566778899aabbccddeeff00112233"
JA3 = "e7d705a3286e19ea42f587b344ee6865"
UA = "Modzilla/0.0001 (Atari 7800)"


# ----------------------------------------------------------------------------------------------
# Loading: every format, every bad record one located warning, the rest kept
# ----------------------------------------------------------------------------------------------

def test_each_format_is_recognized():
    feeds = load_feeds(FEEDS, log_warnings=False)
    assert {Path(f).name: fmt for f, fmt in feeds.formats.items()} == {
        "blocklist.csv": "csv", "plain.txt": "csv", "feed.intel": "zeek_intel", "bundle.json": "stix",
        "event.json": "misp"}


def test_indicators_are_normalized_and_attributed():
    feeds = load_feeds(FEEDS, log_warnings=False)
    got = {(i.feed, i.kind, i.value, i.confidence, i.line) for i in feeds.indicators}
    assert got == {
        ("blocklist", "ip", "203.0.113.66", 90.0, 3), ("blocklist", "user", "svc_backdoor", 85.0, 6),
        ("blocklist", "domain", "evil-domain.com", 70.0, 7),
        ("plain", "ip", "203.0.113.66", None, 2), ("plain", "domain", "evil-domain.com", None, 3),
        ("feed", "ip", "198.51.100.23", None, 3), ("feed", "user_agent", UA, None, 4),
        ("bundle", "cidr", "192.0.2.64/26", 40.0, 7), ("bundle", "domain", "bad-tls.org", 80.0, 10),
        ("bundle", "hash", HASH, 95.0, 12), ("bundle", "hash", "0123456789abcdef0123456789abcdef", 95.0, 12),
        ("event", "url", "malware.example.net/gate.php?id=1", 90.0, 4), ("event", "ja3", JA3, 90.0, 6),
        ("event", "ip", "203.0.113.66", 90.0, 8), ("event", "domain", "malware.example.net", 90.0, 15),
    }
    stix = next(i for i in feeds.indicators if i.kind == "cidr")
    assert (stix.source, stix.description) == ("identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
                                               "bulletproof hosting range")


def test_bad_records_are_one_located_warning_each(caplog):
    with caplog.at_level("WARNING", logger="winnow.intel"):
        feeds = load_feeds(FEEDS)
    got = sorted((Path(w.file).name, w.line, w.reason) for w in feeds.warnings)
    assert got == [
        ("blocklist.csv", 4, "not an IP address or subnet"),
        ("blocklist.csv", 5, "indicator type 'email' is not matched"),
        ("blocklist.csv", 8, "1 cells, the value is cell 2"),
        ("bundle.json", 15, "pattern not supported (only comparisons with = joined by OR)"),
        ("bundle.json", 17, "not an IP address or subnet"),
        ("bundle.json", 19, "pattern type 'sigma' is not supported"),
        ("event.json", 11, "not a hash (hex of 32/40/64 digits)"),
        ("feed.intel", 6, "not a domain name"),
        ("feed.intel", 7, "2 tab-separated fields, the #fields line names 4"),
        ("plain.txt", 4, "cannot tell what kind of indicator this is"),
    ]
    assert len([r for r in caplog.records if r.name == "winnow.intel"]) == len(got)
    assert "blocklist.csv:4: not an IP address" in caplog.text
    skipped = {(Path(f).name, reason): n for (f, reason), n in feeds.skipped.items()}
    assert skipped == {("event.json", "to_ids false (context, not detection)"): 1,
                       ("event.json", "attribute type email-src is not matched"): 1,
                       ("feed.intel", "indicator type Intel::EMAIL is not matched"): 1}


def test_unreadable_and_broken_files_warn_without_raising(tmp_path):
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "cut.json").write_text('{"type": "bundle", "objects": [\n{"type": "indicator",\n')
    (tmp_path / ".hidden").write_text("203.0.113.1\n")
    feeds = load_feeds(tmp_path, log_warnings=False)
    assert feeds.indicators == []
    got = sorted((Path(w.file).name, w.line) for w in feeds.warnings)
    assert got == [("binary.csv", None), ("cut.json", 3)]


def test_stix_or_patterns_and_escapes():
    from winnow.intel.stix_feed import comparisons

    assert comparisons("[url:value = 'http://x.test/a\\'b'] OR [domain-name:value = 'x.test']") == [
        ("url:value", "http://x.test/a'b"), ("domain-name:value", "x.test")]
    assert comparisons("[domain-name:value = 'a OR b.test']") == [("domain-name:value", "a OR b.test")]
    assert comparisons("[domain-name:value LIKE '%.test']") is None
    assert comparisons("[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '1.2.3.5']") is None


# ----------------------------------------------------------------------------------------------
# Matching: a hand-written lake of every table a probe reads, on every engine
# ----------------------------------------------------------------------------------------------

def _zeek(path: str, ts: float, src: str, dst: str, dport: int, **fields: object) -> str:
    record = {"_path": path, "ts": T0 + ts, "uid": f"C{path}{int(ts)}", "id.orig_h": src, "id.orig_p": 40000,
              "id.resp_h": dst, "id.resp_p": dport, **fields}
    return json.dumps(record)


def _sysmon(event_id: int, ts: str, **fields: object) -> str:
    return json.dumps({"SourceName": "Microsoft-Windows-Sysmon", "Channel": "Microsoft-Windows-Sysmon/Operational",
                       "Hostname": "WS01.example.local", "EventID": event_id, "UtcTime": f"2026-11-02 {ts}",
                       "ProcessGuid": "{11111111-2222-3333-4444-555555555555}", "ProcessId": "4242",
                       "Image": "C:\\Users\\alice\\loader.exe", "User": "EXAMPLE\\alice", **fields})


def _write_logs(folder: Path) -> None:
    folder.mkdir(parents=True)
    conn = [
        *(_zeek("conn", 60 + i, "10.0.0.5", "203.0.113.66", 443, proto="tcp") for i in range(3)),
        _zeek("conn", 70, "10.0.0.6", "203.0.113.66", 443, proto="tcp"),
        _zeek("conn", 80, "198.51.100.23", "10.0.0.7", 22, proto="tcp"),
        _zeek("conn", 90, "10.0.0.8", "192.0.2.77", 80, proto="tcp"),
        _zeek("conn", 95, "10.0.0.9", "192.0.2.200", 80, proto="tcp"),  # outside 192.0.2.64/26
        _zeek("conn", 99, "10.0.0.5", "93.184.216.34", 443, proto="tcp"),
        _zeek("dns", 50, "10.0.0.5", "10.0.0.1", 53, proto="udp", query="a.b.evil-domain.com",
              answers=["203.0.113.66"]),
        _zeek("dns", 51, "10.0.0.6", "10.0.0.1", 53, proto="udp", query="notevil-domain.com"),
        _zeek("dns", 52, "10.0.0.6", "10.0.0.1", 53, proto="udp", query="EVIL-DOMAIN.COM."),
        _zeek("http", 61, "10.0.0.5", "203.0.113.66", 80, method="GET", host="malware.example.net",
              uri="/gate.php?id=1", user_agent=UA),
        _zeek("http", 62, "10.0.0.9", "192.0.2.200", 80, method="GET", host="example.org", uri="/gate.php?id=1",
              user_agent="Mozilla/5.0"),
        _zeek("ssl", 91, "10.0.0.8", "192.0.2.77", 443, server_name="c2.bad-tls.org", ja3=JA3, cipher="x"),
    ]
    (folder / "zeek.log").write_text("\n".join(conn) + "\n")
    windows = [
        _sysmon(1, "00:02:00.000", CommandLine="loader.exe", ParentImage="C:\\Windows\\explorer.exe",
                Hashes=f"MD5=00000000000000000000000000000001,SHA256={HASH.upper()},IMPHASH=0000"),
        _sysmon(3, "00:02:01.000", Protocol="tcp", Initiated="true", SourceIp="10.0.0.20", SourcePort="50000",
                DestinationIp="203.0.113.66", DestinationPort="443"),
        _sysmon(22, "00:02:02.000", QueryName="evil-domain.com", QueryStatus="0", QueryResults="::ffff:192.0.2.1;"),
        json.dumps({"SourceName": "Microsoft-Windows-Security-Auditing", "Channel": "Security",
                    "Hostname": "DC01.example.local", "TimeCreated": "2026-11-02T00:03:00.000Z", "EventID": 4624,
                    "TargetUserName": "svc_backdoor", "TargetDomainName": "EXAMPLE", "LogonType": "3",
                    "IpAddress": "198.51.100.23", "IpPort": "50124"}),
    ]
    (folder / "events.json").write_text("\n".join(windows) + "\n")


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    lake = ingested_lake(tmp_path_factory, "intel", _write_logs)
    shutil.copytree(FEEDS, lake / "intel")  # the default feed folder: <lake>/intel
    return lake


EXPECTED = {
    # (indicator, local entity): {(table, column): rows}
    ("203.0.113.66", "10.0.0.5"): {("net.conn", "dst_ip"): 3, ("net.dns", "answers"): 1},
    ("203.0.113.66", "10.0.0.6"): {("net.conn", "dst_ip"): 1},
    ("203.0.113.66", "WS01.example.local"): {("proc.net", "dst_ip"): 1},
    ("198.51.100.23", "10.0.0.7"): {("net.conn", "src_ip"): 1},
    ("198.51.100.23", "DC01.example.local"): {("auth.logon", "src_ip"): 1},
    ("192.0.2.64/26", "10.0.0.8"): {("net.conn", "dst_ip"): 1},
    ("evil-domain.com", "10.0.0.5"): {("net.dns", "query"): 1},
    ("evil-domain.com", "10.0.0.6"): {("net.dns", "query"): 1},
    ("evil-domain.com", "WS01.example.local"): {("proc.dns", "query"): 1},
    ("malware.example.net/gate.php?id=1", "10.0.0.5"): {("net.http", "host+uri"): 1},
    ("malware.example.net", "10.0.0.5"): {("net.http", "host"): 1},
    (UA, "10.0.0.5"): {("net.http", "user_agent"): 1},
    (JA3, "10.0.0.8"): {("net.tls", "ja3"): 1},
    ("bad-tls.org", "10.0.0.8"): {("net.tls", "server_name"): 1},
    (HASH, "WS01.example.local"): {("proc.exec", "hashes"): 1},
    ("svc_backdoor", "DC01.example.local"): {("auth.logon", "user"): 1},
}


@pytest.fixture(scope="module", params=engine_params())
def findings(request, lake) -> list:
    with connect(request.param, lake) as engine:
        return get_detector("intel").find(engine, Window())


def test_every_indicator_found_once_per_local_entity(findings):
    got = {(f.evidence["indicator"], f.evidence["local"]):
           {(m["table"], m["column"]): m["rows"] for m in f.evidence["matched"]} for f in findings}
    assert got == EXPECTED


def test_findings_name_feed_confidence_and_severity(findings):
    by = {(f.evidence["indicator"], f.evidence["local"]): f for f in findings}
    listed = by[("203.0.113.66", "10.0.0.5")]
    assert sorted(x["feed"] for x in listed.evidence["feeds"]) == ["blocklist", "event", "plain"]
    assert listed.evidence["confidence"] == 90 and listed.severity == "high"
    assert (listed.src, listed.dst) == ("10.0.0.5", "203.0.113.66")
    assert listed.why.startswith("10.0.0.5 met 203.0.113.66 (ip: Cobalt Strike team server), listed by "
                                 "blocklist, event, plain with confidence 90, in 4 rows")
    assert by[("198.51.100.23", "10.0.0.7")].severity == "medium"  # no confidence: the default, 50
    assert by[("192.0.2.64/26", "10.0.0.8")].severity == "low"  # STIX confidence 40
    subnet = by[("192.0.2.64/26", "10.0.0.8")].evidence["matched"][0]
    assert subnet["values"] == ["192.0.2.77"]
    sub = by[("evil-domain.com", "10.0.0.5")].evidence["matched"][0]
    assert sub["values"] == ["a.b.evil-domain.com"]
    host = by[(HASH, "WS01.example.local")]
    assert (host.host, host.src, host.severity) == ("WS01.example.local", None, "high")
    assert by[("svc_backdoor", "DC01.example.local")].user == "svc_backdoor"
    for f in findings:
        assert set(f.components) == {"confidence"} and f.components["confidence"] == f.score
        assert f.first_seen <= f.last_seen


def test_confidence_settings_move_severity_and_filter(lake):
    with connect("duckdb", lake) as engine:
        strict = get_detector("intel", high_confidence=95.0, medium_confidence=85.0, min_confidence=60.0)
        found = strict.find(engine, Window())
    by = {(f.evidence["indicator"], f.evidence["local"]): f.severity for f in found}
    assert by[("203.0.113.66", "10.0.0.5")] == "medium"
    assert by[(HASH, "WS01.example.local")] == "high"
    assert by[("evil-domain.com", "10.0.0.5")] == "low"
    assert ("192.0.2.64/26", "10.0.0.8") not in by and ("198.51.100.23", "10.0.0.7") not in by


def test_limit_keeps_the_highest_ranked_pairs(lake):
    with connect("duckdb", lake) as engine:
        found = get_detector("intel", limit=3).find(engine, Window())
    # confidence 95 first, then 90 by kind and value, then the local entity
    assert [f.entity for f in found] == [f"{HASH} @ WS01.example.local", "malware.example.net @ 10.0.0.5",
                                         "203.0.113.66 @ 10.0.0.5"]


def test_feeds_folder_from_the_setting_and_no_feeds(lake, tmp_path):
    (tmp_path / "only.csv").write_text("value\nbad-tls.org\n")
    with connect("duckdb", lake) as engine:
        found = build_detector("intel", Config({"intel.feeds": str(tmp_path)})).find(engine, Window())
        assert [(f.evidence["indicator"], f.evidence["local"]) for f in found] == [("bad-tls.org", "10.0.0.8")]
        with pytest.raises(WinnowError, match="does not exist"):
            get_detector("intel", feeds=str(tmp_path / "empty")).find(engine, Window())


# ----------------------------------------------------------------------------------------------
# Real captures: the known-bad parties of two shared captures, and nothing else
# ----------------------------------------------------------------------------------------------

RAT = "stratosphere/security-datasets-for-testing/003-zeek-scenario-malicious"  # 10.8.0.61 -> 147.32.83.234:1337
RITA_DAY = "rita-zeek-beacon/missing_host/2024-04-19"  # 73.54.23.243 beacons to 64.225.56.201, odd user agent
RITA_UA = "Modzilla/0.0001 (Atari 7800)"


def _zeek_rows(paths: list[Path], field: str, value: str) -> int:
    """Rows of gzipped Zeek TSV logs whose ``field`` is ``value`` (the oracle, read without Winnow)."""
    import gzip

    n = 0
    for path in paths:
        names: list[str] = []
        with gzip.open(path, "rt") as fh:
            for line in fh:
                if line.startswith("#fields"):
                    names = line.rstrip("\n").split("\t")[1:]
                elif not line.startswith("#"):
                    n += line.rstrip("\n").split("\t")[names.index(field)] == value
    return n


def test_real_captures_known_bad_parties_exactly(shared_data, tmp_path_factory):
    rita = sorted((shared_data / RITA_DAY).glob("conn.*.log.gz")), sorted((shared_data / RITA_DAY).glob("http.*"))

    def write(folder: Path) -> None:
        (folder / "rita").mkdir(parents=True)
        for path in (shared_data / RAT).glob("*.log"):
            shutil.copy(path, folder / path.name)
        for path in rita[0] + rita[1]:
            shutil.copy(path, folder / "rita" / path.name)

    lake = ingested_lake(tmp_path_factory, "intel_real", write)
    feeds = lake.parent / "feeds"
    feeds.mkdir()
    (feeds / "known.csv").write_text("type,value,confidence,source,description\n"
                                     "ip,147.32.83.234,80,stratosphere,AndroidTester RAT C2 (README)\n"
                                     "ip,73.54.23.243,80,rita,HTTP beacon source (README)\n"
                                     f"user_agent,{RITA_UA},90,rita,beacon user agent (README)\n")
    with connect("duckdb", lake) as engine:
        found = get_detector("intel", feeds=str(feeds)).find(engine, Window())
    got = {(f.evidence["indicator"], f.evidence["local"]):
           {(m["table"], m["column"]): m["rows"] for m in f.evidence["matched"]} for f in found}
    assert got == {
        ("147.32.83.234", "10.8.0.61"): {("net.conn", "dst_ip"): 12},  # the 12 RAT connections (MANIFEST)
        ("73.54.23.243", "64.225.56.201"): {("net.conn", "src_ip"): _zeek_rows(rita[0], "id.orig_h", "73.54.23.243")},
        (RITA_UA, "73.54.23.243"): {("net.http", "user_agent"): _zeek_rows(rita[1], "user_agent", RITA_UA)},
    }


def test_intel_command_summarizes_feeds_and_lists_bad_records(capsys, lake):
    from winnow.cli.main import main

    with pytest.raises(SystemExit) as code:
        main(["intel", "--lake", str(lake), "--format", "json"])  # the lake's own folder, <lake>/intel
    rows = {Path(r["file"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert code.value.code == 0
    assert rows["event.json"] == {"file": str(lake / "intel" / "event.json"), "format": "misp", "indicators": 4,
                                  "kinds": "domain 1, ip 1, ja3 1, url 1", "skipped": 2, "bad": 1}
    assert sum(r["bad"] for r in rows.values()) == 10
    with pytest.raises(SystemExit):
        main(["intel", str(FEEDS), "--warnings", "--format", "json"])
    bad = json.loads(capsys.readouterr().out)
    assert [(Path(w["file"]).name, w["line"]) for w in bad][:2] == [("blocklist.csv", 4), ("blocklist.csv", 5)]
