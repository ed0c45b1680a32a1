"""net.conn_proc: connections attributed to processes, on hand-built lakes with known answers."""

from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from winnow.engine import connect, fetch
from winnow.enrich.conn_proc import attribute
from winnow.lake import Lake
from winnow.schema import get_table

T0 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)


def write_rows(lake: Lake, table: str, rows: list[dict], name: str = "t") -> None:
    """Write rows straight into the lake as one Parquet part (a lake is only Parquet files)."""
    schema = get_table(table).arrow_schema
    data = pa.table({f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in schema}, schema=schema)
    part = lake.partition(table, T0.date().isoformat())
    part.mkdir(parents=True, exist_ok=True)
    pq.write_table(data, part / f"{name}.parquet")


def conn(uid, t, src, sport, dst, dport, proto="tcp", out=100, back=2000):
    return {"ts": t, "uid": uid, "src_ip": src, "src_port": sport, "dst_ip": dst, "dst_port": dport,
            "proto": proto, "src_bytes": out, "dst_bytes": back}


def event(host, t, pid, image, src=None, sport=None, dst=None, dport=None, direction="outbound", guid=None):
    return {"ts": t, "host": host, "pid": pid, "process_guid": guid, "image": image, "user": "corp\\amy",
            "action": "connect" if direction == "outbound" else "accept", "direction": direction, "proto": "tcp",
            "src_ip": src, "src_port": sport, "dst_ip": dst, "dst_port": dport, "family": "inet"}


@pytest.fixture()
def scenario(tmp_path):
    return build_scenario(tmp_path)


def build_scenario(tmp_path):
    """Four hosts, each testing one hard case; returns the lake and the expected (uid, side) -> (pid, quality)."""
    rng = random.Random(5)
    lake = Lake.open(tmp_path / "lake", create=True)
    conns, events, want = [], [], {}
    t = T0
    for i in range(60):
        t += dt.timedelta(seconds=rng.uniform(20, 40))
        # WIN-A: Sysmon, clock 3.2 s ahead: full tuple, needs the clock correction -> skew
        uid = f"A{i}"
        conns.append(conn(uid, t, "10.0.0.1", 50000 + i, "203.0.113.5", 443))
        events.append(event("WIN-A", t + dt.timedelta(seconds=3.2 + rng.uniform(-0.3, 0.3)), 400, "C:\\evil.exe",
                            "10.0.0.1", 50000 + i, "203.0.113.5", 443, guid="{A-400}"))
        want[(uid, "src")] = (400, "skew")
        # WIN-B: Sysmon in sync: exact; the same source port is reused every 10th connection (port reuse)
        uid = f"B{i}"
        conns.append(conn(uid, t, "10.0.0.2", 40000 + i % 10, "198.51.100.7", 8080))
        pid = 500 + i % 3
        events.append(event("WIN-B", t + dt.timedelta(seconds=rng.uniform(-0.4, 0.4)), pid, f"C:\\app{pid}.exe",
                            "10.0.0.2", 40000 + i % 10, "198.51.100.7", 8080, guid=f"{{B-{pid}}}"))
        want[(uid, "src")] = (pid, "exact")
        # lnx-c: auditd connect (no source address or port), clock 1.5 s behind -> skew via the learned address
        uid = f"C{i}"
        conns.append(conn(uid, t, "10.0.0.3", 33000 + i, "192.0.2.9", 22 if i % 2 else 80))
        events.append(event("lnx-c", t - dt.timedelta(seconds=1.5), 900 + i % 2, "/usr/bin/curl",
                            dst="192.0.2.9", dport=22 if i % 2 else 80))
        want[(uid, "src")] = (900 + i % 2, "skew")
    # WIN-A also accepts an inbound RDP connection: the process is on the responder side
    t_in = T0 + dt.timedelta(minutes=5, seconds=1)
    conns.append(conn("IN1", t_in, "10.9.9.9", 61000, "10.0.0.1", 3389))
    events.append(event("WIN-A", t_in + dt.timedelta(seconds=3.2), 1200, "C:\\Windows\\System32\\svchost.exe",
                        "10.9.9.9", 61000, "10.0.0.1", 3389, direction="inbound", guid="{A-1200}"))
    want[("IN1", "dst")] = (1200, "skew")
    # WIN-A: a connection Sysmon did not log -> unmatched
    conns.append(conn("LOST", T0 + dt.timedelta(minutes=7), "10.0.0.1", 51999, "203.0.113.99", 443))
    want[("LOST", "src")] = (None, "unmatched")
    # WIN-B: two processes claim the same tuple at the same moment -> ambiguous
    t_amb = T0 + dt.timedelta(minutes=9)
    conns.append(conn("AMB", t_amb, "10.0.0.2", 45555, "198.51.100.8", 443))
    for pid in (700, 701):
        events.append(event("WIN-B", t_amb, pid, "C:\\x.exe", "10.0.0.2", 45555, "198.51.100.8", 443,
                            guid=f"{{B-{pid}}}"))
    want[("AMB", "src")] = ("any", "ambiguous")
    # a connection between two uninstrumented hosts is not in the table at all
    conns.append(conn("OTHER", T0 + dt.timedelta(minutes=3), "10.7.7.7", 1234, "203.0.113.5", 443))
    write_rows(lake, "net.conn", conns)
    write_rows(lake, "proc.net", events)
    return lake, want


@pytest.mark.parametrize("engine_name", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_every_side_gets_the_right_process_and_quality(scenario, engine_name):
    """...and split by local address (refresh splits large days), the join gives exactly the rows of the whole."""
    from winnow.enrich.conn_proc import attribution

    lake, want = scenario
    with connect(engine_name, lake) as engine:
        rows = attribute(engine).to_pylist()
        parts = [fetch(expr).to_pylist() for expr in attribution(engine, partitions=3)]
    got = {(r["uid"], r["side"]): r for r in rows}
    assert set(got) == set(want)
    for key, (pid, quality) in want.items():
        row = got[key]
        assert row["match"] == quality, (key, row)
        if pid not in (None, "any"):
            assert row["pid"] == pid, (key, row)
    a = got[("A3", "src")]
    assert abs(a["skew_s"] - 3.2) < 0.35 and a["image"] == "C:\\evil.exe" and a["src_bytes"] == 100
    assert got[("AMB", "src")]["candidates"] == 2
    assert got[("C4", "src")]["host"] == "lnx-c"
    assert sum(1 for p in parts if p) >= 2  # the scenario's hosts do spread over partitions
    key = lambda r: (r["uid"], r["side"])  # noqa: E731
    assert sorted((r for p in parts for r in p), key=key) == sorted(rows, key=key)


def test_refresh_materializes_days_and_only_rebuilds_what_changed(scenario):
    from winnow.enrich.refresh import refresh_conn_proc

    lake, want = scenario
    first = refresh_conn_proc(lake)
    assert first.built == [T0.date().isoformat()] and sum(first.matches.values()) == len(want)
    assert first.matches["unmatched"] == 1 and first.matches["ambiguous"] == 1
    again = refresh_conn_proc(lake)
    assert again.built == [] and again.unchanged == 1
    with connect("duckdb", lake) as engine:
        stored = engine.table("net.conn_proc").to_pyarrow()
    assert stored.num_rows == len(want) and set(stored["_source_format"].to_pylist()) == {"conn_proc"}
    # new endpoint data for the day (the lost connection's event arrives late) rebuilds that day only
    write_rows(lake, "proc.net", [event("WIN-A", T0 + dt.timedelta(minutes=7, seconds=3.2), 77, "C:\\late.exe",
                                        "10.0.0.1", 51999, "203.0.113.99", 443, guid="{A-77}")], name="late")
    third = refresh_conn_proc(lake)
    assert third.built == [T0.date().isoformat()] and third.matches.get("unmatched", 0) == 0
    with connect("duckdb", lake) as engine:
        t = engine.table("net.conn_proc")
        late = t.filter(t.uid == "LOST").to_pyarrow().to_pylist()
    assert [(r["pid"], r["match"]) for r in late] == [(77, "skew")]


class Crash(Exception):
    """Stands in for the process dying at a chosen point."""


def test_refresh_cut_before_its_commit_point_is_redone(scenario, monkeypatch):
    """A rebuilt day is one commit: killed before its journal, nothing of it is published."""
    from winnow.enrich.refresh import refresh_conn_proc
    from winnow.lake.commit import recover

    lake, want = scenario

    def crash(*_args):
        raise Crash

    monkeypatch.setattr("winnow.lake.commit._fsync_write", crash)
    with pytest.raises(Crash):
        refresh_conn_proc(lake)
    monkeypatch.undo()
    assert not lake.has_table("net.conn_proc") and not (lake.root / "_derived").exists()
    assert recover(lake) == 0 and not (lake.root / "_tmp").exists()
    again = refresh_conn_proc(lake)
    assert again.built == [T0.date().isoformat()] and sum(again.matches.values()) == len(want)


def test_refresh_cut_after_its_commit_point_is_finished_by_recovery(scenario, monkeypatch):
    """Killed between the journal and the renames, the day and its fingerprint are published together."""
    import os

    from winnow.enrich.refresh import refresh_conn_proc
    from winnow.lake.commit import recover

    lake, want = scenario
    real_replace = os.replace

    def crashing_replace(a, b):
        if str(b).endswith("conn_proc.parquet"):
            raise Crash
        return real_replace(a, b)

    monkeypatch.setattr("winnow.lake.commit.os.replace", crashing_replace)
    with pytest.raises(Crash):
        refresh_conn_proc(lake)
    monkeypatch.undo()
    assert not lake.has_table("net.conn_proc") and len(list((lake.root / "_journal").glob("*.json"))) == 1
    assert recover(lake) == 1
    with connect("duckdb", lake) as engine:
        assert engine.table("net.conn_proc").count().execute() == len(want)
    again = refresh_conn_proc(lake)
    assert again.built == [] and again.unchanged == 1


def test_process_traffic_and_findings_name_the_process(scenario):
    from winnow.enrich.evidence import attach_processes
    from winnow.enrich.refresh import refresh_conn_proc
    from winnow.hunting import process_traffic
    from winnow.scoring.finding import Finding

    lake, _ = scenario
    refresh_conn_proc(lake)
    with connect("duckdb", lake) as engine:
        per = {r["process_guid"]: r for r in process_traffic(engine).to_pylist()}
        evil = per["{A-400}"]
        assert evil["connections"] == 60 and evil["bytes_out"] == 6000 and evil["bytes_in"] == 120_000
        assert evil["top_destination"] == "203.0.113.5" and evil["destinations"] == 1
        rdp = per["{A-1200}"]  # accepted: what the responder sent is the process's output
        assert rdp["bytes_out"] == 2000 and rdp["bytes_in"] == 100 and rdp["top_destination"] == "10.9.9.9"
        assert "lnx-c:900" in per and "{B-700}" not in per  # ambiguous matches are left out
        beacon = Finding(detector="beacon", score=0.9, entity="x", first_seen=T0, last_seen=T0 + dt.timedelta(hours=2),
                         components={}, evidence={}, why="10.0.0.1 beacons", src="10.0.0.1", dst="203.0.113.5",
                         dport=443)
        other = dataclasses_replace(beacon, src="10.7.7.7")
        named, unnamed = attach_processes(engine, [beacon, other])
    assert named.evidence["process"]["image"] == "C:\\evil.exe" and named.evidence["process"]["share"] == 1.0
    assert named.why.endswith("made by C:\\evil.exe (pid 400, corp\\amy) on WIN-A")
    assert "process" not in unnamed.evidence


def dataclasses_replace(finding, **changes):
    import dataclasses

    return dataclasses.replace(finding, **changes)


def test_cli_attribute_and_processes(scenario):
    import json

    from click.testing import CliRunner

    from winnow.cli.main import cli

    lake, want = scenario
    runner = CliRunner()
    result = runner.invoke(cli, ["attribute", "--lake", str(lake.root)])
    assert result.exit_code == 0, result.output
    assert "days rebuilt 1" in result.output and "unmatched 1" in result.output
    result = runner.invoke(cli, ["processes", "--lake", str(lake.root), "--host", "WIN-A", "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert rows[0]["image"] == "C:\\evil.exe" and rows[0]["bytes_out"] == 6000


def test_mordor_lsass_c2_is_attributed_to_the_payload(shared_data, tmp_path):
    """Real data: Sysmon (MKT01) and Zeek of the Metasploit LSASS campaign; the Zeek capture was replayed
    ~5.6 days after the endpoint logged it, so the host's clock shift must be found from the 5-tuples."""
    campaign = shared_data / "mordor" / "lsass_campaign_01"
    lake = tmp_path / "lake"
    report = ingest_files([campaign / "metasploit_logonpasswords_lsass_memory_dump.zip",
                           campaign / "metasploit_logonpasswords_lsass_memory_dump_zeek_logs.zip"], lake)
    assert report.conn_proc is not None and report.conn_proc.shifts
    shift = report.conn_proc.shifts["MKT01.pandalab.com"] / 1000
    assert -483_300 < shift < -483_260
    with connect("duckdb", lake) as engine:
        t = engine.table("net.conn_proc")
        rows = t.to_pyarrow().to_pylist()
    c2 = [r for r in rows if r["dst_ip"] == "10.0.5.13" and r["dst_port"] == 8080 and r["match"] != "unmatched"]
    assert c2 and {r["src_ip"] for r in c2} == {"192.168.1.41"}
    payload = [r for r in c2 if r["image"].endswith("\\winx64_payload.exe")]
    assert payload and all(r["pid"] == 1988 and r["host"] == "MKT01.pandalab.com" for r in payload)
    assert sum(r["dst_bytes"] for r in payload) > 700_000  # the bytes come from Zeek
    sides = len(rows)
    got = sum(r["match"] in ("exact", "skew") for r in rows)
    ambiguous = sum(r["match"] == "ambiguous" for r in rows)
    assert got / sides >= 0.9 and ambiguous / sides <= 0.02, (got, ambiguous, sides)


def ingest_files(paths, lake):
    from winnow.ingest import ingest

    return ingest(paths, lake)
