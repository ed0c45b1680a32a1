"""The behaviour plants of the baselines' month: each in the logs in the logs' own formats, with its truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from winnow.ingest import ingest
from winnow.sim import simulate
from winnow.sim.behaviour import KINDS, plant


@pytest.fixture(scope="module")
def month(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("behaviour")
    simulate(out, hosts=12, days=20, seed=4, logons=True)
    return out, plant(out, seed=4)


def test_every_kind_is_planted_after_the_quiet_days_and_parses(month, tmp_path) -> None:
    out, truth = month
    assert [p["kind"] for p in truth["planted"]] == list(KINDS)
    assert all(p["day"] >= 14 - 7 for p in truth["planted"]) and json.loads((out / "behaviour_truth.json").read_text())
    planted = sorted(out.rglob("*.planted.*"))
    assert {p.name for p in planted} == {"conn.planted.log", "sysmon.planted.json", "security_logons.planted.json"}
    report = ingest(planted, tmp_path / "lake")
    assert all(f.status == "ingested" and f.warnings == 0 for f in report.files)
    rows = report.totals()
    assert rows["net.conn"] == 12 and rows["proc.exec"] == 3
    wanderer = next(p for p in truth["planted"] if p["kind"] == "new_hosts_logons")
    # the night logons, the wanderer's logons with their special privileges (4672), the new account (4720)
    assert rows["auth.logon"] == 3 + 2 * len(wanderer["hosts"]) + 1


def test_silence_drop_and_drift_rewrite_the_hosts_own_lines(month) -> None:
    out, truth = month
    by_kind = {p["kind"]: p for p in truth["planted"]}
    silent, drift = by_kind["silent_endpoint"], by_kind["clock_drift"]
    last = sorted((out / "endpoint").iterdir())[-1]
    sysmon = (last / "sysmon.json").read_text()
    assert f'"computer_name":"{silent["key"]}"' not in sysmon  # the silent endpoint's last day is gone
    shifted = [json.loads(line) for line in sysmon.splitlines() if f'"computer_name":"{drift["key"]}"' in line]
    assert shifted
    event = shifted[0]["winlog"]["event_data"]
    assert event["UtcTime"][:10] >= last.name  # times moved ahead, not back
    dropped = by_kind["feed_drop"]
    audit = (last / "audit.log").read_text().splitlines()
    mine = [line for line in audit if line.startswith(f"node={dropped['key']} ")]
    serials = {line.split("msg=audit(", 1)[1].split(")", 1)[0].rsplit(":", 1)[1] for line in mine}
    assert mine and all(int(s) % 10 == 0 for s in serials)
