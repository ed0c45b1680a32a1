"""Tests of the simulator's endpoint logs (`winnow.sim.endpoint`): determinism, truth coverage, skew,
port reuse, loss, and that the Sysmon JSON and auditd files parse into proc.net / proc.exec."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from winnow.sim import simulate

DAY = "2026-11-02"
SKEW = 3.0


def read_conn(path: Path) -> list[dict[str, str]]:
    """Rows of a Zeek conn.log as dicts."""
    fields: list[str] = []
    rows = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#fields\t"):
                fields = line.split("\t")[1:]
            elif not line.startswith("#"):
                rows.append(dict(zip(fields, line.split("\t"), strict=True)))
    return rows


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("endpoint")
    summary = simulate(out, hosts=12, days=1, seed=5, clock_skew=SKEW, endpoint_loss=0.05)
    truth = json.loads((out / "truth.json").read_text())
    return {
        "out": out,
        "summary": summary,
        "truth": truth,
        "endpoint": truth["endpoint"],
        "rows": pq.read_table(out / "endpoint_truth.parquet").to_pylist(),
        "conn": read_conn(out / "zeek" / DAY / "conn.log"),
    }


def _files(root: Path) -> dict[str, bytes]:
    paths = [*sorted((root / "endpoint").rglob("*")), root / "endpoint_truth.parquet"]
    return {str(p.relative_to(root)): p.read_bytes() for p in paths if p.is_file()}


def test_same_seed_gives_identical_endpoint_files(sim: dict, tmp_path: Path) -> None:
    simulate(tmp_path, hosts=12, days=1, seed=5, clock_skew=SKEW, endpoint_loss=0.05)
    again, first = _files(tmp_path), _files(sim["out"])
    assert sorted(again) == sorted(first) == sorted(
        [f"endpoint/{DAY}/sysmon.json", f"endpoint/{DAY}/audit.log", f"endpoint/{DAY}/security.json",
         "endpoint_truth.parquet"]
    )
    for name, data in first.items():
        assert again[name] == data, name


def test_half_windows_half_linux_and_a_watched_implant(sim: dict) -> None:
    hosts = sim["endpoint"]["hosts"]
    assert len(hosts) == 6
    assert Counter(h["os"] for h in hosts) == {"windows": 3, "linux": 3}
    assert {h["os"] for h in hosts if h["implant"]} == {"windows", "linux"}
    assert {h["os"] for h in hosts if h["smb_server"]} == {"windows", "linux"}
    assert all(abs(h["clock_offset_s"]) <= SKEW for h in hosts)


def test_truth_covers_every_conn_from_an_instrumented_host(sim: dict) -> None:
    ips = {h["ip"] for h in sim["endpoint"]["hosts"]}
    out_uids = {r["uid"] for r in sim["conn"] if r["id.orig_h"] in ips}
    rows = sim["rows"]
    assert {r["uid"] for r in rows if r["side"] == "src"} == out_uids
    assert len([r for r in rows if r["side"] == "src"]) == len(out_uids), "one src row per connection"
    inbound = {r["uid"] for r in rows if r["side"] == "dst"}
    responders = {r["uid"]: r["id.resp_h"] for r in sim["conn"]}
    assert inbound and all(responders[u] in ips for u in inbound)
    assert all(r["pid"] > 0 and r["image"] and r["process_guid"] for r in rows)
    assert sim["endpoint"]["conns_attributable"] == len(rows)
    implants = {r["image"] for r in rows if "AppData\\Roaming" in r["image"] or r["image"].startswith("/tmp/.x/")}
    assert len(implants) >= 2


def test_skew_within_the_bound_and_near_the_host_offset(sim: dict) -> None:
    offset = {h["host"]: h["clock_offset_s"] for h in sim["endpoint"]["hosts"]}
    logged = [r for r in sim["rows"] if r["logged"]]
    assert logged
    for r in logged:
        assert abs(r["skew_s"]) <= SKEW + 0.5 + 1e-3
        assert abs(r["skew_s"] - offset[r["host"]]) <= 0.5 + 1e-3 + 0.05 * (r["side"] == "dst")


def test_lost_events_are_flagged(sim: dict) -> None:
    rows = sim["rows"]
    lost = [r for r in rows if not r["logged"]]
    assert 0.03 < len(lost) / len(rows) < 0.07
    assert all(r["skew_s"] is None for r in lost)
    counts = sim["endpoint"]["counts"]
    written = counts["sysmon_3"] + counts["auditd_connect"] + counts["auditd_accept"]
    assert written == counts["logged"] + counts["endpoint_only"] == sum(r["logged"] for r in rows) + counts[
        "endpoint_only"]
    sysmon = (sim["out"] / "endpoint" / DAY / "sysmon.json").read_text().splitlines()
    audit = (sim["out"] / "endpoint" / DAY / "audit.log").read_text().splitlines()
    net = sum('"event_id":3,' in line for line in sysmon)
    net += sum(" type=SYSCALL " in line and ("syscall=42 " in line or "syscall=43 " in line) for line in audit)
    assert net == written


def test_port_reuse_repeats_five_tuples_hours_apart(sim: dict) -> None:
    ips = {h["ip"] for h in sim["endpoint"]["hosts"]}
    seen: dict[tuple, list[float]] = defaultdict(list)
    for r in sim["conn"]:
        if r["id.orig_h"] in ips and r["proto"] == "tcp":
            seen[(r["id.orig_h"], r["id.orig_p"], r["id.resp_h"], r["id.resp_p"])].append(float(r["ts"]))
    repeated = {k: sorted(v) for k, v in seen.items() if len(v) >= 2}
    assert len(repeated) >= 10
    gaps = [b - a for v in repeated.values() for a, b in zip(v, v[1:], strict=False)]
    assert min(gaps) >= 60 and max(gaps) >= 3600
    assert sim["endpoint"]["counts"]["reused_ports"] > 0


def test_sysmon_and_auditd_shapes(sim: dict) -> None:
    events = [json.loads(line) for line in (sim["out"] / "endpoint" / DAY / "sysmon.json").open()]
    assert {e["winlog"]["event_id"] for e in events} == {1, 3}
    assert all(e["winlog"]["channel"] == "Microsoft-Windows-Sysmon/Operational" for e in events)
    inbound = [e["winlog"]["event_data"] for e in events if e["winlog"]["event_data"].get("Initiated") == "false"]
    assert inbound and all(d["SourcePort"] == "445" and d["Image"] == "System" for d in inbound)
    records = defaultdict(list)
    for e in events:
        records[e["winlog"]["computer_name"]].append(e["winlog"]["record_id"])
    assert all(len(set(v)) == len(v) for v in records.values())
    audit = (sim["out"] / "endpoint" / DAY / "audit.log").read_text().splitlines()
    assert all(line.startswith("node=lx") for line in audit)
    kinds = Counter(line.split(" ")[1] for line in audit)
    assert kinds["type=SOCKADDR"] == sum("syscall=42 " in x or "syscall=43 " in x for x in audit)
    assert kinds["type=EXECVE"] == sum("syscall=59 " in x for x in audit) > 0


def test_zero_share_writes_no_endpoint_logs(tmp_path: Path) -> None:
    summary = simulate(tmp_path, hosts=6, seed=2, endpoint_share=0.0)
    assert not (tmp_path / "endpoint").exists() and not (tmp_path / "endpoint_truth.parquet").exists()
    assert summary["endpoint"]["counts"]["truth_rows"] == 0


@pytest.mark.skipif(
    importlib.util.find_spec("winnow.sources.windows_json") is None
    or importlib.util.find_spec("winnow.sources.auditd") is None,
    reason="the Sysmon JSON (winnow.sources.windows_json) or auditd (winnow.sources.auditd) parser is missing",
)
def test_endpoint_files_parse_and_match_the_truth(sim: dict, tmp_path: Path) -> None:
    import duckdb
    import pyarrow as pa

    from winnow.ingest import ingest

    out, lake = sim["out"], tmp_path / "lake"
    report = ingest([out / "endpoint"], lake)
    assert all(f.status == "ingested" and not f.warnings for f in report.files), report.files
    counts = sim["endpoint"]["counts"]
    con = duckdb.connect()
    for name in ("proc.net", "proc.exec"):
        con.execute(f"create view \"{name}\" as select * from read_parquet('{lake / name}/**/*.parquet')")
    conn = pa.table({
        "uid": [r["uid"] for r in sim["conn"]],
        "src_ip": [r["id.orig_h"] for r in sim["conn"]], "src_port": [int(r["id.orig_p"]) for r in sim["conn"]],
        "dst_ip": [r["id.resp_h"] for r in sim["conn"]], "dst_port": [int(r["id.resp_p"]) for r in sim["conn"]],
    })
    con.register("conn", conn)
    con.execute(f"create view truth as select * from read_parquet('{out / 'endpoint_truth.parquet'}')")
    assert con.execute('select count(*) from "proc.net"').fetchone()[0] == counts["logged"] + counts["endpoint_only"]
    assert con.execute('select count(*) from "proc.exec"').fetchone()[0] == counts["sysmon_1"] + counts[
        "auditd_execve"]
    # every logged truth row has its endpoint event: same host and pid, at conn ts + skew, on the conn's addresses
    unmatched = con.execute("""
        select count(*) from truth t join conn c using (uid)
        where t.logged and not exists (
            select 1 from "proc.net" p
            where p.host = t.host and p.pid = t.pid
              and p.ts = t.ts + to_microseconds(cast(round(t.skew_s * 1e6) as bigint))
              and (case when t.side = 'src' then p.dst_ip = c.dst_ip and p.dst_port = c.dst_port
                                                 and coalesce(p.src_port, c.src_port) = c.src_port
                        else p.src_ip = c.src_ip and p.src_port = c.src_port end))
    """).fetchone()[0]
    assert unmatched == 0
    # the truth's process_guid is the one the parsers give the process start (Windows System never starts)
    missing = con.execute("""
        select count(*) from (select distinct host, pid, process_guid, image from truth) t
        where t.image <> 'System'
          and not exists (select 1 from "proc.exec" e where e.host = t.host and e.process_guid = t.process_guid
                          and e.pid = t.pid)
    """).fetchone()[0]
    assert missing == 0
