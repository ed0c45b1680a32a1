"""Failed logons (auth.logon) are a fumbling source: SSH brute force from Zeek ssh.log on real data."""

from __future__ import annotations

import pytest

from winnow.detections import get_detector
from winnow.engine import Window, connect
from winnow.ingest import ingest


@pytest.fixture(scope="module")
def missing_host_lake(shared_data, tmp_path_factory):
    lake = tmp_path_factory.mktemp("mh") / "lake"
    day = shared_data / "rita-zeek-beacon" / "missing_host" / "2024-04-19"
    ingest(sorted(day.glob("ssh.*.log.gz")) + sorted(day.glob("conn.*.log.gz")), lake)
    return lake


def test_failed_ssh_logons_are_fumbling_retries(missing_host_lake):
    with connect("duckdb", missing_host_lake) as engine:
        findings = get_detector("fumbling").find(engine, Window())
    auth = [f for f in findings if f.evidence.get("source") == "auth"]
    assert auth, "failed ssh logons produced no fumbling finding"
    top = auth[0]
    assert top.dst == "64.225.56.201" and top.dport == 22 and top.evidence["kind"] == "retry"
    assert top.evidence["failures"] >= 10 and "logons to 64.225.56.201:22" in top.why
    # every auth finding is a failed-logon pair with the majority of its logons failing
    assert all(f.evidence["failure_ratio"] >= 0.5 for f in auth)
