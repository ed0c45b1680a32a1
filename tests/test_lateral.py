"""Lateral movement and account changes in Windows logs (detectors ``lateral`` and ``accounts``).

A tiny hand-written Winlogbeat JSON log plays a first-time admin logon chain; the real EVTX attack
samples and Mordor recordings check what fires on real logs.
"""

from __future__ import annotations

import json

import pytest
from conftest import engine_params, ingested_lake

from winnow.detections import get_detector
from winnow.engine import Window, connect

SECURITY = "Security"


def _event(ts: str, host: str, event_id: int, data: dict, channel: str = SECURITY, record: int = 1,
           provider: str = "Microsoft-Windows-Security-Auditing", user_data: dict | None = None) -> str:
    winlog = {"channel": channel, "computer_name": host, "event_id": event_id, "provider_name": provider,
              "record_id": record, "event_data": {k: str(v) for k, v in data.items()}}
    if user_data:
        winlog["user_data"] = user_data
    return json.dumps({"@timestamp": ts, "host": {"name": host}, "winlog": winlog}) + "\n"


def _logon(ts: str, host: str, user: str, src: str, logon_id: str, logon_type: int = 3, record: int = 1,
           process: str = "Kerberos", package: str = "Kerberos", key_length: int = 0) -> str:
    return _event(ts, host, 4624, {
        "SubjectUserSid": "S-1-0-0", "SubjectUserName": "-", "TargetUserName": user, "TargetDomainName": "CORP",
        "TargetLogonId": logon_id, "LogonType": logon_type, "LogonProcessName": process,
        "AuthenticationPackageName": package, "WorkstationName": "-", "KeyLength": key_length,
        "IpAddress": src, "IpPort": "50000",
    }, record=record)


def write_chain(folder):
    """alice and bob are known for days; on day 6 bob fans out as admin, installs a service, uses WinRM."""
    folder.mkdir(parents=True)
    lines = []
    for day in ("01", "03", "06"):  # routine: alice and bob on the file server
        lines.append(_logon(f"2026-11-{day}T09:00:00.000Z", "fs01", "alice", "10.0.0.5", "0x100"))
        lines.append(_logon(f"2026-11-{day}T09:05:00.000Z", "fs01", "bob", "10.0.0.6", "0x101"))
    # day 6: bob's first logons to ws02 and ws03, privileged (4672 on the same session)
    for i, host in enumerate(("ws02", "ws03")):
        lines.append(_logon(f"2026-11-06T10:0{i}:00.000Z", host, "bob", "10.0.0.66", f"0x20{i}", record=10 + i))
        lines.append(_event(f"2026-11-06T10:0{i}:00.100Z", host, 4672, {
            "SubjectUserName": "bob", "SubjectDomainName": "CORP", "SubjectLogonId": f"0x20{i}",
            "PrivilegeList": "SeDebugPrivilege"}, record=20 + i))
    # psexec shape on ws02: ADMIN$ access, then a service
    lines.append(_event("2026-11-06T10:00:02.000Z", "ws02", 5140, {
        "SubjectUserName": "bob", "SubjectDomainName": "CORP", "IpAddress": "10.0.0.66", "ShareName": "\\\\*\\ADMIN$"},
        record=30))
    lines.append(_event("2026-11-06T10:00:05.000Z", "ws02", 7045, {
        "ServiceName": "PSEXESVC", "ImagePath": "%SystemRoot%\\PSEXESVC.exe", "ServiceType": "user mode service",
        "StartType": "demand start", "AccountName": "LocalSystem"},
        channel="System", provider="Service Control Manager", record=31))
    # a routine driver install with no remote logon before it: not reported
    lines.append(_event("2026-11-06T12:00:00.000Z", "ws05", 7045, {
        "ServiceName": "vmci", "ImagePath": "System32\\drivers\\vmci.sys", "AccountName": ""},
        channel="System", provider="Service Control Manager", record=32))
    # WinRM on ws03
    lines.append(_event("2026-11-06T10:01:03.000Z", "ws03", 91, {"resourceUri": "http://schemas.microsoft.com/"
                                                                "powershell/Microsoft.PowerShell"},
                        channel="Microsoft-Windows-WinRM/Operational", provider="Microsoft-Windows-WinRM", record=40))
    lines.append(_event("2026-11-06T10:01:04.000Z", "ws03", 1, {
        "UtcTime": "2026-11-06 10:01:04.000", "ProcessGuid": "{1}", "ProcessId": "4242",
        "Image": "C:\\Windows\\System32\\wsmprovhost.exe", "CommandLine": "wsmprovhost.exe -Embedding",
        "User": "CORP\\bob", "ParentImage": "C:\\Windows\\System32\\svchost.exe", "ParentProcessId": "800"},
        channel="Microsoft-Windows-Sysmon/Operational", provider="Microsoft-Windows-Sysmon", record=41))
    # sekurlsa::pth on ws04
    lines.append(_logon("2026-11-06T11:00:00.000Z", "ws04", "carol", "::1", "0x300", logon_type=9,
                        process="seclogo", package="Negotiate", record=50))
    # new account, added to Administrators, Security log cleared, auditing switched off (dc01)
    lines.append(_event("2026-11-06T09:30:00.000Z", "dc01", 4720, {
        "TargetUserName": "svc_backup2", "TargetDomainName": "CORP", "TargetSid": "S-1-5-21-1-2-3-1337",
        "SubjectUserName": "bob", "SubjectDomainName": "CORP"}, record=60))
    lines.append(_event("2026-11-06T09:31:00.000Z", "dc01", 4732, {
        "MemberName": "-", "MemberSid": "S-1-5-21-1-2-3-1337", "TargetUserName": "Administrators",
        "TargetDomainName": "Builtin", "SubjectUserName": "bob", "SubjectDomainName": "CORP"}, record=61))
    lines.append(_event("2026-11-06T09:32:00.000Z", "dc01", 4732, {
        "MemberName": "-", "MemberSid": "S-1-5-21-1-2-3-9", "TargetUserName": "Print Spoolers Club",
        "TargetDomainName": "CORP", "SubjectUserName": "bob", "SubjectDomainName": "CORP"}, record=62))
    lines.append(_event("2026-11-06T12:00:00.000Z", "dc01", 1102, {}, provider="Microsoft-Windows-Eventlog",
                        user_data={"LogFileCleared": {"SubjectUserName": "bob", "SubjectDomainName": "CORP"}},
                        record=63))
    lines.append(_event("2026-11-06T11:59:00.000Z", "dc01", 4719, {
        "SubjectUserSid": "S-1-5-21-1-2-3-1106", "SubjectUserName": "bob", "SubjectDomainName": "CORP",
        "SubcategoryGuid": "0CCE9215-69AE-11D9-BED3-505054503030", "AuditPolicyChanges": "%%8448, %%8450"},
        record=64))
    lines.append(_event("2026-11-06T11:58:00.000Z", "dc01", 4719, {
        "SubjectUserSid": "S-1-5-18", "SubjectUserName": "DC01$", "SubjectDomainName": "CORP",
        "SubcategoryGuid": "0CCE9244-69AE-11D9-BED3-505054503030", "AuditPolicyChanges": "%%8449"}, record=65))
    (folder / "security.json").write_text("".join(lines))


@pytest.fixture(scope="module")
def chain_lake(tmp_path_factory):
    return ingested_lake(tmp_path_factory, "lateral", write_chain)


@pytest.fixture(scope="module", params=engine_params())
def found(request, chain_lake):
    with connect(request.param, chain_lake) as engine:
        return {
            "lateral": get_detector("lateral").find(engine, Window()),
            "accounts": get_detector("accounts").find(engine, Window()),
        }


def _kind(findings, kind):
    return [f for f in findings if f.evidence["kind"] == kind]


def test_first_time_admin_logons(found):
    first = _kind(found["lateral"], "first_logon")
    assert [f.user for f in first] == ["bob"], "only bob's day-6 hosts are new; alice and bob's fs01 are routine"
    bob = first[0]
    assert bob.evidence["hosts"] == ["ws02", "ws03"] and bob.evidence["known_hosts_before"] == 1
    assert bob.components["privileged"] == 1.0 and bob.severity in ("medium", "high")
    assert "never logged on to before" in bob.why and "10.0.0.66" in bob.why


def test_remote_service_ties_to_the_share_access(found):
    services = _kind(found["lateral"], "remote_service")
    assert [f.evidence["service"] for f in services] == ["PSEXESVC"]  # the driver install is not reported
    psexec = services[0]
    assert psexec.src == "10.0.0.66" and psexec.host == "ws02" and psexec.components["remote"] == 1.0
    assert psexec.severity == "high" and "3 s after a share ADMIN$ from 10.0.0.66" in psexec.why


def test_remoting_and_pass_the_hash(found):
    remoting = _kind(found["lateral"], "remoting")
    assert [f.host for f in remoting] == ["ws03"]
    assert set(remoting[0].evidence["signs"]) == {"WinRM event 91", "remoting host process"}
    assert remoting[0].src == "10.0.0.66"
    pth = _kind(found["lateral"], "pass_the_hash")
    assert [(f.host, f.user) for f in pth] == [("ws04", "carol")] and "sekurlsa::pth" in pth[0].why


def test_account_changes(found):
    by_kind = {f.evidence["kind"]: f for f in found["accounts"]}
    group = by_kind["privileged_group"]
    assert group.evidence["created"] and group.components["chain"] == 1.0 and group.severity == "high"
    assert "CORP\\svc_backup2 was added to the privileged local group Builtin\\Administrators" in group.why
    assert len(_kind(found["accounts"], "privileged_group")) == 1  # the non-privileged group is not reported
    assert by_kind["log_cleared"].severity == "high" and "CORP\\bob" in by_kind["log_cleared"].why
    audits = _kind(found["accounts"], "audit_policy")
    assert len(audits) == 1 and audits[0].components == {"person": 1.0, "removed": 1.0}  # GPO by SYSTEM dropped
    assert by_kind["new_account"].severity == "low"


def test_window_limits_first_logons(chain_lake):
    import datetime as dt

    with connect("duckdb", chain_lake) as engine:
        early = Window(until=dt.datetime(2026, 11, 5, tzinfo=dt.UTC))
        assert _kind(get_detector("lateral").find(engine, early), "first_logon") == []


# -- real data ---------------------------------------------------------------------------------

FOLDERS = ("Lateral Movement", "Persistence", "Privilege Escalation", "Defense Evasion")


@pytest.fixture(scope="module")
def samples_lake(shared_data, tmp_path_factory):
    from winnow.ingest import ingest

    lake = tmp_path_factory.mktemp("evtx-samples") / "lake"
    ingest([shared_data / "evtx-attack-samples" / f for f in FOLDERS], lake)
    return lake


def test_real_evtx_samples_fire(samples_lake):
    with connect("duckdb", samples_lake) as engine:
        lateral = get_detector("lateral").find(engine, Window())
        accounts = get_detector("accounts").find(engine, Window())
    services = {f.evidence["service"]: f for f in _kind(lateral, "remote_service")}
    # LM_Remote_Service02_7045: cmd.exe and calc.exe services, one right after an IPC$ access from 10.0.2.17
    assert services["remotesvc"].src == "10.0.2.17" and services["remotesvc"].severity == "high"
    assert services["spoolfool"].components["suspicious"] == 1.0
    assert "WinPwnage" in services  # System_7045_namedpipe_privesc: a pipe redirection as a service
    # LM_4624_mimikatz_sekurlsa_pth_source_machine
    assert any(f.user == "user01" for f in _kind(lateral, "pass_the_hash"))
    assert {f.host for f in _kind(lateral, "remoting")} >= {"dc1.insecurebank.local"}  # wsmprovhost + WinRM 91
    groups = _kind(accounts, "privileged_group")
    assert {f.evidence["member_sid"] for f in groups} >= {"S-1-5-20"}  # Network_Service_Guest_added_to_admins
    logs = {f.evidence["log"] for f in _kind(accounts, "log_cleared")}
    assert logs == {"Security", "System"}  # DE_1102_security_log_cleared, DE_104_system_log_cleared
    fake = _kind(accounts, "new_account")
    assert fake and all(f.components["fake_machine"] == 1.0 for f in fake)  # DE_Fake_ComputerAccount_4720


def test_mordor_lateral_movement(shared_data, tmp_path_factory):
    from winnow.ingest import ingest

    lake = tmp_path_factory.mktemp("mordor-lm") / "lake"
    atomic = shared_data / "mordor" / "atomic"
    ingest([atomic / "purplesharp_ad_playbook_I_host.zip", atomic / "empire_psexec_dcerpc_tcp_svcctl_host.zip"],
           lake)
    with connect("duckdb", lake) as engine:
        lateral = get_detector("lateral").find(engine, Window())
    remoting = {f.host: f for f in _kind(lateral, "remoting")}
    # PurpleSharp moves over WinRM from 172.18.39.5 as pgustavo to two workstations and the DC
    assert {"workstation6.theshire.local", "workstation7.theshire.local"} <= set(remoting)
    assert all(f.src == "172.18.39.5" for f in remoting.values())
    service = {f.evidence["service"]: f for f in _kind(lateral, "remote_service")}
    assert service["Updater"].src == "172.18.39.5" and service["Updater"].severity == "high"  # Empire Invoke-PsExec
