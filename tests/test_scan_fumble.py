"""Scan and fumbling: known answers on hand-written Zeek logs (both engines), real captures, a simulation."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from zeekgen import conn_line, write_conn_log

from winnow.detections import get_detector
from winnow.engine import Window, connect
from winnow.ingest import ingest

ENGINES = ["duckdb", "spark"]
T0 = 1793577600.0  # 2026-11-02T00:00:00Z
REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path:
    return Path(os.environ.get("WINNOW_TEST_DATA") or REPO.parent / "shared" / "data")


# --------------------------------------------------------------------------------------------
# A hand-written day: two scanners, a dead-C2 retrier, an outage, an inbound SSH brute force,
# a DGA host, and the benign noise that must stay quiet.
# --------------------------------------------------------------------------------------------

def _conn(ts: float, uid: str, src: str, dst: str, dport: int, state: str = "SF", history: str = "ShADadFf",
          local: tuple[str, str] = ("T", "F"), **kw: object) -> str:
    if state in ("S0", "REJ") and "duration" not in kw:
        kw.update(duration=None if state == "S0" else 0.001, sbytes=0, dbytes=0)
    fields = conn_line(ts, uid, src, 40000 + len(uid), dst, dport, state=state, **kw).split("\t")  # type: ignore[arg-type]
    fields[12], fields[13], fields[15] = local[0], local[1], history
    return "\t".join(fields)


def _conn_fixture() -> list[str]:
    lines = []
    # horizontal: 10.0.0.66 -> 10.0.1.1-60:445, mostly silent; every 15th answers (open port, reset)
    for i in range(1, 61):
        if i % 15 == 7:
            lines.append(_conn(T0 + 3600 + i / 2, f"H{i}", "10.0.0.66", f"10.0.1.{i}", 445, "RSTO", "ShR",
                               duration=0.001, sbytes=0, dbytes=0))
        else:
            state = "REJ" if i % 10 == 3 else "S0"
            lines.append(_conn(T0 + 3600 + i / 2, f"H{i}", "10.0.0.66", f"10.0.1.{i}", 445, state,
                               "Sr" if state == "REJ" else "S"))
    for i in range(10):  # ...after a morning of ordinary browsing
        lines.append(_conn(T0 + 100 + i, f"HB{i}", "10.0.0.66", f"93.184.216.{i + 1}", 443))
    # vertical: 10.0.0.77 used the file server's SMB, then probes its ports 1-40 (22 and 25 open)
    lines.append(_conn(T0 + 600, "VS", "10.0.0.77", "10.0.2.5", 445, sbytes=5000, dbytes=90000))
    for port in range(1, 41):
        if port in (22, 25):
            lines.append(_conn(T0 + 7200 + port / 5, f"V{port}", "10.0.0.77", "10.0.2.5", port, "RSTO", "ShR",
                               duration=0.001, sbytes=0, dbytes=0))
        else:
            lines.append(_conn(T0 + 7200 + port / 5, f"V{port}", "10.0.0.77", "10.0.2.5", port, "REJ", "Sr"))
    # a benign browser: 30 web servers, one of them silent
    for i in range(1, 31):
        lines.append(_conn(T0 + 1000 + i * 7, f"B{i}", "10.0.0.10", f"192.0.2.{i}", 443))
    lines.append(_conn(T0 + 1300, "B31", "10.0.0.10", "192.0.2.31", 443, "S0", "S"))
    # dead C2: 10.0.0.88 -> 203.0.113.5:443 every ~3 min for 6 hours, never answered
    for k in range(120):
        jitter = (k * 37 % 41) - 20
        state = "REJ" if k % 3 == 2 else "S0"
        lines.append(_conn(T0 + 60 + k * 180 + jitter, f"F{k}", "10.0.0.88", "203.0.113.5", 443, state,
                           "Sr" if state == "REJ" else "S"))
    for i in range(5):
        lines.append(_conn(T0 + 5000 + i * 900, f"FB{i}", "10.0.0.88", f"192.0.2.{i + 1}", 443))
    # an outage: five hosts fail to reach the same server, 20 times each over two hours
    for h in range(5):
        for k in range(20):
            lines.append(_conn(T0 + 30000 + k * 360 + h, f"O{h}_{k}", f"10.0.0.{20 + h}", "198.51.100.7", 443,
                               "S0", "S"))
    # inbound SSH brute force on 10.0.0.2:22 from 12 outside sources (short, small, answered sessions)
    for s in range(12):
        for k in range(20 if s == 0 else 15):
            lines.append(_conn(T0 + 40000 + s * 30 + k * 60, f"S{s}_{k}", f"203.0.113.{100 + s}", "10.0.0.2",
                               22, duration=3.0, sbytes=1300, dbytes=1800, local=("F", "T"), service="ssh"))
    lines.sort()
    return lines


DNS_FIELDS = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto trans_id rtt query qclass qclass_name "
              "qtype qtype_name rcode rcode_name AA TC RD RA Z answers TTLs rejected").split()
DNS_TYPES = ("time string addr port addr port enum count interval string count string count string count "
             "string bool bool bool bool count vector[string] vector[interval] bool").split()


def _dns(ts: float, uid: str, src: str, query: str, nx: bool) -> str:
    rcode, name, answers, ttls = ("3", "NXDOMAIN", "-", "-") if nx else ("0", "NOERROR", "192.0.2.80", "300")
    return "\t".join([f"{ts:.6f}", uid, src, "53000", "10.0.0.53", "53", "udp", "1", "0.001", query, "1",
                      "C_INTERNET", "1", "A", rcode, name, "F", "F", "T", "T", "0", answers, ttls, "F"])


def _dns_fixture() -> list[str]:
    rng = random.Random(7)
    lines = []
    for i, host in enumerate(f"10.0.0.{n}" for n in range(10, 35)):
        lines.append(_dns(T0 + 50 + i, f"DW{i}", host, "wpad.corp.example", True))
        lines.append(_dns(T0 + 70 + i, f"DI{i}", host, "isatap.corp.example", True))
        lines.append(_dns(T0 + 90 + i, f"DN{i}", host, "www.example.com", False))
    for h in range(30, 35):  # Chromium's intranet-redirect probes: random single labels, NXDOMAIN
        for k in range(9):
            label = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(7, 15)))
            lines.append(_dns(T0 + 200 + h * 10 + k, f"DC{h}_{k}", f"10.0.0.{h}", label, True))
    for k in range(40):  # a DGA: many random names under many domains, each failing
        label = "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(rng.randint(8, 12)))
        tld = rng.choice(["com", "net", "biz"])
        lines.append(_dns(T0 + 9000 + k * 2, f"DG{k}", "10.0.0.99", f"{label}.{tld}", True))
    lines.append(_dns(T0 + 9500, "DG_ok", "10.0.0.99", "www.example.com", False))
    return sorted(lines)


def _write_dns_log(path: Path, lines: list[str]) -> None:
    header = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-",
              "#path\tdns", "#open\t2026-11-02-00-00-00", "#fields\t" + "\t".join(DNS_FIELDS),
              "#types\t" + "\t".join(DNS_TYPES)]
    path.write_text("\n".join(header + lines) + "\n#close\t2026-11-03-00-00-00\n", encoding="utf-8")


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("scanfumble")
    write_conn_log(root / "logs" / "conn.log", _conn_fixture())
    _write_dns_log(root / "logs" / "dns.log", _dns_fixture())
    ingest([root / "logs"], root / "lake")
    return root / "lake"


@pytest.fixture(scope="module")
def found(lake):
    """Findings of both detectors on both engines, computed once."""
    out = {}
    for url in ENGINES:
        with connect(url, lake) as engine:
            for name in ("scan", "fumbling"):
                out[url, name] = get_detector(name).find(engine, Window())
    return out


@pytest.mark.parametrize("url", ENGINES)
def test_scan_known_answer(found, url):
    findings = found[url, "scan"]
    assert [f.entity for f in findings] == ["10.0.0.66 horizontal scan", "10.0.0.77 vertical scan"]
    horizontal, vertical = findings
    assert horizontal.src == "10.0.0.66" and horizontal.dport == 445 and horizontal.dst is None
    ev = horizontal.evidence
    assert (ev["hosts"], ev["ports"], ev["failures"], ev["probes_to_detect"]) == (60, 1, 56, 4)
    assert ev["flagged_by"] == "sequential test" and ev["pace"] == "fast"
    assert ev["top_ports"] == [{"port": "445/tcp", "hosts": 60}]
    assert "probed 60 hosts on 445/tcp in 30 s" in horizontal.why
    assert "flagged after 4 probes (sequential test)" in horizontal.why
    assert vertical.dst == "10.0.2.5" and vertical.dport is None
    ev = vertical.evidence
    # the SMB session of the morning is the walk's first trial; the probes then need 4 failures more
    assert (ev["hosts"], ev["ports"], ev["probes"], ev["failures"]) == (1, 41, 41, 38)
    assert ev["probes_to_detect"] == 5 and ev["lowest_ports"][:3] == [1, 2, 3]
    assert set(vertical.components) == {"llr", "breadth", "failure", "service", "background"}
    assert all(0.8 < f.score <= 1.0 for f in findings)


@pytest.mark.parametrize("url", ENGINES)
def test_fumbling_known_answer(found, url):
    findings = found[url, "fumbling"]
    by_entity = {f.entity: f for f in findings}
    top = findings[0]
    assert top.entity == "10.0.0.88->203.0.113.5:443/tcp" and top.dst == "203.0.113.5" and top.dport == 443
    assert top.evidence["failures"] == 120 and top.evidence["hours_with_failures"] == 6
    assert top.evidence["hosts_failing_to_dst"] == 1 and top.components["steadiness"] == 1.0
    assert "no other host fails on it" in top.why
    # the outage: the same retries from five hosts are damped below the lone retrier
    outage = [f for f in findings if f.dst == "198.51.100.7"]
    assert len(outage) == 5 and all(f.score < 0.6 * top.score for f in outage)
    assert "4 other host(s) fail on it too" in outage[0].why
    # the brute force, stacked over its sources
    campaign = by_entity["*->10.0.0.2:22/tcp"]
    assert campaign.src == "203.0.113.100" and campaign.evidence["sources"] == 12
    assert campaign.evidence["soft_failures"] == campaign.evidence["failures"] == 20 + 11 * 15
    assert campaign.evidence["top_sources"][0] == {"src": "203.0.113.100", "failures": 20}
    # the DGA host spreads over names nobody else fails on; Chromium probes and WPAD stay quiet
    dga = by_entity["10.0.0.99 failures"]
    assert dga.evidence["by_source"] == {"dns": 40} and dga.evidence["name_label_entropy"] > 2.5
    quiet = {f"10.0.0.{n}" for n in range(10, 20)} | {f"10.0.0.{n}" for n in range(30, 35)}
    assert not [f.entity for f in findings if f.src in quiet]
    assert all(f.score <= top.score for f in findings)


def test_identical_on_both_engines(found):
    for name in ("scan", "fumbling"):
        assert [f.to_dict() for f in found["duckdb", name]] == [f.to_dict() for f in found["spark", name]]


def test_window_and_parameters(lake):
    import datetime as dt

    with connect("duckdb", lake) as engine:
        morning = Window(until=dt.datetime(2026, 11, 2, 1, tzinfo=dt.UTC))
        assert get_detector("scan").find(engine, morning) == []
        strict = get_detector("scan", alpha=0.001, min_targets=1000).find(engine, Window())
        # log(0.99 / 0.001) = 6.9 needs one failure more than log(0.99 / 0.01) = 4.6
        assert {f.evidence["probes_to_detect"] for f in strict} == {5, 6}
        assert len(get_detector("fumbling", limit=2).find(engine, Window())) == 2


# --------------------------------------------------------------------------------------------
# Real captures (shared data, MANIFEST.md sections 1 and 2)
# --------------------------------------------------------------------------------------------

REAL = {
    "nmap": "stratosphere/security-datasets-for-testing/002-zeek-scenario-port-scanning/conn.log",
    "horizontal": "stratosphere/slips-dataset/zeek/port-scans/horizontal/conn.log",
    "vertical": "stratosphere/slips-dataset/zeek/port-scans/vertical/conn.log",
    "remcos": "stratosphere/slips-dataset/zeek/test18-malicious-ctu-sme-11-win/zeek-labeled/conn.log.labeled",
    "rita": "rita-zeek-beacon/missing_host",
    "njrat": "stratosphere/security-datasets-for-testing/001-zeek-scenario-malicious/labeled-conn.log",
}


@pytest.fixture(scope="module")
def real_lakes(tmp_path_factory):
    root = _data_root()
    if not root.is_dir():
        pytest.skip(f"shared test data not found at {root}; set WINNOW_TEST_DATA")
    lakes = {}
    base = tmp_path_factory.mktemp("real")
    for name, rel in REAL.items():
        ingest([root / rel], base / name)
        lakes[name] = base / name
    return lakes


def _run(lake: Path, name: str, **params: object) -> list:
    with connect("duckdb", lake) as engine:
        return get_detector(name, **params).find(engine, Window())


def test_real_nmap_scanner_is_top(real_lakes):
    findings = _run(real_lakes["nmap"], "scan")
    assert findings[0].src == "172.16.1.11" and {f.src for f in findings} == {"172.16.1.11"}
    assert {f.evidence["kind"] for f in findings} == {"horizontal", "vertical"}


def test_real_slips_port_scans(real_lakes):
    horizontal = _run(real_lakes["horizontal"], "scan")
    assert horizontal[0].entity == "10.0.2.112 horizontal scan" and horizontal[0].dport == 80
    assert horizontal[0].evidence["hosts"] == 25
    vertical = _run(real_lakes["vertical"], "scan")
    assert vertical[0].entity == "192.168.1.9 vertical scan" and vertical[0].dst == "45.33.32.156"
    assert vertical[0].evidence["ports"] == 44


def test_real_remcos_retrying_dead_c2_is_top_fumbling(real_lakes):
    top = _run(real_lakes["remcos"], "fumbling")[0]
    assert top.entity == "192.168.1.107->66.63.168.35:5888/tcp"
    assert top.evidence["failures"] >= 718


def test_real_njrat_c2_is_top_fumbling(real_lakes):
    """Stratosphere 001: the NjRAT bot calls its C2 41.108.179.197:1177 237 times; none is answered."""
    top = _run(real_lakes["njrat"], "fumbling")[0]
    assert top.entity == "192.168.1.115->41.108.179.197:1177/tcp" and top.evidence["kind"] == "retry"
    assert top.evidence["failures"] == 237 and top.severity == "high"


def test_real_ssh_brute_force_is_found(real_lakes):
    findings = _run(real_lakes["rita"], "fumbling")
    top = findings[0]
    assert top.entity == "*->64.225.56.201:22/tcp" and top.src == "170.64.237.193"
    assert top.evidence["top_sources"][0] == {"src": "170.64.237.193", "failures": 466}
    retry = [f.entity for f in findings if f.evidence["kind"] == "retry" and f.dport == 22]
    assert "170.64.237.193->64.225.56.201:22/tcp" in retry


# --------------------------------------------------------------------------------------------
# Simulation: the planted scanners and fumblers lead (score_network's scan_fumble_found_top10)
# --------------------------------------------------------------------------------------------

def test_simulated_scanners_and_fumblers_lead(tmp_path):
    from winnow.sim import simulate

    summary = simulate(tmp_path / "logs", hosts=60, seed=11)
    ingest([tmp_path / "logs"], tmp_path / "lake")
    truth = json.loads(Path(summary["truth"]).read_text())
    with connect("duckdb", tmp_path / "lake") as engine:
        rows = [f for name in ("scan", "fumbling") for f in get_detector(name).find(engine, Window())]
    rows.sort(key=lambda f: -f.score)
    sources: list[str] = []
    for f in rows:
        if f.src not in sources:
            sources.append(f.src)
    want = [s["src"] for s in truth["scanners"]] + [f["src"] for f in truth["fumblers"]]
    want += [c["src"] for c in truth["c2_shapes"] if c["kind"] == "replyless_c2"]  # retries to a dead C2 fumble too
    assert want and all(w in sources[: len(want)] for w in want), (want, sources[:10])
