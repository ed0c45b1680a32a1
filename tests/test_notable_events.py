"""notable_events: single Windows events alarming by themselves, each with its condition and exclusion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import engine_params, ingested_lake

from winnow.engine import Window, connect

_SEC = {"SourceName": "Microsoft-Windows-Security-Auditing", "Channel": "Security", "Computer": "WS1"}
_APP = {"SourceName": "Microsoft-Windows-ProcessExitMonitor", "Channel": "Application", "Computer": "WS1"}
_BOOT = {"KernelDebug": "%%1843", "TestSigning": "%%1843", "DisableIntegrityChecks": "%%1843",
         "HypervisorDebug": "%%1843"}


def _at(hour: int) -> str:
    return f"2024-01-02T{hour:02d}:00:00Z"


EVENTS = [
    {**_SEC, "EventID": 4826, "TimeCreated": _at(1), **_BOOT},  # an ordinary boot
    {**_SEC, "EventID": 4826, "TimeCreated": _at(2), **_BOOT, "TestSigning": "%%1842"},  # test signing on
    {**_SEC, "EventID": 4703, "TimeCreated": _at(3), "ProcessName": "C:\\Users\\bob\\Desktop\\x64\\m.exe",
     "EnabledPrivilegeList": "SeDebugPrivilege", "SubjectUserName": "bob"},
    {**_SEC, "EventID": 4703, "TimeCreated": _at(3), "ProcessName": "C:\\Windows\\System32\\lsass.exe",
     "EnabledPrivilegeList": "SeDebugPrivilege", "SubjectUserName": "WS1$"},  # Windows' own
    {**_APP, "EventID": 3001, "TimeCreated": _at(4), "param1": "C:\\Windows\\System32\\lsass.exe",
     "param2": "C:\\Users\\bob\\x.exe"},
    {**_APP, "EventID": 3001, "TimeCreated": _at(4), "param1": "C:\\Program Files\\App\\app.exe",
     "param2": "C:\\Windows\\System32\\taskmgr.exe"},  # another program's silent exit: not LSASS
    {**_SEC, "EventID": 4826, "TimeCreated": _at(23), **_BOOT, "KernelDebug": "%%1842"},  # a second episode
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    def write(folder: Path) -> None:
        folder.mkdir(parents=True)
        (folder / "events.json").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))

    return ingested_lake(tmp_path_factory, "notable-events", write)


@pytest.mark.parametrize("engine_name", engine_params())
def test_notable_events(lake, engine_name) -> None:
    from winnow.detections import get_detector

    with connect(engine_name, lake) as engine:
        found = {f.entity: f for f in get_detector("notable_events").find(engine, Window())}
    assert sorted(found) == ["WS1: boot_debug (2024-01-02 02:00)", "WS1: boot_debug (2024-01-02 23:00)",
                             "WS1: debug_privilege", "WS1: lsass_silent_exit"]
    assert found["WS1: lsass_silent_exit"].severity == "high"
    debug = found["WS1: debug_privilege"]
    assert debug.evidence["technique"] == "T1134" and debug.evidence["events"] == 1 and "m.exe" in str(debug.evidence)
    assert found["WS1: boot_debug (2024-01-02 02:00)"].why == (
        "On WS1, the machine booted with kernel debugging, test signing or integrity checks turned on "
        "(T1553.006; Security event 4826, one event)")
