"""Acceptance of the Windows sources on real public data (the shared data, MANIFEST sections 3-5).

Expected counts come from the raw ``evtx`` package (records iterated directly, no mapping) and
from plain ``json`` over the Mordor export: both independent of ``winnow.sources.windows_map``.
Each dataset is ingested once per module into a temporary lake and read back with DuckDB.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from conftest import raw_evtx_systems

from winnow.ingest import FileReport, ingest

SYSMON, SECURITY = "Microsoft-Windows-Sysmon", "Microsoft-Windows-Security-Auditing"
#: where each mapped event lands (written out here on purpose, not imported)
SYSMON_TABLE = {1: "proc.exec", 5: "proc.exec", 3: "proc.net", 11: "proc.file", 22: "proc.dns"}
SECURITY_TABLE = {4688: "proc.exec", **dict.fromkeys(
    (4624, 4625, 4634, 4647, 4648, 4672, 4720, 4768, 4769, 4771, 4776), "auth.logon")}
LSASS = "mordor/lsass_campaign_01/metasploit_logonpasswords_lsass_memory_dump.zip"


@dataclass
class Lake:
    root: Path
    files: dict[str, FileReport]

    def query(self, sql: str) -> list[tuple]:
        """Run SQL where ``{table}`` names read a table's Parquet parts, e.g. ``FROM {proc.net}``."""
        for table in ("win.event", "proc.exec", "proc.net", "proc.file", "proc.dns", "auth.logon"):
            parts = self.root / table
            source = f"read_parquet('{parts}/day=*/*.parquet', union_by_name=true)" if any(parts.glob("day=*/*")) \
                else "(SELECT NULL::VARCHAR AS _source_file WHERE false)"
            sql = sql.replace("{" + table + "}", source)
        return duckdb.connect().execute(sql).fetchall()


def _raw_counts(paths: list[Path]) -> Counter:
    """(provider, event id) -> records, read with the raw Rust parser and nothing of ours."""
    return Counter(((s.get("Provider") or {}).get("#attributes", {}).get("Name"), s["EventID"])
                   for s in raw_evtx_systems(paths))


@pytest.fixture(scope="module")
def attack(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Counter]:
    paths = sorted((shared_data / "evtx-attack-samples").rglob("*.evtx"))
    assert len(paths) == 277 and sum(_raw_counts(paths).values()) == 8255  # MANIFEST
    lake = tmp_path_factory.mktemp("lake-evtx")
    report = ingest(paths, lake)
    distinct = {hashlib.sha256(p.read_bytes()).digest(): p for p in paths}  # the lake keeps one copy per content
    return Lake(lake, {f.file: f for f in report.files}), _raw_counts(sorted(distinct.values()))


@pytest.fixture(scope="module")
def corpus(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = tmp_path_factory.mktemp("lake-evtx-corpus")
    report = ingest(sorted((shared_data / "evtx-parser-corpus").glob("*.evtx")), lake)
    return Lake(lake, {Path(f.file).name: f for f in report.files})


@pytest.fixture(scope="module")
def lsass(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, list[dict]]:
    path = shared_data / LSASS
    lake = tmp_path_factory.mktemp("lake-lsass")
    report = ingest([path], lake)
    with zipfile.ZipFile(path) as archive:
        lines = archive.read(archive.namelist()[0]).splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    return Lake(lake, {f.file: f for f in report.files}), events


# ---------------------------------------------------------------- evtx-attack-samples


def test_every_attack_sample_ingests_cleanly(attack) -> None:
    lake, raw = attack
    states = Counter((r.status, r.source_format, r.warnings) for r in lake.files.values())
    # UACME_59_Sysmon.evtx is stored twice (top level and Privilege Escalation/): one copy is a duplicate
    assert states == {("ingested", "evtx", 0): 276, ("already ingested", "evtx", 0): 1}
    assert lake.query("SELECT count(*) FROM {win.event}") == [(8255 - 7,)] == [(sum(raw.values()),)]


def test_event_ids_match_the_raw_parser(attack) -> None:
    lake, raw = attack
    have = Counter({(p, e): n for p, e, n in lake.query(
        "SELECT provider, event_id, count(*) FROM {win.event} GROUP BY ALL")})
    assert have == raw
    lines = lake.query("SELECT count(*), count(DISTINCT (_source_file, _line)) FROM {win.event}")
    assert lines == [(8248, 8248)]


@pytest.mark.parametrize("table", ["proc.exec", "proc.net", "proc.file", "proc.dns", "auth.logon"])
def test_mapped_events_land_in_their_table(attack, table: str) -> None:
    lake, raw = attack
    want = Counter()
    for (provider, event_id), n in raw.items():
        mapping = SYSMON_TABLE if provider == SYSMON else SECURITY_TABLE if provider == SECURITY else {}
        if mapping.get(event_id) == table:
            want[event_id] += n
    have = Counter(dict(lake.query(f"SELECT event_id, count(*) FROM {{{table}}} GROUP BY ALL")))
    assert have == want and sum(want.values()) > 0


def test_sysmon_process_start_columns(attack) -> None:
    lake, _ = attack
    rows = lake.query("SELECT image, command_line, pid, action, host, ts::VARCHAR FROM {proc.exec} "
                      "WHERE record_id = 16511 AND _source_file LIKE '%exec_sysmon_1_ftp.evtx'")
    assert rows == [("C:\\Windows\\System32\\cmd.exe", '"C:\\Windows\\system32\\cmd.exe" ', 4092, "start",
                     rows[0][4], "2019-05-12 17:20:01.964+00")]


def test_failed_logon_has_reason(attack) -> None:
    lake, _ = attack
    rows = lake.query("SELECT action, outcome, user, domain, logon_type, method, reason, process, src_ip "
                      "FROM {auth.logon} WHERE event_id = 4625 "
                      "AND _source_file LIKE '%CA_4624_4625_LogonType2_LogonProc_chrome.evtx'")
    assert rows == [("logon", "failure", "IEUser", "MSEDGEWIN10", "2", "negotiate", "bad password",
                     "C:\\Program Files (x86)\\Google\\Chrome\\Application\\chrome.exe", None)]
    kerberos = lake.query("SELECT event_id, outcome, count(*) FROM {auth.logon} "
                          "WHERE _source_file LIKE '%kerberos_pwd_spray_4771.evtx' GROUP BY ALL ORDER BY 1")
    assert Counter({e: n for e, _, n in kerberos if e == 4771}) == {4771: 2}
    assert sum(n for e, _, n in kerberos if e == 4768) == 9
    assert {o for e, o, _ in kerberos if e == 4771} == {"failure"}


def test_kerberos_service_tickets_carry_service_and_encryption(attack) -> None:
    lake, _ = attack
    rows = lake.query("SELECT service, ticket_encryption FROM {auth.logon} WHERE event_id = 4769 "
                      "AND _source_file LIKE '%samaccount_spoofing_CVE-2021-42287%'")
    assert len(rows) == 2 and all(service and encryption for service, encryption in rows)


def test_sysmon_network_five_tuple(attack) -> None:
    lake, _ = attack
    rows = lake.query("SELECT image, proto, src_ip, src_port, dst_ip, dst_port, direction, action FROM {proc.net} "
                      "WHERE record_id = 4128 AND _source_file LIKE '%exec_persist_rundll32_mshta%'")
    assert rows == [("C:\\Windows\\System32\\mshta.exe", "tcp", "10.0.2.15", 49703, "108.179.232.58", 443,
                     "outbound", "connect")]
    # inbound: the remote originator is src (an SMB client reaching this host's port 139)
    inbound = lake.query("SELECT src_ip, dst_ip, dst_port FROM {proc.net} WHERE direction = 'inbound' "
                         "AND image = 'System' AND _source_file LIKE '%DE_sysmon-3-rdp-tun.evtx' LIMIT 1")
    assert inbound == [("10.0.2.18", "10.0.2.17", 139)]


# ---------------------------------------------------------------- evtx-parser-corpus


CORPUS_RECORDS = {
    "sample-with-irregular-bool-values.evtx": 3028, "sample_with_a_bad_chunk_magic.evtx": 270,
    "Application_no_crc32.evtx": 17, "post-Security.evtx": 126, "security.evtx": 2261,
    "new-user-security.evtx": 4, "Security_short_selected.evtx": 7, "issue_201.evtx": 1,
    "sysmon.evtx": 358, "system.evtx": 1881,
}


def test_parser_corpus_record_counts(corpus) -> None:
    have = dict(corpus.query("SELECT regexp_extract(_source_file, '[^/]+$'), count(*) FROM {win.event} GROUP BY 1"))
    assert have == CORPUS_RECORDS
    assert all(r.status == "ingested" for r in corpus.files.values())


def test_damaged_chunks_are_warnings(corpus) -> None:
    assert corpus.files["sample_with_a_bad_chunk_magic.evtx"].warnings == 2
    assert "chunk" in corpus.files["sample_with_a_bad_chunk_magic.evtx"].message
    assert corpus.files["security.evtx"].warnings == 0
    users = corpus.query("SELECT user, action FROM {auth.logon} WHERE event_id = 4720 "
                         "AND _source_file LIKE '%new-user-security.evtx'")
    assert len(users) == 1 and users[0][1] == "user_created"


# ---------------------------------------------------------------- Mordor JSON lines


def test_mordor_lsass_sysmon_network(lsass) -> None:
    lake, events = lsass
    (report,) = lake.files.values()
    assert (report.status, report.source_format, report.warnings) == ("ingested", "windows_json", 0)
    assert lake.query("SELECT count(*) FROM {win.event}") == [(len(events),)]
    sysmon3 = [e for e in events if e.get("EventID") == 3 and e.get("Channel", "").startswith(SYSMON)]
    assert lake.query("SELECT count(*) FROM {proc.net}") == [(len(sysmon3),)] == [(140,)]
    c2 = lake.query("SELECT DISTINCT image, src_ip, direction FROM {proc.net} "
                    "WHERE dst_ip = '10.0.5.13' AND dst_port = 8080")
    assert ("C:\\Users\\stevie.marie\\Downloads\\winx64_payload.exe", "192.168.1.41", "outbound") in c2


# ---------------------------------------------------------------- column-wise and record-by-record paths


def _parse_all(path: Path) -> tuple[dict[str, list[dict]], list[tuple]]:
    from winnow.sources import ParseContext, get_source

    ctx = ParseContext(str(path))
    tables: dict[str, list[dict]] = {}
    with open(path, "rb") as fh:
        for batch in get_source("evtx").parse(fh, ctx):
            tables.setdefault(batch.table, []).extend(batch.data.to_pylist())
    rows = {t: sorted(r, key=lambda row: row["_line"]) for t, r in tables.items()}
    return rows, [(w.line, w.reason) for w in ctx.warnings]


@pytest.mark.parametrize("name", ["security.evtx", "system.evtx", "sysmon.evtx",
                                  "sample_with_a_bad_chunk_magic.evtx"])
def test_column_wise_path_matches_record_by_record(shared_data: Path, monkeypatch, name: str) -> None:
    """The block decoder (Arrow) and the per-record fallback give the same rows and warnings."""
    import pyarrow as pa

    from winnow.sources import evtx_file

    path = shared_data / "evtx-parser-corpus" / name
    monkeypatch.setattr(evtx_file, "MIN_GROUP_ROWS", 1)  # every group of mapped events column-wise
    monkeypatch.setattr(evtx_file, "SMALL_BLOCK", 0)  # every block through the block path
    fast, fast_warnings = _parse_all(path)

    def refuse(heads):
        raise pa.ArrowInvalid("forced record-by-record path")

    monkeypatch.setattr(evtx_file, "_read_system", refuse)
    slow, slow_warnings = _parse_all(path)
    assert fast_warnings == slow_warnings
    assert set(fast) == set(slow) and len(fast["win.event"]) == CORPUS_RECORDS[name]
    for table in fast:
        assert fast[table] == slow[table], table


def _mapped_column_wise(monkeypatch) -> list[int]:
    """Map every group of mapped events column-wise (no size threshold); count the rows that were."""
    from winnow.sources import evtx_file

    counted = [0]
    map_group = evtx_file._map_group

    def counting(mapping, texts, columns, rows):
        out = map_group(mapping, texts, columns, rows)
        counted[0] += 0 if out is None else len(rows)
        return out

    monkeypatch.setattr(evtx_file, "MIN_GROUP_ROWS", 1)
    monkeypatch.setattr(evtx_file, "SMALL_BLOCK", 0)  # small files through the block path too
    monkeypatch.setattr(evtx_file, "_map_group", counting)
    return counted


def test_column_wise_mapping_matches_record_by_record_on_attack_samples(shared_data: Path, monkeypatch) -> None:
    """Every attack sample: the mapped tables built column-wise equal the per-record path, column for column."""
    import pyarrow as pa

    from winnow.sources import evtx_file

    paths = sorted((shared_data / "evtx-attack-samples").rglob("*.evtx"))
    assert len(paths) == 277
    counted = _mapped_column_wise(monkeypatch)
    fast = [_parse_all(path) for path in paths]

    def refuse(heads):
        raise pa.ArrowInvalid("forced record-by-record path")

    monkeypatch.setattr(evtx_file, "_read_system", refuse)
    mapped_rows = 0
    for path, (fast_tables, fast_warnings) in zip(paths, fast, strict=True):
        slow_tables, slow_warnings = _parse_all(path)
        assert sorted(fast_warnings) == sorted(slow_warnings), path.name
        assert set(fast_tables) == set(slow_tables), path.name
        for table in slow_tables:
            assert fast_tables[table] == slow_tables[table], (path.name, table)
            mapped_rows += len(slow_tables[table]) if table != "win.event" else 0
    # nearly all mapped events took the column-wise path (the rest: nested or fractional event-data values)
    assert mapped_rows > 2000 and counted[0] > 0.9 * mapped_rows


def _sysmon_network_record(record_id: int, data: str) -> dict:
    """A pyevtx-rs record of a Sysmon network connection (event 3) with the given EventData text."""
    system = ('{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":3,"Version":5,"Level":4,'
              '"TimeCreated":{"#attributes":{"SystemTime":"2018-03-06T08:14:06.638380Z"}},'
              f'"EventRecordID":{record_id},"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"HOST"}}')
    return {"timestamp": "2018-03-06T08:14:06.63838Z UTC",
            "data": f'{{"Event":{{"System":{system},"EventData":{data}}}}}'}


def test_column_wise_mapping_of_odd_event_data(monkeypatch) -> None:
    """Booleans as text or JSON, ports as text or numbers, the inbound swap, nested and fractional values,
    missing fields, unknown fields, empty and null event data: the same rows on both paths."""
    import numpy as np
    import pyarrow as pa

    from winnow.sources import ParseContext, evtx_file
    from winnow.sources.windows_rows import RowSink

    base = ('"UtcTime":"2017-12-18 14:51:29.706","ProcessGuid":"{{G}}","ProcessId":{pid},"Image":"C:\\\\x.exe",'
            '"Protocol":"TCP","Initiated":{init},"SourceIsIpv6":{v6},"SourceIp":"::ffff:10.0.0.{n}",'
            '"SourceHostname":"src{n}","SourcePort":{sport},"DestinationIp":"10.0.0.9","DestinationHostname":"-",'
            '"DestinationPort":{dport}')
    variants = [
        dict(pid="4280", init="true", v6="false", sport="59344", dport="443"),
        dict(pid='"0x10b8"', init="false", v6='"false"', sport="139", dport="49184"),  # inbound, local side first
        dict(pid="12", init='"false"', v6="null", sport='"58193"', dport='"445"'),  # inbound, remote side first
        dict(pid="12", init='"FALSE"', v6='"true"', sport='"x"', dport="445"),
        dict(pid="-7", init="null", v6="true", sport="0", dport="null"),
    ]
    texts = [("{" + base.format(n=i, **v) + "}") for i, v in enumerate(variants)]
    texts += [texts[0][:-1] + ',"Extra":"é\\"q","Number":5,"Flag":true,"Nothing":null}',  # unknown fields
              texts[1][:-1] + ',"Nested":{"a":[1,2]}}', texts[2][:-1] + ',"Ratio":0.5}',  # one by one
              '{"UtcTime":"2017-12-18 14:51:29.706"}', "{}", "null"]
    records = [_sysmon_network_record(i + 1, text) for i, text in enumerate(texts * 3)]
    lines = np.arange(1, len(records) + 1)

    def rows(column_wise: bool) -> tuple[dict[str, list[dict]], list]:
        ctx = ParseContext("odd.evtx")
        sink = RowSink(ctx)
        if column_wise:
            batches = list(evtx_file._block(records, 1, ctx, sink))
        else:
            batches = list(evtx_file._slow(records, lines, np.arange(len(records)), ctx, sink))
        tables: dict[str, list[dict]] = {}
        for batch in [*batches, *sink.drain()]:
            tables.setdefault(batch.table, []).extend(batch.data.to_pylist())
        return ({t: sorted(r, key=lambda row: row["_line"]) for t, r in tables.items()},
                sorted((w.line, w.reason) for w in ctx.warnings))

    counted = _mapped_column_wise(monkeypatch)
    fast, fast_warnings = rows(True)
    slow, slow_warnings = rows(False)
    assert fast == slow and fast_warnings == slow_warnings
    assert len(fast["proc.net"]) == 3 * len(texts) and not fast_warnings
    assert counted[0] == 3 * (len(texts) - 3)  # not the nested, fractional and null ones
    inbound = [(r["src_ip"], r["src_port"], r["dst_port"], r["dst_hostname"]) for r in fast["proc.net"][1:3]]
    assert inbound == [("10.0.0.9", 49184, 139, "src1"), ("10.0.0.2", 58193, 445, None)]
    assert pa.types.is_string(pa.array([r["extra"] for r in fast["proc.net"]]).type)
