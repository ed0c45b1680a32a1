"""The Windows events attacks leave, in their typed tables (schema/windows.py, sources/windows_map_sysmon.py and
windows_map_audit.py): tiny hand-made events of every kind, then the real EVTX attack samples and Mordor exports.

Expected counts on real data come from the raw ``evtx`` package and plain ``json`` (nothing of ours), with the
(log, event id) -> table map written out here on purpose, not imported.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pytest
from conftest import raw_evtx_systems

from winnow.ingest import ingest
from winnow.sources import ParseContext, evtx_file, get_source
from winnow.sources.windows_rows import RowSink

SYSMON, SECURITY = "Microsoft-Windows-Sysmon", "Microsoft-Windows-Security-Auditing"
#: (log, event id) -> table, for the tables of this round
TABLE_OF = {
    **{("sysmon", 7): "proc.image_load", ("sysmon", 8): "proc.access", ("sysmon", 10): "proc.access"},
    **{("sysmon", e): "proc.registry" for e in (12, 13, 14)},
    **{("sysmon", e): "proc.pipe" for e in (17, 18)}, ("sysmon", 25): "proc.tamper",
    **{("powershell", e): "proc.script" for e in (4103, 4104)},
    ("security", 4697): "win.service", ("system", 7045): "win.service",
    **{("security", e): "win.task" for e in range(4698, 4703)},
    ("security", 4719): "win.audit", ("security", 1102): "win.audit", ("system", 104): "win.audit",
    **{("security", e): "auth.group" for e in (4728, 4729, 4732, 4733, 4756, 4757)},
    ("security", 4662): "win.ds_access",
}
NEW_TABLES = sorted(set(TABLE_OF.values()))
REPLICATION = ("1131f6aa-9c07-11d1-f79f-00c04fc2dcd2", "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2",
               "89e95b76-444d-4c62-991a-0facbeda640c")


def log_of(provider: str | None, channel: str | None) -> str | None:
    channel = (channel or "").lower()
    if provider == SYSMON or channel.startswith("microsoft-windows-sysmon"):
        return "sysmon"
    if provider == SECURITY or channel == "security":
        return "security"
    if provider == "Service Control Manager" or channel == "system":
        return "system"
    if channel in ("microsoft-windows-powershell/operational", "powershellcore/operational"):
        return "powershell"
    return None


# ---------------------------------------------------------------- tiny fixtures, one event of every kind

_S = {"SourceName": SYSMON, "Channel": "Microsoft-Windows-Sysmon/Operational", "UtcTime": "2024-01-02 03:04:05.678",
      "ProcessGuid": "{p}", "ProcessId": "42", "Image": "C:\\evil.exe"}
_A = {"SourceName": SECURITY, "Channel": "Security", "SubjectUserName": "mallory", "SubjectDomainName": "CORP",
      "SubjectUserSid": "S-1-5-21-1-1104", "SubjectLogonId": "0x3e7"}
_PS = {"SourceName": "Microsoft-Windows-PowerShell", "Channel": "Microsoft-Windows-PowerShell/Operational",
       "UserID": "S-1-5-21-1-1105", "ExecutionProcessID": 6404}
_TASK = ("<Task><Actions><Exec><Command>cmd.exe</Command><Arguments>/c whoami &gt; x</Arguments></Exec>"
         "<Exec><Command>calc.exe</Command></Exec></Actions></Task>")
FIXTURE = [
    {**_S, "EventID": 7, "ImageLoaded": "C:\\x\\dbghelp.dll", "Signed": "false", "SignatureStatus": "Unavailable",
     "Hashes": "SHA256=AB", "OriginalFileName": "dbghelp.dll"},
    {**_S, "EventID": 8, "SourceProcessGuid": "{s}", "SourceProcessId": "42", "SourceImage": "C:\\evil.exe",
     "TargetProcessGuid": "{t}", "TargetProcessId": "600", "TargetImage": "C:\\Windows\\explorer.exe",
     "NewThreadId": "77", "StartAddress": "0x0000021F3A540000", "StartModule": "-", "StartFunction": "-"},
    {**_S, "EventID": 10, "SourceProcessGUID": "{s}", "SourceProcessId": "42", "SourceThreadId": "43",
     "SourceImage": "C:\\evil.exe", "TargetProcessGUID": "{l}", "TargetProcessId": "700",
     "TargetImage": "C:\\Windows\\system32\\lsass.exe", "GrantedAccess": "0x1010", "CallTrace": "ntdll.dll+1|UNKNOWN"},
    {**_S, "EventID": 12, "EventType": "CreateKey", "TargetObject": "HKLM\\SOFTWARE\\Run\\x"},
    {**_S, "EventID": 12, "EventType": "INFO", "TargetObject": "HKLM\\SOFTWARE\\y"},  # a shipper overwrote EventType
    {**_S, "EventID": 13, "EventType": "SetValue", "TargetObject": "HKLM\\SOFTWARE\\Run\\x", "Details": "C:\\e.exe"},
    {**_S, "EventID": 14, "EventType": "RenameKey", "TargetObject": "HKLM\\a", "NewName": "HKLM\\b"},
    {**_S, "EventID": 17, "EventType": "CreatePipe", "PipeName": "\\MSSE-1337-server"},
    {**_S, "EventID": 18, "EventType": "ConnectPipe", "PipeName": "\\PSEXESVC"},
    {**_S, "EventID": 25, "Type": "Image is replaced"},
    {**_PS, "EventID": 4104, "MessageNumber": "1", "MessageTotal": "2", "ScriptBlockId": "b-1",
     "ScriptBlockText": "IEX (New-Object Net.WebClient)", "Path": ""},
    {**_PS, "EventID": 4103, "Payload": "CommandInvocation(Start-Sleep): \"Start-Sleep\"",
     "ContextInfo": "        Host Application = powershell.exe -nop -w hidden\r\n        Command Name = Start-Sleep\r\n"
                    "        Command Type = Cmdlet\r\n        Script Name = \r\n        User = CORP\\bob\r\n"},
    {**_A, "EventID": 4697, "ServiceName": "tbbd05", "ServiceFileName": "%COMSPEC% /c x", "ServiceType": "0x10",
     "ServiceStartType": "3", "ServiceAccount": "LocalSystem"},
    {"SourceName": "Service Control Manager", "Channel": "System", "EventID": 7045, "UserID": "S-1-5-21-1-500",
     "ServiceName": "PSEXESVC", "ImagePath": "%SystemRoot%\\PSEXESVC.exe", "ServiceType": "user mode service",
     "StartType": "demand start", "AccountName": "LocalSystem"},
    *({**_A, "EventID": e, "TaskName": "\\Upd", "TaskContent": _TASK} for e in (4698, 4699, 4700, 4701)),
    {**_A, "EventID": 4702, "TaskName": "\\Upd", "TaskContentNew": _TASK},
    {**_A, "EventID": 4719, "CategoryId": "%%8274", "SubcategoryId": "%%12801", "AuditPolicyChanges": "%%8448, %%8450"},
    {"SourceName": "Microsoft-Windows-Eventlog", "Channel": "Security", "EventID": 1102, **{
        k: v for k, v in _A.items() if k.startswith("Subject")}},
    {"SourceName": "Microsoft-Windows-Eventlog", "Channel": "System", "EventID": 104, "Channel ": "x",
     "SubjectUserName": "bob", "BackupPath": "C:\\b.evtx"},
    *({**_A, "EventID": e, "TargetUserName": "Domain Admins", "TargetDomainName": "CORP", "TargetSid": "S-1-5-21-1-512",
       "MemberName": "CN=eve,DC=corp", "MemberSid": "S-1-5-21-1-1106"} for e in (4728, 4729, 4732, 4733, 4756, 4757)),
    {**_A, "EventID": 4662, "ObjectServer": "DS", "ObjectType": "%{19195a5b-6da0-11d0-afd3-00c04fd930c9}",
     "ObjectName": "%{c6faf700}", "OperationType": "Object Access", "AccessMask": "0x100",
     "Properties": f"%%7688\r\n\t{{{REPLICATION[0]}}}\r\n"},
    # not mapped: the same ids in other logs
    {"SourceName": "Microsoft-Windows-Program-Compatibility-Assistant", "Channel": "Microsoft-Windows-Application-"
     "Experience/Program-Compatibility-Assistant", "EventID": 17, "ExePath": "C:\\x.exe"},
    {"SourceName": "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS", "Channel": "Microsoft-Windows-"
     "RemoteDesktopServices-RdpCoreTS/Operational", "EventID": 104, "TimezoneBiasHour": "1"},
]


def _json_rows(events: list[dict]) -> dict[str, list[dict]]:
    lines = [json.dumps({"Hostname": "WS1", "TimeCreated": "2024-01-02T03:04:06Z", **e}) for e in events]
    ctx = ParseContext("fixture.json")
    tables: dict[str, list[dict]] = {}
    for batch in get_source("windows_json").parse(io.BytesIO("\n".join(lines).encode()), ctx):
        tables.setdefault(batch.table, []).extend(batch.data.to_pylist())
    assert ctx.warnings == []
    return tables


@pytest.fixture(scope="module")
def fixture_rows() -> dict[str, list[dict]]:
    return _json_rows(FIXTURE)


def _one(rows: list[dict], **match) -> dict:
    (row,) = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return row


def test_every_kind_lands_in_its_table(fixture_rows) -> None:
    have = Counter((t, r["event_id"]) for t, rows in fixture_rows.items() if t != "win.event" for r in rows)
    want = Counter((TABLE_OF[log_of(e["SourceName"], e["Channel"]), e["EventID"]], e["EventID"])
                   for e in FIXTURE if (log_of(e["SourceName"], e["Channel"]), e["EventID"]) in TABLE_OF)
    assert have == want and len(fixture_rows["win.event"]) == len(FIXTURE) == sum(want.values()) + 2


def test_sysmon_columns(fixture_rows) -> None:
    load = _one(fixture_rows["proc.image_load"])
    assert (load["loaded"], load["signed"], load["signature_status"], load["pid"], load["image"]) == (
        "C:\\x\\dbghelp.dll", False, "Unavailable", 42, "C:\\evil.exe")
    assert load["ts"].isoformat() == "2024-01-02T03:04:05.678000+00:00"  # Sysmon's UtcTime, not the record's time
    access = _one(fixture_rows["proc.access"], action="access")
    assert (access["process_guid"], access["thread_id"], access["target_pid"], access["target_process_guid"],
            access["granted_access"], access["call_trace"], access["start_address"]) == (
        "{s}", 43, 700, "{l}", "0x1010", "ntdll.dll+1|UNKNOWN", None)
    thread = _one(fixture_rows["proc.access"], action="remote_thread")
    assert (thread["process_guid"], thread["target_pid"], thread["new_thread_id"], thread["start_address"],
            thread["start_module"], thread["granted_access"]) == ("{s}", 600, 77, "0x0000021F3A540000", None, None)
    registry = {(r["event_id"], r["action"], r["event_type"], r["details"], r["new_name"])
                for r in fixture_rows["proc.registry"]}
    assert registry == {(12, "create", "CreateKey", None, None), (12, None, None, None, None),  # NXLog's INFO
                        (13, "set", "SetValue", "C:\\e.exe", None), (14, "rename", "RenameKey", None, "HKLM\\b")}
    assert {(r["action"], r["pipe_name"]) for r in fixture_rows["proc.pipe"]} == {
        ("create", "\\MSSE-1337-server"), ("connect", "\\PSEXESVC")}
    assert _one(fixture_rows["proc.tamper"])["tamper_type"] == "Image is replaced"


def test_powershell_columns(fixture_rows) -> None:
    block = _one(fixture_rows["proc.script"], action="script_block")
    assert (block["script_block_id"], block["message_number"], block["message_total"], block["script_text"],
            block["script_path"], block["user_sid"], block["pid"]) == (
        "b-1", 1, 2, "IEX (New-Object Net.WebClient)", None, "S-1-5-21-1-1105", 6404)
    module = _one(fixture_rows["proc.script"], action="module")
    assert (module["host_application"], module["command_name"], module["command_type"], module["user"],
            module["script_path"], module["payload"]) == (
        "powershell.exe -nop -w hidden", "Start-Sleep", "Cmdlet", "CORP\\bob", None,
        "CommandInvocation(Start-Sleep): \"Start-Sleep\"")
    assert block["ts"].isoformat() == "2024-01-02T03:04:06+00:00"


def test_security_and_system_columns(fixture_rows) -> None:
    services = {r["event_id"]: r for r in fixture_rows["win.service"]}
    assert (services[4697]["image_path"], services[4697]["start_type"], services[4697]["account"],
            services[4697]["subject_user"], services[4697]["subject_sid"]) == (
        "%COMSPEC% /c x", "3", "LocalSystem", "mallory", "S-1-5-21-1-1104")
    assert (services[7045]["service_name"], services[7045]["image_path"], services[7045]["start_type"],
            services[7045]["subject_sid"]) == ("PSEXESVC", "%SystemRoot%\\PSEXESVC.exe", "demand start",
                                               "S-1-5-21-1-500")  # the record's UserID: who installed it
    tasks = {r["action"]: r for r in fixture_rows["win.task"]}
    assert set(tasks) == {"created", "deleted", "enabled", "disabled", "updated"}
    assert tasks["updated"]["command"] == tasks["created"]["command"] == "cmd.exe /c whoami > x; calc.exe"
    assert tasks["created"]["subject_logon_id"] == "0x3e7"
    audit = {r["event_id"]: r for r in fixture_rows["win.audit"]}
    assert (audit[4719]["action"], audit[4719]["category"], audit[4719]["subcategory"], audit[4719]["changes"]) == (
        "policy_changed", "Object Access", "%%12801", "success removed, failure removed")
    assert (audit[1102]["action"], audit[1102]["channel"], audit[1102]["subject_user"]) == (
        "log_cleared", "Security", "mallory")
    assert (audit[104]["action"], audit[104]["backup_path"], audit[104]["subject_user"]) == (
        "log_cleared", "C:\\b.evtx", "bob")
    groups = Counter((r["action"], r["group_scope"], r["group_sid"], r["member_sid"])
                     for r in fixture_rows["auth.group"])
    assert groups == Counter({(a, s, "S-1-5-21-1-512", "S-1-5-21-1-1106"): 1 for a in ("member_added", "member_removed")
                              for s in ("global", "local", "universal")})
    ds = _one(fixture_rows["win.ds_access"])
    assert REPLICATION[0] in ds["properties"] and (ds["access_mask"], ds["subject_user"]) == ("0x100", "mallory")


# ---------------------------------------------------------------- EVTX records: UserData, both decoding paths


def _record(record_id: int, provider: str, channel: str, event_id: int, part: str, user: str = "S-1-5-18") -> dict:
    system = (f'{{"Provider":{{"#attributes":{{"Name":"{provider}"}}}},"EventID":{event_id},"Level":4,'
              '"TimeCreated":{"#attributes":{"SystemTime":"2024-01-02T03:04:05.000000Z"}},'
              f'"EventRecordID":{record_id},"Execution":{{"#attributes":{{"ProcessID":7,"ThreadID":8}}}},'
              f'"Channel":"{channel}","Computer":"DC1","Security":{{"#attributes":{{"UserID":"{user}"}}}}}}')
    return {"timestamp": "2024-01-02T03:04:05Z UTC", "data": f'{{"Event":{{"System":{system},{part}}}}}'}


def _block_rows(records: list[dict], column_wise: bool) -> dict[str, list[dict]]:
    ctx = ParseContext("x.evtx")
    sink = RowSink(ctx)
    if column_wise:
        batches = list(evtx_file._block(records, 1, ctx, sink))
    else:
        batches = list(evtx_file._slow(records, np.arange(1, len(records) + 1), np.arange(len(records)), ctx, sink))
    tables: dict[str, list[dict]] = {}
    for batch in [*batches, *sink.drain()]:
        tables.setdefault(batch.table, []).extend(batch.data.to_pylist())
    assert ctx.warnings == []
    return {t: sorted(r, key=lambda row: row["_line"]) for t, r in tables.items()}


def test_evtx_userdata_and_header_inputs_on_both_paths(monkeypatch) -> None:
    cleared = ('"UserData":{"LogFileCleared":{"#attributes":{"xmlns":"x"},"SubjectUserSid":"S-1-5-21-9",'
               '"SubjectUserName":"eve","SubjectDomainName":"CORP","SubjectLogonId":"0x1"}}')
    system_cleared = ('"UserData":{"LogFileCleared":{"SubjectUserName":"eve","SubjectDomainName":"CORP",'
                      '"Channel":"Microsoft-Windows-Sysmon/Operational","BackupPath":""}}')
    records = [_record(1, "Microsoft-Windows-Eventlog", "Security", 1102, cleared),
               _record(2, "Microsoft-Windows-Eventlog", "System", 104, system_cleared, "S-1-5-21-9")]
    for i in range(100):  # groups large enough for the column-wise mapping (header inputs: UserID, ProcessID)
        records.append(_record(3 + 2 * i, "Service Control Manager", "System", 7045,
                               f'"EventData":{{"ServiceName":"s{i % 3}","ImagePath":"c:\\\\s.exe","AccountName":'
                               f'"LocalSystem"}}', f"S-1-5-21-{i % 2}"))
        records.append(_record(4 + 2 * i, "Microsoft-Windows-PowerShell", "Microsoft-Windows-PowerShell/Operational",
                               4104, f'"EventData":{{"MessageNumber":1,"MessageTotal":1,"ScriptBlockText":"w{i}",'
                               f'"ScriptBlockId":"id","Path":""}}'))
    monkeypatch.setattr(evtx_file, "SMALL_BLOCK", 0)
    fast, slow = _block_rows(records, True), _block_rows(records, False)
    assert fast == slow
    audit = fast["win.audit"]
    assert [(r["action"], r["channel"], r["subject_user"], r["subject_sid"]) for r in audit] == [
        ("log_cleared", "Security", "eve", "S-1-5-21-9"),
        ("log_cleared", "Microsoft-Windows-Sysmon/Operational", "eve", "S-1-5-21-9")]
    assert Counter(r["subject_sid"] for r in fast["win.service"]) == {"S-1-5-21-0": 50, "S-1-5-21-1": 50}
    assert {(r["pid"], r["user_sid"]) for r in fast["proc.script"]} == {(7, "S-1-5-18")}


def test_odd_values_become_nulls_not_errors(fixture_rows) -> None:
    odd = [{**FIXTURE[2], "SourceProcessId": "x", "GrantedAccess": 5, "TargetProcessId": None},
           {**FIXTURE[10], "MessageNumber": "one", "ScriptBlockText": {"nested": [1]}},
           {**FIXTURE[-4], "MemberSid": "-", "MemberName": "-"}]
    rows = _json_rows(odd)
    access, script, group = rows["proc.access"][0], rows["proc.script"][0], rows["auth.group"][0]
    assert (access["pid"], access["granted_access"], access["target_pid"]) == (None, "5", None)
    assert (script["message_number"], script["script_text"]) == (None, '{"nested":[1]}')
    assert (group["member_sid"], group["member_name"]) == (None, None)


# ---------------------------------------------------------------- real data: EVTX attack samples


def _raw_counts(paths: list[Path]) -> tuple[Counter, Counter]:
    """((log, event id) -> records, event id -> records), read with the raw Rust parser and nothing of ours."""
    by_log, by_id = Counter(), Counter()
    for system in raw_evtx_systems(paths):
        provider = (system.get("Provider") or {}).get("#attributes", {}).get("Name")
        by_log[log_of(provider, system.get("Channel")), system["EventID"]] += 1
        by_id[system["EventID"]] += 1
    return by_log, by_id


@pytest.fixture(scope="module")
def attack(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Counter]:
    root = shared_data / "evtx-attack-samples"
    paths = sorted(root.rglob("*.evtx"))
    assert len(paths) == 277
    # the index (python-evtx, per file) agrees with the raw count on every event id of these tables
    index: Counter = Counter()
    for line in (root / "_generated_index.tsv").read_text().splitlines()[1:]:
        histogram = line.split("\t")[6]
        for pair in filter(None, histogram.split(";")):
            event_id, n = pair.split(":")
            index[int(event_id)] += int(n)
    _, by_id = _raw_counts(paths)
    assert {e: by_id[e] for _, e in TABLE_OF} == {e: index[e] for _, e in TABLE_OF}
    lake = tmp_path_factory.mktemp("lake-attack")
    ingest(paths, lake)
    distinct = {hashlib.sha256(p.read_bytes()).digest(): p for p in paths}  # the lake keeps one copy per content
    by_log, _ = _raw_counts(sorted(distinct.values()))
    return lake, by_log


def _query(lake: Path, table: str, sql: str) -> list[tuple]:
    if not any((lake / table).glob("day=*/*.parquet")):
        return []
    source = f"read_parquet('{lake / table}/day=*/*.parquet', union_by_name=true)"
    return duckdb.connect().execute(sql.replace("{t}", source)).fetchall()


@pytest.mark.parametrize("table", NEW_TABLES)
def test_attack_samples_rows_equal_raw_counts(attack, table: str) -> None:
    lake, raw = attack
    want = Counter({event_id: n for (log, event_id), n in raw.items() if TABLE_OF.get((log, event_id)) == table})
    have = Counter(dict(_query(lake, table, "SELECT event_id, count(*) FROM {t} GROUP BY ALL")))
    assert have == want
    if table != "proc.tamper":  # no Sysmon 25 in these samples
        assert sum(want.values()) > 0
    # the other logs' events with these ids (PCA 17, RdpCoreTS 104) stayed out
    assert table not in ("proc.pipe", "win.audit") or raw[None, 17] + raw[None, 104] > 0


def test_attack_samples_content(attack) -> None:
    lake, _ = attack
    dcsync = _query(lake, "win.ds_access", "SELECT DISTINCT subject_user FROM {t} WHERE "
                    + " OR ".join(f"lower(properties) LIKE '%{guid}%'" for guid in REPLICATION)
                    + " AND _source_file LIKE '%CA_DCSync_4662%'")
    assert dcsync
    lsass = _query(lake, "proc.access", "SELECT count(*) FROM {t} WHERE action = 'access' AND "
                   "lower(target_image) LIKE '%\\lsass.exe' AND granted_access IS NOT NULL")
    assert lsass[0][0] > 10
    assert _query(lake, "proc.pipe", "SELECT count(*) FROM {t} WHERE pipe_name = '\\PSEXESVC'")[0][0] > 0
    nulls = _query(lake, "proc.registry", "SELECT count(*) FILTER (action IS NULL), count(*) FROM {t}")
    assert nulls[0][0] == 0 and nulls[0][1] > 0
    scripts = _query(lake, "proc.script", "SELECT count(*) FILTER (script_text IS NOT NULL AND user_sid IS NOT NULL) "
                     "FROM {t}")
    assert scripts == [(4,)]


# ---------------------------------------------------------------- real data: Mordor JSON exports

MORDOR = ["atomic/aptsimulator_cobaltstrike.zip", "atomic/empire_psexec_dcerpc_tcp_svcctl_host.zip",
          "atomic/psh_python_webserver_host.zip", "lsass_campaign_01/metasploit_logonpasswords_lsass_memory_dump.zip"]


@pytest.mark.parametrize("name", MORDOR)
def test_mordor_rows_equal_plain_json_counts(shared_data: Path, name: str) -> None:
    with zipfile.ZipFile(shared_data / "mordor" / name) as archive:
        (member,) = [n for n in archive.namelist() if n.endswith(".json")]
        data = archive.read(member)
    want: Counter = Counter()
    for line in data.splitlines():
        event = json.loads(line)
        key = (log_of(event.get("SourceName") or event.get("Provider"), event.get("Channel")), event.get("EventID"))
        if key in TABLE_OF:
            want[TABLE_OF[key], key[1]] += 1
    ctx = ParseContext(member)
    have: Counter = Counter()
    for batch in get_source("windows_json").parse(io.BytesIO(data), ctx):
        if batch.table in NEW_TABLES:
            have.update(zip([batch.table] * batch.data.num_rows, batch.data.column("event_id").to_pylist(),
                            strict=True))
    assert have == want and sum(want.values()) > 100 and ctx.warnings == []
