"""The pipes detector (Sysmon 17/18): a hand-written day on both engines, then the real recordings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import engine_params, ingested_lake

from winnow.engine import Window, connect

SYS32 = "C:\\Windows\\System32\\"
PS = SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe"
TEMP = "C:\\Users\\bob\\AppData\\Local\\Temp\\"


def _pipe(t: float, host: str, guid: str, image: str, action: str, pipe: str) -> dict:
    return {"SourceName": "Microsoft-Windows-Sysmon", "Channel": "Microsoft-Windows-Sysmon/Operational",
            "EventID": 17 if action == "create" else 18, "EventType": "CreatePipe" if action == "create" else
            "ConnectPipe", "Hostname": host, "TimeCreated": f"2026-11-02T09:{int(t // 60):02d}:{t % 60:06.3f}Z",
            "RecordNumber": int(t * 10), "ProcessGuid": guid, "ProcessId": "4" if image == "System" else "42",
            "Image": image, "PipeName": pipe}


def _events() -> list[dict]:
    """WS1: PsExec, a Cobalt Strike beacon in svchost, PowerShell enumerating, unmanaged PowerShell, getsystem, and
    the look-alikes that stay quiet; SRV1: a remote client sweeping 10 pipes in a second, SRV2 the same pipes slowly."""
    ev = [_pipe(1, "WS1", "{ps}", "C:\\Windows\\PSEXESVC.exe", "create", p)
          for p in ("\\PSEXESVC", "\\PSEXESVC-ADMIN1-4242-stdin", "\\PSEXESVC-ADMIN1-4242-stdout")]
    ev.append(_pipe(2, "WS1", "{cs}", SYS32 + "svchost.exe", "create", "\\postex_7a2b"))
    ev += [_pipe(3 + i, "WS1", "{enum}", PS, "connect", p) for i, p in enumerate(("\\srvsvc", "\\samr", "\\lsarpc"))]
    for guid, image in [("{sys}", "System"), ("{scm}", SYS32 + "services.exe"), ("{svc}", SYS32 + "svchost.exe")]:
        ev += [_pipe(7 + i, "WS1", guid, image, "connect", p) for i, p in enumerate(("\\srvsvc", "\\samr", "\\lsarpc"))]
    ev.append(_pipe(11, "WS1", "{ex}", "C:\\Windows\\explorer.exe", "connect", "\\srvsvc"))
    ev.append(_pipe(12, "WS1", "{plain}", PS, "create", "\\PSHost.1334.77.DefaultAppDomain.powershell"))
    ev.append(_pipe(13, "WS1", "{loader}", TEMP + "loader.exe", "create", "\\PSHost.1334.78.DefaultAppDomain.loader"))
    ev.append(_pipe(14, "WS1", "{payload}", TEMP + "payload.exe", "create", "\\qzkfwe"))
    ev.append(_pipe(14.5, "WS1", "{echo}", SYS32 + "cmd.exe", "connect", "\\qzkfwe"))
    ev.append(_pipe(15, "WS1", "{spool}", SYS32 + "svchost.exe", "create", "\\SvcCtlPipe"))  # a service's own pipe
    ev.append(_pipe(15.5, "WS1", "{r32}", SYS32 + "rundll32.exe", "connect", "\\SvcCtlPipe"))
    names = ("srvsvc", "samr", "lsarpc", "wkssvc", "atsvc", "winreg", "eventlog", "epmapper", "ntsvcs", "spoolss")
    ev += [_pipe(20 + i / 10, "SRV1", "{k1}", "System", "connect", "\\" + p) for i, p in enumerate(names)]
    ev += [_pipe(20 + 60 * i, "SRV2", "{k2}", "System", "connect", "\\" + p) for i, p in enumerate(names)]
    return ev


def _write(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sysmon.json").write_text("".join(json.dumps(e) + "\n" for e in _events()))


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    return ingested_lake(tmp_path_factory, "pipes", _write)


@pytest.fixture(scope="module", params=engine_params())
def found(request, lake) -> dict:
    from winnow.detections import get_detector

    with connect(request.param, lake) as engine:
        return {f.evidence["process"]["process_guid"]: f for f in get_detector("pipes").find(engine, Window())}


def test_tool_pipes_are_high(found) -> None:
    psexec, beacon = found["{ps}"], found["{cs}"]
    assert psexec.severity == "high" and psexec.evidence["tools"] == ["PsExec"] and psexec.host == "WS1"
    assert {p["name"] for p in psexec.evidence["pipes"]} == {"\\PSEXESVC", "\\PSEXESVC-ADMIN1-4242-stdin",
                                                             "\\PSEXESVC-ADMIN1-4242-stdout"}
    assert "\\PSEXESVC" in psexec.why and "PsExec" in psexec.why
    assert psexec.evidence["pipes"][0]["event_id"] == 17 and psexec.evidence["pipes"][0]["records"] == [10]
    assert beacon.severity == "high" and "Cobalt Strike" in beacon.why and "\\postex_7a2b" in beacon.why


def test_powershell_enumerating_rpc_pipes_is_medium(found) -> None:
    enum = found["{enum}"]
    assert enum.score >= 0.6 and set(enum.components) == {"rpc"}
    assert enum.evidence["rpc_pipes"] == ["lsarpc", "samr", "srvsvc"]
    assert enum.why.startswith("powershell.exe on WS1 connected to the lsarpc, samr and srvsvc pipes (RPC used for")
    assert "share and session enumeration" in enum.why


def test_windows_services_and_browsing_stay_quiet(found) -> None:
    for quiet in ("{sys}", "{scm}", "{svc}", "{plain}", "{spool}", "{r32}", "{k2}"):  # routine callers, a slow client
        assert quiet not in found
    assert "{ex}" not in found  # explorer browsing a share: 0.1, below min_score and far below medium


def test_unmanaged_powershell_and_getsystem(found) -> None:
    loader = found["{loader}"]
    assert loader.severity == "high" and "unmanaged PowerShell" in loader.why and loader.evidence["user_writable"]
    maker, shell = found["{payload}"], found["{echo}"]
    assert maker.severity == "high" and "cmd.exe connected to" in maker.why and "\\qzkfwe" in maker.why
    assert shell.score >= 0.6 and "getsystem" in shell.why


def test_remote_sweep_of_pipes(found) -> None:
    sweep = found["{k1}"]
    assert sweep.severity == "medium" and sweep.evidence["sweep"]["pipes"] == 10 and sweep.host == "SRV1"
    assert "opened 10 distinct pipes in 0.9 s" in sweep.why


@pytest.mark.spark
def test_identical_on_both_engines(lake) -> None:
    from winnow.detections import get_detector

    out = {}
    for url in ("duckdb", "spark"):
        with connect(url, lake) as engine:
            out[url] = [f.to_dict() for f in get_detector("pipes").find(engine, Window())]
    assert out["duckdb"] == out["spark"] and len(out["duckdb"]) >= 7


# --------------------------------------------------------------------------------------------
# Real recordings: EVTX-ATTACK-SAMPLES and Mordor (skipped when the shared data is absent)
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real(shared_data, tmp_path_factory) -> list:
    from winnow.detections import get_detector
    from winnow.ingest import ingest

    samples, atomic = shared_data / "evtx-attack-samples", shared_data / "mordor" / "atomic"
    lake = tmp_path_factory.mktemp("pipes-real") / "lake"
    ingest([samples / "Privilege Escalation" / "sysmon_privesc_psexec_dwell.evtx",
            samples / "Discovery" / "Discovery_Remote_System_NamedPipes_Sysmon_18.evtx",
            samples / "Discovery" / "discovery_sysmon_18_Invoke_UserHunter_NetSessionEnum_DC-srvsvc.evtx",
            samples / "Credential Access" / "sysmon17_18_kekeo_tsssp_default_np.evtx",
            atomic / "aptsimulator_cobaltstrike.zip", atomic / "empire_shell_samr_EnumDomainUsers_host.zip"], lake)
    with connect("duckdb", lake) as engine:
        return get_detector("pipes").find(engine, Window())


def test_real_recordings(real) -> None:
    by = {(f.host, f.evidence["process"]["image"].rsplit("\\", 1)[-1].lower()): f for f in real}
    assert by[("MSEDGEWIN10", "psexecprivesc.exe")].evidence["tools"] == ["PsExec"]
    assert by[("MSEDGEWIN10", "kekeo.exe")].severity == "high"
    sweep = next(f for f in real if "sweep" in f.evidence)  # a remote client trying 14 pipes in 0.2 s
    assert sweep.evidence["sweep"]["pipes"] == 14 and sweep.severity == "medium"
    assert not any(f.host == "DC1.insecurebank.local" for f in real)  # one remote srvsvc: any share listing
    beacons = [f for f in real if f.evidence["tools"] == ["Cobalt Strike"]]  # MSSE-*-server, msagent_*, postex_ssh_*
    assert len(beacons) == 4 and all(f.severity == "high" and "CreateNamedPipe.exe" in f.why for f in beacons)
    assert by[("WORKSTATION5", "cmd.exe")].components == {"impersonation": 0.75}  # echo > pipe: getsystem
    net = by[("WORKSTATION5.theshire.local", "net1.exe")]  # net user /domain
    assert net.severity == "medium" and net.evidence["rpc_pipes"] == ["lsass", "wkssvc"]
    assert all(f.severity in ("medium", "high") for f in real)
