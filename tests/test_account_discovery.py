"""account_discovery: 4798/4799 enumeration by a person's tools or over the network; Windows' own never counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import engine_params, ingested_lake

from winnow.engine import Window, connect

_A = {"SourceName": "Microsoft-Windows-Security-Auditing", "Channel": "Security", "Computer": "WS1",
      "SubjectDomainName": "CORP", "SubjectLogonId": "0x3e7"}


def _enum(second: int, event_id: int, who: str, sid: str, target: str, caller: str, domain: str = "Builtin") -> dict:
    return {**_A, "EventID": event_id, "TimeCreated": f"2024-01-02T03:04:{second:02d}Z", "SubjectUserName": who,
            "SubjectUserSid": sid, "TargetUserName": target, "TargetDomainName": domain,
            "CallerProcessName": caller, "CallerProcessId": "0x0" if caller == "-" else "0x10b4"}


NET1 = "C:\\Windows\\System32\\net1.exe"
EVENTS = [
    _enum(1, 4799, "bob", "S-1-5-21-1-1104", "Administrators", NET1),
    _enum(2, 4798, "bob", "S-1-5-21-1-1104", "Administrator", NET1, domain="WS1"),
    *(_enum(3 + i, 4799, "eve", "S-1-5-21-1-1105", g, "-") for i, g in enumerate(
        ["Administrators", "Remote Desktop Users", "Users"])),
    _enum(9, 4799, "carol", "S-1-5-21-1-1106", "Users", "C:\\Windows\\System32\\mmc.exe"),
    # Windows itself, under the machine account and SYSTEM
    _enum(10, 4799, "WS1$", "S-1-5-18", "Administrators", "C:\\Windows\\System32\\svchost.exe"),
    _enum(11, 4798, "SYSTEM", "S-1-5-18", "bob", "C:\\Windows\\System32\\CompatTelRunner.exe", domain="WS1"),
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    def write(folder: Path) -> None:
        folder.mkdir(parents=True)
        (folder / "security.json").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))

    return ingested_lake(tmp_path_factory, "account-discovery", write)


@pytest.mark.parametrize("engine_name", engine_params())
def test_account_discovery(lake, engine_name) -> None:
    from winnow.detections import get_detector

    with connect(engine_name, lake) as engine:
        found = {f.entity: f for f in get_detector("account_discovery").find(engine, Window())}
    assert sorted(found) == ["bob@WS1 account discovery with net1.exe", "carol@WS1 account discovery with mmc.exe",
                             "eve@WS1 account discovery over the network (SAMR)"]
    bob = found["bob@WS1 account discovery with net1.exe"]
    assert bob.components == {"caller": 0.65, "privileged": 0.1, "breadth": 0.0} and bob.severity == "medium"
    assert bob.why == ("bob listed a group's members and a user's groups on WS1 with net1.exe: "
                       "Builtin\\Administrators, WS1\\Administrator; a privileged group among them")
    eve = found["eve@WS1 account discovery over the network (SAMR)"]
    assert eve.score == pytest.approx(0.75) and eve.evidence["remote"] and len(eve.evidence["targets"]) == 3
    assert found["carol@WS1 account discovery with mmc.exe"].severity == "info"
