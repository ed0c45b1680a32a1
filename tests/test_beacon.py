"""Beacon detector: known answers on a fixture (both engines), real RITA data, a seeded simulation."""

from __future__ import annotations

import json
import random

import pytest
from zeekgen import conn_line, write_conn_log

from winnow.detections import get_detector
from winnow.engine import Window, connect
from winnow.ingest import ingest

T0 = 1793577600.0  # 2026-11-02T00:00:00Z


def beacon_fixture(folder):
    rng = random.Random(5)
    lines, t, i = [], T0, 0
    while t < T0 + 6 * 3600:  # a 90 s beacon with ±30 % jitter and 20 % missed callbacks
        if rng.random() > 0.2:
            lines.append(conn_line(t, f"CB{i}", "10.0.0.66", 40000 + i % 1000, "203.0.113.66", 443, 0.2, 400, 900))
        t += 90 * (1 + rng.uniform(-0.3, 0.3))
        i += 1
    for j in range(400):  # bursty human browsing from several hosts to several sites
        t = T0 + rng.expovariate(1 / 60.0) * j
        lines.append(conn_line(t, f"CH{j}", f"10.0.0.{10 + j % 5}", 50000 + j, f"198.51.100.{j % 4}", 443, 1.0,
                               rng.randint(300, 5000), rng.randint(1000, 900000)))
    lines.sort()
    return write_conn_log(folder / "conn.log", lines)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("beacon")
    beacon_fixture(root / "logs")
    ingest([root / "logs"], root / "lake")
    return root / "lake"


@pytest.mark.parametrize("url", ["duckdb", "spark"])
def test_fixture_beacon_is_top_with_its_period(lake, url):
    with connect(url, lake) as engine:
        findings = get_detector("beacon").find(engine, Window())
    top = findings[0]
    assert (top.src, top.dst, top.dport) == ("10.0.0.66", "203.0.113.66", 443)
    assert abs(top.evidence["period_s"] - 90) <= 0.1 * 90
    assert top.evidence["hosts_contacting_dst"] == 1 and top.components["prevalence"] == 1.0
    assert set(top.components) >= {"timing", "size", "persistence", "prevalence"}
    assert "every" in top.why and "no other host" in top.why
    assert all(f.score < top.score for f in findings[1:])


@pytest.fixture(scope="module")
def rita_lake(shared_data, tmp_path_factory):
    lake = tmp_path_factory.mktemp("rita") / "lake"
    ingest([shared_data / "rita-zeek-beacon" / "missing_host"], lake)
    return lake


def test_rita_missing_host_beacon_is_top(rita_lake):
    with connect("duckdb", rita_lake) as engine:
        findings = get_detector("beacon").find(engine, Window())
    top = findings[0]
    assert (top.src, top.dst, top.dport) == ("73.54.23.243", "64.225.56.201", 80)
    assert abs(top.evidence["period_s"] - 270) <= 0.15 * 270
    assert top.evidence["connections"] >= 950


def test_simulated_beacons_rank_above_every_benign_channel(tmp_path):
    from winnow.sim import simulate

    simulate(tmp_path / "logs", hosts=120, days=1, seed=11)
    ingest([tmp_path / "logs"], tmp_path / "lake")
    truth = json.loads((tmp_path / "logs" / "truth.json").read_text())
    planted = {(b["src"], b["dst"]): b["period"] for b in truth["beacons"]}
    neutral = {(b["src"], b["dst"]) for b in truth["rare_benign_periodic"] + truth["fumblers"]}
    with connect("duckdb", tmp_path / "lake") as engine:
        findings = get_detector("beacon").find(engine, Window())
    ranked = [(f.src, f.dst) for f in findings if (f.src, f.dst) not in neutral]
    assert set(ranked[: len(planted)]) == set(planted), "every planted beacon outranks every benign channel"
    periods = {(f.src, f.dst): f.evidence["period_s"] for f in findings}
    close = [abs(periods[k] - p) <= 0.15 * p for k, p in planted.items()]
    assert sum(close) >= len(planted) - 1


def test_rita_missing_host_open_ssh_session_is_the_top_long_connection(rita_lake):
    """The SSH session open for the whole capture is only in open_conn (it never closed)."""
    with connect("duckdb", rita_lake) as engine:
        findings = get_detector("long_conn").find(engine, Window())
    top = findings[0]
    assert (top.src, top.dst, top.dport) == ("73.54.23.243", "64.225.56.201", 22)
    assert top.evidence["still_open"] == 1 and top.evidence["longest_s"] > 260_000
    assert "never closed" in top.why


_NAME_LOGS = {
    "ssl": ("#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tversion\tserver_name\testablished",
            "#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tstring\tbool", ["TLSv13", "{name}", "T"]),
    "http": ("#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\ttrans_depth\tmethod\thost\turi",
             "#types\ttime\tstring\taddr\tport\taddr\tport\tcount\tstring\tstring\tstring",
             ["1", "GET", "{name}", "/poll"]),
}


@pytest.mark.parametrize("log", sorted(_NAME_LOGS))
def test_cdn_fronted_beacon_is_one_channel_by_server_name(tmp_path, log):
    """A C2 behind a CDN rotates over addresses; per address it is weak, per TLS name / HTTP Host it beacons."""
    from zeekgen import write_conn_log

    rng = random.Random(9)
    conn, named, t, i = [], [], T0, 0
    edges = [f"198.51.100.{n}" for n in (10, 11, 12, 13, 14, 15)]
    fields, types, tail = _NAME_LOGS[log]
    port = 443 if log == "ssl" else 80
    while t < T0 + 8 * 3600:
        dst = rng.choice(edges)
        conn.append(conn_line(t, f"CF{i}", "10.0.0.77", 41000 + i, dst, port, 0.3, 512, 1400, service=log))
        named.append("\t".join([f"{t:.6f}", f"CF{i}", "10.0.0.77", str(41000 + i), dst, str(port)]
                               + [x.format(name="cdn-c2.example.net") for x in tail]))
        t += 300 * (1 + rng.uniform(-0.1, 0.1))
        i += 1
    write_conn_log(tmp_path / "logs" / "conn.log", conn)
    header = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-",
              f"#path\t{log}", fields, types]
    (tmp_path / "logs" / f"{log}.log").write_text("\n".join(header + named) + "\n")
    ingest([tmp_path / "logs"], tmp_path / "lake")
    with connect("duckdb", tmp_path / "lake") as engine:
        findings = get_detector("beacon").find(engine, Window())
    top = findings[0]
    assert top.entity == f"10.0.0.77->cdn-c2.example.net:{port}" and top.evidence["channel"] == "name"
    assert top.evidence["server_name"] == "cdn-c2.example.net"
    assert top.evidence["addresses"] == 6 and top.dst in {e for e in [f"198.51.100.{n}" for n in range(10, 16)]}
    assert abs(top.evidence["period_s"] - 300) <= 0.1 * 300 and "through 6 addresses" in top.why
