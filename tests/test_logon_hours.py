"""baseline's interactive logons by the hour: a day worker at 03:00 fires; a shift worker taking a shift
that the other users of the same kiosk work every day does not (peers lend their hours)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import engine_params

from winnow.engine import Window, connect
from winnow.ingest import ingest
from winnow.sim.logons import Writer

START = dt.date(2026, 10, 5)  # a Monday
DAYS = 15


def _logs(folder: Path) -> None:
    w = Writer(START)
    base = dt.datetime(START.year, START.month, START.day, tzinfo=dt.UTC).timestamp()
    for day in range(DAYS):
        if (START + dt.timedelta(days=day)).weekday() >= 5:
            continue
        t = base + day * 86400
        if day < DAYS - 1:
            w.logon(t + 8.5 * 3600, "ws-1", "alice", None, 2)
            w.logon(t + 6 * 3600, "kiosk", "bob", "127.0.0.1", 2)
        else:  # the last day: alice by remote desktop at night, bob on carol's shift
            w.logon(t + 3 * 3600 + 1200, "ws-1", "alice", "10.9.9.9", 10)
            w.logon(t + 14 * 3600 + 600, "kiosk", "bob", "127.0.0.1", 2)
        w.logon(t + 14 * 3600, "kiosk", "carol", "127.0.0.1", 2)
    w.flush(folder, DAYS)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("logon-hours")
    _logs(root / "logs")
    ingest([root / "logs"], root / "lake")
    return root / "lake"


@pytest.mark.parametrize("engine_name", engine_params())
def test_night_logon_fires_and_a_peers_shift_does_not(lake, engine_name) -> None:
    from winnow.detections import get_detector

    with connect(engine_name, lake) as engine:
        found = get_detector("baseline").find(engine, Window())
    by_user = {f.user: f for f in found if f.user}
    assert set(by_user) == {"alice"}
    alice = by_user["alice"]
    assert alice.severity == "medium" and "z_interactive_logons" in alice.components
    assert alice.why.startswith("alice: 1 interactive logons between 03:00 and 04:00 on Mon 2026-10-19 "
                                "(interactive_logons); in 10 days of history none within 3 h of that hour (usual "
                                "hours 08:00–09:00)")
    hour = alice.evidence["hours"][0]
    assert hour["rare_hour"] and hour["usual_hours"] == [8]
