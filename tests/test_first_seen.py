"""first_seen: what is new to the fleet after the learning period, one finding per host, history kept."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import engine_params, ingested_lake

from winnow.engine import Window, connect

_S = {"SourceName": "Microsoft-Windows-Sysmon", "Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1,
      "ProcessGuid": "{p}", "ProcessId": "42", "User": "CORP\\u"}
START = dt.datetime(2024, 3, 4, 8, tzinfo=dt.UTC)
HOSTS = [f"WS{i:02d}" for i in range(60)]


def _proc(host: str, when: dt.datetime, parent: str, image: str, command: str) -> dict:
    return {**_S, "Computer": host, "UtcTime": f"{when:%Y-%m-%d %H:%M:%S}.000",
            "TimeCreated": f"{when:%Y-%m-%dT%H:%M:%S}Z", "ParentImage": parent, "Image": image, "CommandLine": command}


def events(days: int = 4) -> list[dict]:
    ev = []
    for day in range(days):
        for i, host in enumerate(HOSTS):  # what every workstation does every day
            at = START + dt.timedelta(days=day, minutes=i)
            ev.append(_proc(host, at, "C:\\Windows\\explorer.exe", "C:\\Program Files\\Google\\Chrome\\chrome.exe",
                            f'"C:\\Program Files\\Google\\Chrome\\chrome.exe" --tab={day * 100 + i}'))
            ev.append(_proc(host, at, "C:\\Windows\\System32\\services.exe", "C:\\Windows\\System32\\svchost.exe",
                            f"C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule{day}"))
    if days >= 4:  # the last day: a macro on WS07 starts PowerShell
        ev.append(_proc("WS07", START + dt.timedelta(days=3, hours=5),
                        "C:\\Program Files\\Microsoft Office\\WINWORD.EXE",
                        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                        "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAu"))
    return ev


def _write(folder: Path, days: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sysmon.json").write_text("".join(json.dumps(e) + "\n" for e in events(days)))


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    return ingested_lake(tmp_path_factory, "first-seen", lambda d: _write(d, 4))


@pytest.mark.parametrize("engine_name", engine_params())
def test_a_new_parent_child_pair_on_one_host(lake, engine_name) -> None:
    from winnow.detections import get_detector

    with connect(engine_name, lake) as engine:
        found = get_detector("first_seen").find(engine, Window())
        again = get_detector("first_seen").find(engine, Window())  # the history it wrote changes nothing
    assert [f.entity for f in found] == ["WS07: first seen"] and [f.to_dict() for f in again] == [
        f.to_dict() for f in found]
    finding = found[0]
    items = {(i["kind"], i["item"]) for i in finding.evidence["items"]}
    assert ("parent_child", "winword.exe → powershell.exe") in items
    assert ("command", "powershell.exe powershell.exe -nop -w hidden -enc <blob>") in items
    assert finding.severity == "medium" and finding.components["parent_child"] == 0.75
    assert finding.why.startswith("3 things new to the fleet on WS07 after the learning period: a parent → child pair "
                                  "winword.exe → powershell.exe")


def test_the_learning_period_is_the_baseline(tmp_path) -> None:
    """A lake of the first days alone reports nothing; what it saw is history when the last day arrives."""
    from winnow.detections import get_detector
    from winnow.ingest import ingest

    _write(tmp_path / "early", 3)
    ingest([tmp_path / "early"], tmp_path / "lake")
    with connect("duckdb", tmp_path / "lake") as engine:
        assert get_detector("first_seen").find(engine, Window()) == []
    assert (tmp_path / "lake" / "_derived" / "first_seen" / "history.parquet").exists()
    _write(tmp_path / "late", 4)
    ingest([tmp_path / "late"], tmp_path / "lake")
    with connect("duckdb", tmp_path / "lake") as engine:
        last_day = Window(since=START + dt.timedelta(days=3))
        found = get_detector("first_seen").find(engine, last_day)  # the window alone has no early days: history does
    assert [f.entity for f in found] == ["WS07: first seen"]
