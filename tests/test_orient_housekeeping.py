"""Real-capture shapes: responder-side Zeek records, housekeeping, lakes with only some inputs (both engines)."""

from __future__ import annotations

import pytest
from conftest import ingested_lake
from test_dns_rare import rare_fixture
from zeekgen import conn_line, write_conn_log, write_dns_log

from winnow.detections import get_detector
from winnow.engine import Window, connect, fetch
from winnow.ingest import ingest
from winnow.pipeline.detect import run_detectors

ENGINES = ["duckdb", "spark"]
T0 = 1793577600.0  # 2026-11-02T00:00:00Z
RELAY, C2 = "198.51.100.20", "203.0.113.50"


def _conn(ts: float, uid: str, src: str, sport: int, dst: str, dport: int, state: str = "SF",
          history: str = "ShADadFf", proto: str = "tcp", sbytes: int = 300, dbytes: int = 3000,
          duration: float | None = 1.0) -> str:
    fields = conn_line(ts, uid, src, sport, dst, dport, duration, sbytes, dbytes, proto, state).split("\t")
    fields[15] = history
    return "\t".join(fields)


def _browsing(hosts: range) -> list[str]:
    return [_conn(T0 + 600 * h + k, f"W{h}_{k}", f"10.0.0.{h}", 50000 + k, f"192.0.2.{k % 5 + 1}", 443)
            for h in hosts for k in range(10)]


# -- responder-side records of a remote relay -------------------------------------------------------

def _relay_fixture() -> list[str]:
    """Internal hosts keep calling a relay (tcp/447) and a C2 (tcp/8443); Zeek wrote the remote side first."""
    lines = _browsing(range(5, 25))
    shapes = ["D", "^D", "AD", "DA"]  # no originator SYN: OTH, the remote's packets only
    for h in range(5, 10):
        for k in range(40):
            lines.append(_conn(T0 + 1800 * k + h, f"R{h}_{k}", RELAY, 447, f"10.0.0.{h}", 49152 + 97 * k + h,
                               "OTH", shapes[k % 4], sbytes=600, dbytes=0, duration=30.0))
    for k in range(30):
        lines.append(_conn(T0 + 900 * k + 7, f"C{k}", C2, 8443, "10.0.0.12", 50000 + 13 * k, "OTH", "Dd" if k % 2
                           else "^D", sbytes=900, dbytes=0, duration=5.0))
    # a real inbound scan, witnessed (the originator's SYN): it stays a scan
    for port in range(1, 41):
        lines.append(_conn(T0 + 40000 + port, f"S{port}", "192.0.2.99", 61000, "10.0.0.40", port, "S0", "S",
                           sbytes=0, dbytes=0, duration=None))
    # odd shapes: the originator sent the SYN-ACK; two client ports, both ends talking, inward;
    # Zeek's own (right) flip
    lines.append(_conn(T0 + 50000, "X1", "10.0.0.60", 443, "198.51.100.30", 50000, "OTH", "HA"))
    lines.append(_conn(T0 + 50001, "X2", "203.0.113.77", 51000, "10.0.0.61", 52000, "OTH", "Dd"))
    # one-sided leftovers stay as written: a stray reset, backscatter of a spoofed SYN (SYN-ACK, our reset)
    lines.append(_conn(T0 + 50003, "X4", "203.0.113.78", 51000, "10.0.0.61", 52001, "OTH", "R", dbytes=0))
    lines.append(_conn(T0 + 50004, "X5", "203.0.113.79", 7172, "10.0.0.63", 13409, "REJ", "Hr", sbytes=0, dbytes=0))
    lines.append(_conn(T0 + 50002, "X3", "10.0.0.62", 50123, "198.51.100.40", 443, "SF", "^hADad"))
    return sorted(lines)


@pytest.fixture(scope="module")
def relay_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("relay")
    write_conn_log(root / "logs" / "conn.log", _relay_fixture())
    ingest([root / "logs"], root / "lake")
    return root / "lake"


@pytest.mark.parametrize("url", ENGINES)
def test_responder_side_records_are_not_probes(relay_lake, url):
    with connect(url, relay_lake) as engine:
        scans = get_detector("scan").find(engine, Window())
        fumbles = get_detector("fumbling").find(engine, Window())
    # the relay and the C2 never probe anyone; the witnessed inbound scan is still found
    assert [f.entity for f in scans] == ["192.0.2.99 vertical scan"]
    assert not [f.entity for f in fumbles if f.src in (RELAY, C2)]


@pytest.mark.parametrize("url", ENGINES)
def test_orientation_rule(relay_lake, url):
    from winnow.detections._orient import oriented

    with connect(url, relay_lake) as engine:
        conn = oriented(engine.table("net.conn"))
        rows = fetch(conn.filter(conn.flipped).select("uid", "src_ip", "dst_port", "history")).to_pylist()
    flipped = {r["uid"]: r for r in rows}
    assert set(flipped) == {f"R{h}_{k}" for h in range(5, 10) for k in range(40)} | {f"C{k}" for k in range(30)} | {
        "X1", "X2", "X5"}
    assert {(r["src_ip"], r["dst_port"]) for r in rows if r["uid"].startswith("R")} == {
        (f"10.0.0.{h}", 447) for h in range(5, 10)}
    assert flipped["C1"]["history"] == "dD" and flipped["X1"]["history"] == "ha"


def test_slow_scan_rate_reads_per_hour():
    from winnow.detections.scan import _pace

    assert _pace(30, 3 * 3600) == "10.0 unanswered probes/hour"
    assert _pace(12, 86400) == "12.0 unanswered probes/day"
    assert _pace(600, 60) == "600.0 unanswered probes/min"


# -- network housekeeping ---------------------------------------------------------------------------

def _dns(ts: float, uid: str, src: str, dst: str, query: str, qtype: str = "SRV") -> str:
    code = {"SRV": "33", "A": "1"}[qtype]
    return "\t".join([f"{ts:.6f}", uid, src, "53000", dst, "53" if dst == "10.0.0.53" else "5353", "udp", "1",
                      "0.001", query, "1", "C_INTERNET", code, qtype, "3", "NXDOMAIN", "F", "F", "T", "T", "0", "-",
                      "-", "F"])


def _housekeeping_fixture(folder) -> None:
    lines = _browsing(range(10, 30))
    for k in range(360):  # NTP: four pool servers in turn every 4 min, none answers
        lines.append(_conn(T0 + 240 * k, f"N{k}", "10.0.0.10", 123, f"198.51.100.{100 + k % 4}", 123, "S0", "D",
                           "udp", 48, 0, None))
    for i in range(12):  # NTP fallback list at boot
        lines.append(_conn(T0 + 3600 + i, f"NB{i}", "10.0.0.11", 123, f"203.0.113.{150 + i}", 123, "S0", "D", "udp",
                           48, 0, None))
    for i in range(25):  # SSDP searched host by host
        lines.append(_conn(T0 + 7200 + i, f"U{i}", "10.0.0.12", 50500, f"10.0.0.{100 + i}", 1900, "S0", "D", "udp",
                           120, 0, None))
    for k in range(288):  # DHCP renewals to the gateway and broadcast discovers
        lines.append(_conn(T0 + 300 * k, f"D{k}", "10.0.0.14", 68, "10.0.0.1", 67, "S0", "D", "udp", 300, 0, None))
        lines.append(_conn(T0 + 300 * k + 1, f"DB{k}", "0.0.0.0", 68, "255.255.255.255", 67, "S0", "D", "udp", 300,
                           0, None))
    lines.append(_conn(T0 + 5, "M1", "10.0.0.15", 1900, "239.255.255.250", 1900, "S0", "D", "udp", 90000, 0,
                       40000.0))
    write_conn_log(folder / "conn.log", sorted(lines))
    dns = []
    for k in range(60):  # DNS-SD and AD service lookups that find nothing
        dns.append(_dns(T0 + 700 * k, f"Q{k}", "10.0.0.13", "10.0.0.53", "_https._tcp.intranet.example"))
        dns.append(_dns(T0 + 700 * k + 1, f"L{k}", "10.0.0.13", "10.0.0.53", "_ldap._tcp.dc._msdcs.corp.example"))
        dns.append(_dns(T0 + 700 * k + 2, f"P{k}", "10.0.0.13", "224.0.0.251", "printer.local", "A"))
    write_dns_log(folder / "dns.log", dns)


@pytest.fixture(scope="module")
def housekeeping_lake(tmp_path_factory):
    return ingested_lake(tmp_path_factory, "housekeeping", _housekeeping_fixture)


# DuckDB only: every detector over the housekeeping day; the simulated lake of test_detections carries the same
# housekeeping shapes and checks every detector's findings are identical on Spark
@pytest.mark.parametrize("url", ["duckdb"])
def test_housekeeping_is_never_medium(housekeeping_lake, url):
    with connect(url, housekeeping_lake) as engine:
        found = {name: get_detector(name).find(engine, Window())
                 for name in ("scan", "fumbling", "long_conn", "rare_dest")}
    loud = [(n, f.entity, round(f.score, 3)) for n, fs in found.items() for f in fs if f.severity in ("medium", "high")]
    assert loud == []
    every = [f for fs in found.values() for f in fs]
    assert not {"255.255.255.255", "239.255.255.250", "224.0.0.251"} & {f.dst for f in every}
    # what is left of it is weighted, and says so
    weighted = [f for f in every if f.components.get("service", 1.0) < 1.0]
    assert {f.detector for f in weighted} >= {"scan", "fumbling"}
    assert all("housekeeping" in f.why or "service-discovery" in f.why for f in weighted)
    sd = [f for f in found["fumbling"] if f.evidence.get("source") == "dns"]
    assert sd and all(f.components["service"] == 0.2 and "service-discovery name" in f.why for f in sd)
    ntp = [f for f in found["scan"] if f.src == "10.0.0.11"]
    assert ntp and "NTP (udp/123) is network housekeeping (weight 0.5)" in ntp[0].why


# -- lakes with only some of a detector's inputs ----------------------------------------------------

def _spray_log() -> str:
    lines = [f"Nov  2 {8 + k // 60:02d}:{k % 60:02d}:00 web01 sshd[{100 + k}]: Failed password for invalid user "
             f"user{k} from 203.0.113.66 port {40000 + k} ssh2" for k in range(40)]
    lines += [f"Nov  2 12:{k:02d}:30 web01 sshd[{900 + k}]: Accepted password for alice from 10.0.0.5 port "
              f"{50000 + k} ssh2" for k in range(5)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def auth_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("authonly")
    (root / "logs").mkdir()
    (root / "logs" / "auth.log").write_text(_spray_log(), encoding="utf-8")
    ingest([root / "logs"], root / "lake")
    return root / "lake"


@pytest.mark.parametrize("url", ENGINES)
def test_fumbling_runs_on_failed_logons_alone(auth_lake, url):
    from winnow.store import FindingsStore

    with connect(url, auth_lake) as engine:
        assert not engine.lake.has_table("net.conn")
        runs = run_detectors(engine, ["fumbling", "scan"])
        with FindingsStore(engine.lake) as store:
            stored = store.query(["fumbling"])
    by_name = {r.detector: r for r in runs}
    assert by_name["fumbling"].skipped == "" and by_name["fumbling"].findings >= 1
    assert by_name["scan"].skipped == "none of net.conn in the lake"
    spray = stored[0]
    assert spray["src"] == "203.0.113.66" and spray["evidence"]["source"] == "auth"
    assert spray["evidence"]["failures"] == 40 and "failed 40 of 40 logons" in spray["why"]


@pytest.fixture(scope="module")
def tls_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("tlsonly")
    rare_fixture(root / "logs")
    for other in ("conn.log", "http.log"):
        (root / "logs" / other).unlink()
    ingest([root / "logs"], root / "lake")
    return root / "lake"


@pytest.mark.parametrize("url", ENGINES)
def test_rare_dest_runs_on_tls_alone(tls_lake, url):
    with connect(url, tls_lake) as engine:
        assert not engine.lake.has_table("net.conn")
        findings = get_detector("rare_dest").find(engine, Window())
    top = findings[0]
    assert top.entity == "10.0.0.7->198.51.100.66" and top.dport == 443
    assert top.evidence["tls_handshakes"] == 100 and top.evidence["connections"] == 100
    assert top.evidence["validation_status"] == "self signed certificate" and top.score >= 0.6


def test_detectors_list_every_input():
    from click.testing import CliRunner

    from winnow.cli.registry_cmd import detectors

    out = CliRunner().invoke(detectors, ["--format", "jsonl"]).output
    assert '"tables": "net.conn, net.dns, auth.logon"' in out
    assert '"tables": "net.conn, net.tls, net.http"' in out
    assert '"tables": "net.conn", "also_reads": "net.open_conn"' in out
