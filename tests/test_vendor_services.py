"""Listed vendor services (infrastructure.vendor_services): named channels, /24 neighbours, and a benign real day."""

from __future__ import annotations

import json

import pytest
from conftest import engine_params
from zeekgen import conn_line, write_conn_log

from winnow.detections import get_detector
from winnow.engine import Window, connect
from winnow.ingest import ingest

T0 = 1793577600.0  # 2026-11-02T00:00:00Z


def _ssl(ts: float, uid: str, src: str, dst: str, name: str) -> str:
    return json.dumps({"ts": ts, "uid": uid, "id.orig_h": src, "id.orig_p": 50000, "id.resp_h": dst,
                       "id.resp_p": 443, "version": "TLSv12", "cipher": "TLS_AES_128_GCM_SHA256",
                       "server_name": name, "established": True})


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """Three hosts calling home every 5 min all day: to an address with its own vendor name, to an unnamed
    address in a vendor's /24, and to an unnamed address in a /24 shared by a vendor and someone else."""
    conns, ssl = [], []
    channels = {"10.0.0.5": ("91.228.167.171", 8883), "10.0.0.6": ("203.0.113.50", 443),
                "10.0.0.7": ("198.51.100.77", 443)}
    for k in range(288):
        for src, (dst, port) in channels.items():
            uid = f"C{src[-1]}_{k}"
            conns.append(conn_line(T0 + k * 300 + int(src[-1]), uid, src, 40000 + k, dst, port, 1.0, 300, 500))
            if src == "10.0.0.6":
                ssl.append(_ssl(T0 + k * 300 + 6, uid, src, dst, "update.eset.com"))
    neighbours = [("91.228.167.10", "ts.eset.com"), ("91.228.167.11", "i4.c.eset.com"),
                  ("198.51.100.10", "ts.eset.com"), ("198.51.100.11", "shop.example.org")]
    for i, (dst, name) in enumerate(neighbours):
        conns.append(conn_line(T0 + 1000 + i, f"N{i}", "10.0.0.5", 30000 + i, dst, 443, 1.0, 300, 500))
        ssl.append(_ssl(T0 + 1000 + i, f"N{i}", "10.0.0.5", dst, name))
    root = tmp_path_factory.mktemp("vendors")
    write_conn_log(root / "logs" / "conn.log", sorted(conns))
    (root / "logs" / "ssl.log").write_text("\n".join(ssl) + "\n")
    ingest([root / "logs"], root / "lake")
    return root / "lake"


@pytest.mark.parametrize("url", engine_params())
def test_vendor_channels_are_weighted_and_say_why(lake, url):
    with connect(url, lake) as engine:
        found = {f.src: f for f in get_detector("beacon").find(engine, Window())}
    neighbour, named, shared = found["10.0.0.5"], found["10.0.0.6"], found["10.0.0.7"]
    assert neighbour.components["vendor"] == 0.5 and "of 91.228.167.0/24 serve eset.com" in neighbour.why
    assert named.components["vendor"] == 0.5 and "eset.com is a listed vendor service" in named.why
    assert "vendor" not in shared.components  # a /24 that also serves another name proves nothing
    assert shared.score > neighbour.score * 1.5


def test_an_empty_list_judges_every_destination_alike(lake):
    from winnow.config import load, use

    with use(load(sets=["infrastructure.vendor_services=[]"], env={})), connect("duckdb", lake) as engine:
        found = get_detector("beacon").find(engine, Window())
    assert found and not any("vendor" in f.components for f in found)


def test_a_benign_workstation_day_has_few_medium_findings(shared_data, tmp_path):
    """CTU-Normal-40 (Stratosphere 008): a Windows host's day of Microsoft, ESET and Dropbox telemetry; the
    labelled benign traffic must not bury an analyst (issue 10: at most 3 medium-or-higher findings)."""
    folder = shared_data / "stratosphere" / "security-datasets-for-testing" / "008-zeek-mixed"
    if not folder.is_dir():
        pytest.skip(f"{folder} not in this copy of the shared data")
    ingest([folder], tmp_path / "lake")
    medium = []
    with connect("duckdb", tmp_path / "lake") as engine:
        for name in ("beacon", "long_conn", "rare_dest", "scan", "fumbling", "dns_tunnel"):
            medium += [f.entity for f in get_detector(name).find(engine, Window()) if f.score >= 0.6]
    assert len(medium) <= 3, medium
