"""registry_change: Sysmon 12/13/14 at the locations attackers write to, scored by location, writer and value."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import engine_params, ingested_lake

from winnow.engine import Window, connect

_S = {"SourceName": "Microsoft-Windows-Sysmon", "Channel": "Microsoft-Windows-Sysmon/Operational",
      "Computer": "WS1", "ProcessGuid": "{p}", "ProcessId": "42", "User": "CORP\\bob"}
_SID = "HKU\\S-1-5-21-1-1104"


def _set(minute: int, image: str, key: str, details: str = "", event_type: str = "SetValue") -> dict:
    return {**_S, "EventID": 13 if event_type == "SetValue" else 12, "EventType": event_type, "Image": image,
            "UtcTime": f"2024-01-02 03:{minute:02d}:00.000", "TargetObject": key, "Details": details}


EVENTS = [
    # a Run key pointing into the user's profile, written by reg.exe: medium+ with both modifiers
    _set(1, "C:\\Windows\\System32\\reg.exe", "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\Updater",
         "C:\\Users\\Public\\upd.exe"),
    # an installer writing its own Run key: below medium
    _set(2, "C:\\Windows\\System32\\msiexec.exe", "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\Vendor",
         "\"C:\\Program Files\\Vendor\\tray.exe\""),
    # WDigest turned on (counts), then a routine write that leaves it off (does not)
    _set(3, "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
         "HKLM\\System\\CurrentControlSet\\Control\\SecurityProviders\\WDigest\\UseLogonCredential",
         "DWORD (0x00000001)"),
    {**_set(4, "C:\\Windows\\System32\\svchost.exe",
            "HKLM\\System\\CurrentControlSet\\Control\\SecurityProviders\\WDigest\\UseLogonCredential",
            "DWORD (0x00000000)"), "Computer": "WS2"},
    # the firewall switched on again: a switch only counts when turned off
    _set(5, "C:\\Windows\\System32\\netsh.exe",
         "HKLM\\System\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\StandardProfile\\"
         "EnableFirewall", "DWORD (0x00000001)"),
    # a UAC bypass through ms-settings
    _set(6, "C:\\Users\\bob\\AppData\\Local\\Temp\\x.exe",
         f"{_SID}\\Software\\Classes\\ms-settings\\shell\\open\\command\\(Default)",
         "C:\\Users\\bob\\AppData\\Local\\Temp\\x.exe"),
    # the User Profile Service linking the user's classes: Windows itself, never counted
    _set(7, "C:\\Windows\\system32\\svchost.exe", f"{_SID}\\Software\\Classes\\SymbolicLinkValue",
         "\\REGISTRY\\USER\\S-1-5-21-1-1104_Classes"),
    # an ordinary key nobody watches
    _set(8, "C:\\Program Files\\App\\app.exe", "HKLM\\SOFTWARE\\App\\Settings\\Theme", "dark"),
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    def write(folder: Path) -> None:
        folder.mkdir(parents=True)
        (folder / "sysmon.json").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))

    return ingested_lake(tmp_path_factory, "registry-change", write)


@pytest.fixture(scope="module", params=engine_params())
def found(request, lake) -> dict:
    from winnow.detections import get_detector

    with connect(request.param, lake) as engine:
        return {f.entity: f for f in get_detector("registry_change").find(engine, Window())}


def test_watched_locations_score_by_writer_and_value(found) -> None:
    assert sorted(found) == ["WS1: run_key by msiexec.exe", "WS1: run_key by reg.exe",
                             "WS1: shell_open_hijack by x.exe", "WS1: wdigest by powershell.exe"]
    run = found["WS1: run_key by reg.exe"]
    assert run.components == {"location": 0.5, "writer": 0.15, "value": 0.1, "installer": 0.0}
    assert run.score == pytest.approx(0.75) and run.severity == "medium"
    assert run.evidence["technique"] == "T1547.001" and run.evidence["changes"] == 1
    assert run.why.startswith("reg.exe on WS1 changed an autostart Run key (T1547.001): SetValue …\\CurrentVersion\\Run"
                              "\\Updater = C:\\Users\\Public\\upd.exe")
    assert found["WS1: run_key by msiexec.exe"].severity in ("info", "low")  # 0.5 - 0.2
    assert found["WS1: wdigest by powershell.exe"].severity == "high"
    assert found["WS1: shell_open_hijack by x.exe"].score == pytest.approx(1.0)


def test_locations_are_a_setting(lake) -> None:
    from winnow.detections import get_detector

    only = (("theme", r"\\App\\Settings\\Theme$", "T1112", 0.9, "", "the theme"),)
    with connect("duckdb", lake) as engine:
        findings = get_detector("registry_change", locations=only).find(engine, Window())
    assert [(f.entity, f.severity) for f in findings] == [("WS1: theme by app.exe", "high")]


DATA = Path(os.environ.get("WINNOW_TEST_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.mark.skipif(not (DATA / "mordor" / "atomic").is_dir(), reason=f"shared data not found at {DATA}")
def test_real_mordor_hosts_only_attack_services(tmp_path) -> None:
    """27 k real registry changes of the Mordor lab hosts: only the attacks' own service installs are medium+."""
    from winnow.detections import get_detector
    from winnow.ingest import ingest

    ingest([DATA / "mordor" / "atomic", DATA / "mordor" / "lsass_campaign_01"], tmp_path / "lake")
    with connect("duckdb", tmp_path / "lake") as engine:
        findings = get_detector("registry_change").find(engine, Window())
    medium = [f for f in findings if f.severity in ("medium", "high")]
    assert len(medium) == 3 and {f.evidence["location"] for f in medium} == {"service_binary"}
    assert all("%comspec%" in (f.why.lower()) or "\\temp\\" in f.why.lower() for f in medium)


def test_bad_locations_are_one_line_user_errors() -> None:
    from winnow.detections import get_detector
    from winnow.errors import WinnowError

    with pytest.raises(WinnowError, match=r"registry_change.locations: '\(unclosed' is not a regular expression"):
        get_detector("registry_change", locations=(("x", "(unclosed", "T1112", 0.5, "", "m"),))
    with pytest.raises(WinnowError, match=r"notable_events.catalog: .* is not a record \[name, channel"):
        get_detector("notable_events", catalog=(("short", "Security", (1,)),))
