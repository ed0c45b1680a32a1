"""Identity attacks from Windows Security logs: the EventData helper, spraying, roasting, DCSync (both engines)."""

from __future__ import annotations

import json
from pathlib import Path

import ibis
import pytest
from conftest import engine_params, ingested_lake

from winnow.engine import Window, connect, fetch

SECURITY = {"Channel": "Security", "SourceName": "Microsoft-Windows-Security-Auditing"}


def _event(ts: str, event_id: int, host: str = "DC1.corp.local", **data: object) -> dict:
    return {"EventID": event_id, "TimeCreated": ts, "Hostname": host, **SECURITY, **data}


def _helper_events() -> list[dict]:
    return [
        _event("2026-11-02T08:00:00Z", 4768, TargetUserName="alice", PreAuthType="0", TicketEncryptionType="0x17"),
        _event("2026-11-02T08:00:01Z", 4662, SubjectUserName="bob", Properties="%%7688\r\n\t{1131f6aa-x}"),
        _event("2026-11-02T08:00:02Z", 4771, TargetUserName="carol", PreAuthType="-", Status="0x18"),
    ]


def _t(seconds: float) -> str:
    return f"2026-11-02T{9 + int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}Z"


def _attack_events() -> list[dict]:
    """A hand-written domain day: one of each attack and the benign look-alikes that must stay quiet."""
    ev, rep = [], "{1131f6aa-9c07-11d1-f79f-00c04fc2dcd2}\r\n\t{1131f6ad-9c07-11d1-f79f-00c04fc2dcd2}"
    for i, user in enumerate(["ann", "ben", "cat", "dan", "eli", "fay"]):  # Kerberos spray, then eve's password works
        ev.append(_event(_t(i), 4771, TargetUserName=user, Status="0x18", IpAddress="::ffff:10.9.9.9"))
    ev.append(_event(_t(7), 4768, TargetUserName="eve", Status="0x0", PreAuthType="2", IpAddress="::ffff:10.9.9.9"))
    for i in range(12):  # NTLM brute force on admin: 4625 on the server, 4776 at the DC, then a success
        ev.append(_event(_t(100 + 5 * i), 4625, "FS1", TargetUserName="admin", IpAddress="10.8.8.8",
                         WorkstationName="KALI", LogonType="3", Status="0xc000006d"))
        ev.append(_event(_t(100.1 + 5 * i), 4776, TargetUserName="admin", Workstation="KALI", Status="0xc000006a"))
    ev.append(_event(_t(170), 4624, "FS1", TargetUserName="admin", IpAddress="10.8.8.8", LogonType="3"))
    for i, user in enumerate(["gil", "hal", "ivy", "jon", "kim", "lea"]):  # explicit-credential spray; winlogon noise
        ev.append(_event(_t(300 + i), 4648, "WS9", SubjectUserName="mallory", TargetUserName=user,
                         ProcessName="C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"))
        ev.append(_event(_t(300 + i), 4648, "WS1", SubjectUserName="WS1$", TargetUserName=user,
                         ProcessName="C:\\Windows\\System32\\winlogon.exe"))
    for i, user in enumerate(["ann", "ben", "cat"]):  # mistyped passwords from own workstations, and a kiosk
        ev.append(_event(_t(400 + i), 4771, TargetUserName=user, Status="0x18", IpAddress=f"10.1.0.{i + 1}"))
        ev.append(_event(_t(400 + i), 4625, "KIOSK", TargetUserName=user, IpAddress="127.0.0.1", LogonType="2"))
    for i, (svc, enc) in enumerate([("sql", "0x17"), ("web", "0x17"), ("erp", "0x17"), ("crm", "0x17")]):
        ev.append(_event(_t(500 + i), 4769, TargetUserName="bob@CORP", ServiceName=svc, TicketEncryptionType=enc,
                         IpAddress="10.5.5.5", Status="0x0"))  # Kerberoasting
        ev.append(_event(_t(600 + i), 4769, TargetUserName="carol@CORP", ServiceName=svc, Status="0x0",
                         TicketEncryptionType="0x17" if i == 0 else "0x12", IpAddress="10.1.0.3"))
    ev.append(_event(_t(700), 4768, TargetUserName="nopre", Status="0x0", PreAuthType="0", TicketEncryptionType="0x17",
                     IpAddress="10.7.7.7"))  # AS-REP roasting; the scanner without pre-auth asks AES itself
    ev.append(_event(_t(701), 4768, TargetUserName="scanner01", Status="0x0", PreAuthType="0",
                     TicketEncryptionType="0x12", IpAddress="10.0.0.40"))
    for who, dc in [("mallory", "DC1"), ("DC2$", "DC1"), ("DC1$", "DC2"), ("WS5$", "DC1")]:  # DCSync, replication
        ev.append(_event(_t(800), 4662, dc, SubjectUserName=who, ObjectServer="DS", Properties=f"%%7688\r\n\t{rep}"))
    return ev


def _write_events(folder: Path, events: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "security.json").write_text("".join(json.dumps(e) + "\n" for e in events))


@pytest.fixture(scope="module")
def helper_lake(tmp_path_factory) -> Path:
    return ingested_lake(tmp_path_factory, "eventdata", lambda d: _write_events(d, _helper_events()))


@pytest.fixture(scope="module")
def attack_lake(tmp_path_factory) -> Path:
    return ingested_lake(tmp_path_factory, "identity", lambda d: _write_events(d, _attack_events()))


@pytest.fixture(scope="module", params=engine_params())
def found(request, attack_lake) -> dict[str, list]:
    from winnow.detections import get_detector

    with connect(request.param, attack_lake) as engine:
        return {name: get_detector(name).find(engine, Window()) for name in ("guessing", "roasting", "dcsync")}


def test_guessing_known_answer(found) -> None:
    by = {f.entity: f for f in found["guessing"]}
    assert sorted(by) == ["10.8.8.8->admin brute force", "10.9.9.9 spray", "mallory on WS9 spray"]
    spray = by["10.9.9.9 spray"]
    assert spray.evidence["accounts"] == 6 and spray.evidence["events"] == {"4771": 6}
    assert spray.components["success"] == 1.0 and spray.user == "eve" and "then eve succeeded (4768)" in spray.why
    brute = by["10.8.8.8->admin brute force"]  # the DC's 4776s (workstation KALI) merged into the address
    assert brute.evidence["failures"] == 12 and brute.evidence["events"] == {"4625": 12, "4776": 12}
    assert brute.components["success"] == 1.0 and "then admin succeeded (4624)" in brute.why
    explicit = by["mallory on WS9 spray"]
    assert explicit.evidence["events"] == {"4648": 6} and "used explicit credentials of 6 accounts" in explicit.why
    assert all(f.severity in ("medium", "high") for f in found["guessing"])


def test_roasting_known_answer(found) -> None:
    by = {f.entity: f for f in found["roasting"]}
    assert sorted(by) == ["10.7.7.7 asrep", "bob kerberoast"]  # not carol (one RC4 service), not the AES scanner
    roast = by["bob kerberoast"]
    assert roast.evidence["rc4_services"] == 4 and roast.src == "10.5.5.5" and roast.components["rc4_share"] == 1.0
    assert by["10.7.7.7 asrep"].evidence["accounts"] == ["nopre"] and "PreAuthType 0" in by["10.7.7.7 asrep"].why


def test_dcsync_known_answer(found) -> None:
    by = {f.entity: f for f in found["dcsync"]}
    assert sorted(by) == ["mallory@DC1 dcsync", "ws5$@DC1 dcsync"]  # DC1$ and DC2$ replicate: both log 4662 (DCs)
    assert by["mallory@DC1 dcsync"].severity == "high" and "Get-Changes-All" in by["mallory@DC1 dcsync"].why
    assert by["mallory@DC1 dcsync"].score > by["ws5$@DC1 dcsync"].score


def test_dcsync_settings_name_dcs_and_allowed_accounts(attack_lake) -> None:
    from winnow.detections import get_detector

    with connect("duckdb", attack_lake) as engine:
        found = get_detector("dcsync", domain_controllers=("ws5.corp.local",), allowed_accounts=("CORP\\Mallory",)
                             ).find(engine, Window())
    assert found == []


@pytest.mark.parametrize("engine_name", engine_params())
def test_event_fields_on_both_engines(helper_lake, engine_name) -> None:
    from winnow.detections._eventdata import windows_events, with_event_fields

    with connect(engine_name, helper_lake) as engine:
        events = windows_events(engine, Window(), (4768, 4662, 4771))
        rows = with_event_fields(events, "PreAuthType", "Status", "Properties", "TargetUserName")
        got = {r["event_id"]: r for r in fetch(rows.select(
            "event_id", "PreAuthType", "Status", "Properties", "TargetUserName")).to_pylist()}
        bad = fetch(with_event_fields(rows.mutate(data=ibis.literal('{"Status": 0x')), "Status")
                    .select("Status")).to_pylist()
        assert windows_events(engine, Window(), (4768,), channel="System") is not None
    assert got[4768]["PreAuthType"] == "0" and got[4768]["TargetUserName"] == "alice"
    assert got[4771]["PreAuthType"] is None and got[4771]["Status"] == "0x18"  # "-" reads as no value
    assert got[4662]["Properties"].startswith("%%7688\r\n") and "{1131f6aa-x}" in got[4662]["Properties"]
    assert bad == [{"Status": None}] * 3  # malformed JSON: nulls, no error


def test_event_field_rejects_odd_names() -> None:
    from winnow.detections._eventdata import event_field

    with pytest.raises(ValueError):
        event_field(ibis.literal("{}"), "a'] or 1=1")


# --------------------------------------------------------------------------------------------
# Real recordings: EVTX-ATTACK-SAMPLES and Mordor (skipped when the shared data is absent)
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_found(shared_data, tmp_path_factory) -> dict[str, list]:
    from winnow.detections import get_detector
    from winnow.ingest import ingest

    samples = shared_data / "evtx-attack-samples" / "Credential Access"
    lake = tmp_path_factory.mktemp("identity-real") / "lake"
    dcshadow = shared_data / "evtx-attack-samples" / "Persistence" / "persistence_security_dcshadow_4742.evtx"
    ingest([samples / "kerberos_pwd_spray_4771.evtx", samples / "CA_DCSync_4662.evtx", dcshadow,
            shared_data / "mordor" / "atomic" / "purplesharp_ad_playbook_I_host.zip"], lake)
    with connect("duckdb", lake) as engine:
        return {name: get_detector(name).find(engine, Window()) for name in ("guessing", "roasting", "dcsync")}


def test_real_kerberos_spray_and_the_account_that_worked(real_found) -> None:
    spray = next(f for f in real_found["guessing"] if f.entity == "172.16.66.1 spray")
    assert spray.evidence["accounts"] == 9 and spray.evidence["events"] == {"4768": 7, "4771": 2}
    assert spray.user == "normal" and spray.severity == "high"  # the one account that got a TGT during the spray


def test_real_mordor_spray_and_kerberoast(real_found) -> None:
    spray = next(f for f in real_found["guessing"] if f.entity == "WORKSTATION5 spray")
    assert spray.evidence["accounts"] == 7 and set(spray.evidence["examples"]) >= {"pgustavo", "sbeavers", "nxlogsvc"}
    roast = next(f for f in real_found["roasting"] if f.evidence["kind"] == "kerberoast")
    assert roast.user == "pgustavo" and roast.src == "172.18.39.5" and roast.evidence["rc4_services"] == 5
    assert "WEC$" not in str(roast.evidence["services"])  # machine-account tickets (AES) are not roasting


def test_real_dcsync_and_dcshadow(real_found) -> None:
    (dcsync,) = real_found["dcsync"]  # both recordings: the same lab's DC and account, so one finding
    assert dcsync.user == "administrator" and dcsync.host == "DC1.insecurebank.local" and dcsync.severity == "high"
    assert dcsync.evidence["rights"] == {"get_changes": 2, "get_changes_all": 1, "install_replica": 1,
                                         "manage_topology": 2}
    assert "DCSync" in dcsync.why and "DCShadow" in dcsync.why


# --------------------------------------------------------------------------------------------
# Simulation: every planted kind found, nothing on a clean domain
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("attacks", [True, False])
def test_simulated_domain(tmp_path, attacks) -> None:
    from winnow.detections import get_detector
    from winnow.ingest import ingest
    from winnow.sim.endpoint_security import write_security_logs
    from winnow.sim.score_identity import KINDS, score

    summary = write_security_logs(tmp_path / "logs", 260, 2, 7, "2026-11-06", attacks=attacks)  # Fri + Sat
    ingest(summary["files"], tmp_path / "lake")
    with connect("duckdb", tmp_path / "lake") as engine:
        found = [f for name in ("guessing", "roasting", "dcsync") for f in get_detector(name).find(engine, Window())]
    result = score(found, {"identity": summary["identity"], "hosts": 260, "days": 2})
    assert result["false_findings"] == []
    if attacks:  # two of each kind (260 users), both variants
        assert {k: (r["attacks"], r["found"]) for k, r in result["kinds"].items()} == dict.fromkeys(KINDS, (2, 2))
        assert {i["variant"] for i in summary["identity"]} >= {"fast", "slow", "targeted", "machine"}
    else:
        assert found == [] and summary["identity"] == []
