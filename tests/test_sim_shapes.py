"""Simulated shapes real captures have: housekeeping, responder-side and flipped Zeek records, new C2 shapes,
tiny networks (issue 10)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from tests.test_sim import read_zeek

from winnow.sim import simulate

DAY = "2026-11-02"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("shapes")
    simulate(out, hosts=60, days=1, seed=11, endpoint_share=0.0)
    conn = read_zeek(out / "zeek" / DAY / "conn.log")[2]
    dns = read_zeek(out / "zeek" / DAY / "dns.log")[2]
    return {"out": out, "conn": conn, "dns": dns, "truth": json.loads((out / "truth.json").read_text())}


def _flows(sim: dict, **match: str) -> list[dict[str, str]]:
    return [r for r in sim["conn"] if all(r[k] == v for k, v in match.items())]


def test_dhcp_boot_broadcast_and_renewals_to_the_gateway(sim: dict) -> None:
    boot = _flows(sim, **{"id.orig_h": "0.0.0.0", "id.orig_p": "68", "id.resp_h": "255.255.255.255"})
    assert boot and all(r["id.resp_p"] == "67" and r["conn_state"] == "S0" and r["history"] == "D" for r in boot)
    offers = _flows(sim, **{"id.orig_h": "10.1.0.1", "id.orig_p": "67", "id.resp_h": "255.255.255.255"})
    assert len(offers) == len(boot)
    renew = _flows(sim, **{"id.resp_h": "10.1.0.1", "id.resp_p": "67", "id.orig_p": "68"})
    assert renew and all(r["service"] == "dhcp" and r["history"] == "Dd" and r["local_resp"] == "T" for r in renew)
    dhcp = next(s for s in sim["truth"]["housekeeping"]["services"] if s["service"] == "dhcp")
    assert min(dhcp["renew_periods"]) == 300


def test_ntp_multicast_and_broadcast_housekeeping(sim: dict) -> None:
    ntp = _flows(sim, **{"id.resp_h": "10.0.0.10", "id.resp_p": "123", "id.orig_p": "123"})
    states = {r["conn_state"] for r in ntp}
    assert states == {"SF", "S0"}
    ssdp = _flows(sim, **{"id.resp_h": "239.255.255.250", "id.resp_p": "1900"})
    assert ssdp and {r["history"] for r in ssdp} == {"D"} and {r["local_resp"] for r in ssdp} == {"F"}
    assert _flows(sim, **{"id.resp_h": "224.0.0.251", "id.orig_p": "5353", "id.resp_p": "5353"})
    assert _flows(sim, **{"id.resp_h": "ff02::fb", "id.resp_p": "5353"})
    assert _flows(sim, **{"id.resp_h": "224.0.0.252", "id.resp_p": "5355"})
    nb = _flows(sim, **{"id.resp_h": "10.1.0.255", "id.resp_p": "138", "id.orig_p": "138"})
    assert nb and {r["local_resp"] for r in nb} == {"T"}
    one = sorted(float(r["ts"]) for r in nb if r["id.orig_h"] == nb[0]["id.orig_h"])
    assert abs(statistics.median(b - a for a, b in zip(one, one[1:], strict=False)) - 720) < 5


def test_dns_sd_and_ad_lookups_some_nxdomain(sim: dict) -> None:
    hk = sim["truth"]["housekeeping"]
    seen = {(r["query"], r["rcode_name"]) for r in sim["dns"]}
    for name in hk["nxdomain_names"]:
        assert (name, "NXDOMAIN") in seen, name
    assert any(n.startswith("_https._tcp.") for n in hk["nxdomain_names"])
    assert ("_ldap._tcp.dc._msdcs.corp.acme.internal", "NOERROR") in seen


def test_responder_side_records_name_the_server_as_originator(sim: dict) -> None:
    side = next(s for s in sim["truth"]["zeek_sides"] if s["kind"] == "responder_side")
    rows = _flows(sim, **{"id.orig_h": side["server"], "id.orig_p": str(side["server_port"])})
    assert rows
    for r in rows:
        assert r["conn_state"] == "OTH" and r["history"][0] in "DA" and r["id.resp_h"] in side["clients"]
        assert (r["local_orig"], r["local_resp"]) == ("F", "T")
    opened = {(r["id.orig_h"], r["id.orig_p"]) for r in _flows(sim, **{"id.resp_h": side["server"]})}
    assert {(r["id.resp_h"], r["id.resp_p"]) for r in rows} <= opened  # same sessions, seen from the server


def test_flipped_records_carry_the_caret(sim: dict) -> None:
    side = next(s for s in sim["truth"]["zeek_sides"] if s["kind"] == "flipped")
    rows = [r for r in _flows(sim, **{"id.resp_h": side["server"], "id.resp_p": "443"}) if r["conn_state"] == "OTH"]
    assert rows and all(r["history"].startswith("^") and r["id.orig_h"] in side["clients"] for r in rows)


def _shape(sim: dict, kind: str) -> tuple[dict, list[dict[str, str]]]:
    t = next(s for s in sim["truth"]["c2_shapes"] if s["kind"] == kind)
    rows = _flows(sim, **{"id.orig_h": t["src"], "id.resp_h": t["dst"], "id.resp_p": str(t["dport"])})
    assert len(rows) == t["connections"] > 0
    return t, rows


def _gaps(rows: list[dict[str, str]]) -> list[float]:
    ts = sorted(float(r["ts"]) for r in rows)
    return [b - a for a, b in zip(ts, ts[1:], strict=False)]


def test_replyless_c2_retries_every_8s_without_payload(sim: dict) -> None:
    t, rows = _shape(sim, "replyless_c2")
    assert {r["conn_state"] for r in rows} == {"S0", "REJ"}
    assert all(r["orig_bytes"] in ("0", "-") and r["resp_bytes"] in ("0", "-") for r in rows)
    assert abs(statistics.median(_gaps(rows)) - 8) < 0.3 and len(rows) > 10_000


def test_tasked_c2_has_tight_timing_and_varying_sizes(sim: dict) -> None:
    t, rows = _shape(sim, "tasked_c2")
    assert t["dport"] == 449 and len(rows) == 120
    assert all(178 <= g <= 182 for g in _gaps(rows))
    orig = [int(r["orig_bytes"]) for r in rows]
    assert statistics.pstdev(orig) / statistics.mean(orig) > 0.5
    assert any(r["resp_bytes"] == "0" for r in rows)


def test_sparse_and_burst_c2(sim: dict) -> None:
    _, rows = _shape(sim, "sparse_c2")
    assert len(rows) == 12 and 10.5 * 3600 < sum(_gaps(rows)) < 11.5 * 3600
    _, rows = _shape(sim, "burst_c2")
    assert len(rows) == 25 and sum(_gaps(rows)) < 200


def test_truth_names_every_new_item_with_its_kind(sim: dict) -> None:
    truth = sim["truth"]
    assert [s["kind"] for s in truth["c2_shapes"]] == ["replyless_c2", "tasked_c2", "sparse_c2", "burst_c2"]
    assert {s["kind"] for s in truth["zeek_sides"]} == {"responder_side", "flipped"}
    assert truth["housekeeping"]["kind"] == "housekeeping"
    planted = {(b["src"], b["dst"]) for b in truth["beacons"]}
    assert not planted & {(s["src"], s["dst"]) for s in truth["c2_shapes"]}


@pytest.mark.parametrize("hosts", [2, 3, 5])
def test_tiny_networks_simulate_ingest_and_detect(tmp_path: Path, hosts: int) -> None:
    from winnow.config import load
    from winnow.engine import connect
    from winnow.pipeline.detect import run_detectors
    from winnow.pipeline.ingest import ingest

    logs, lake = tmp_path / "logs", tmp_path / "lake"
    simulate(logs, hosts=hosts, seed=hosts, endpoint_share=0.0)
    truth = json.loads((logs / "truth.json").read_text())
    assert truth["beacons"] and len(truth["c2_shapes"]) == 4
    ingest([logs], lake)
    with connect("duckdb", lake) as engine:
        runs = list(run_detectors(engine, config=load(lake=lake)))
    assert runs


def test_tiny_network_is_deterministic(tmp_path: Path) -> None:
    for d in ("a", "b"):
        simulate(tmp_path / d, hosts=2, seed=5, endpoint_share=0.0)
    for log in ("conn", "dns", "http", "ssl"):
        rel = Path("zeek") / DAY / f"{log}.log"
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert (tmp_path / "a" / "truth.json").read_bytes() == (tmp_path / "b" / "truth.json").read_bytes()
