"""baseline: a host's hour against its own history at that hour; sudden spikes fire, growth is followed,
a slow ramp stays out of the baseline; profiles are kept in the lake and only new days are read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import engine_params
from zeekgen import conn_line, write_conn_log

from winnow.engine import Window, connect
from winnow.ingest import ingest

START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
DAYS = 28
PEERS = [f"10.1.1.{i}" for i in range(10, 16)]


def _bytes(host: str, day: int, days: int = DAYS) -> int:
    """MB sent per busy hour by each host on ``day`` of ``days``."""
    if host == "10.1.1.20":  # sudden 40x spike on the last day
        return 40 if day == days - 1 else 1
    if host == "10.1.1.21":  # normal traffic growing 3x over two weeks (days 7-20), then steady
        return round(1 + 2 * min(1.0, max(0.0, (day - 7) / 14)), 2)
    if host == "10.1.1.22":  # exfiltration ramping up 20 % a day from day 10
        return round(1.2 ** max(0, day - 10), 2)
    return 1


def _write_logs(folder: Path, days: int = DAYS) -> None:
    """``days`` days of conn logs from 2026-10-01 (a Thursday); 8 days end on a weekday with 5 weekdays before."""
    for day in range(days):
        lines = []
        for h, host in enumerate([*PEERS, "10.1.1.20", "10.1.1.21", "10.1.1.22"]):
            for hour in (9, 10, 11, 14, 15):
                ts = (START + dt.timedelta(days=day, hours=hour, minutes=h)).timestamp()
                mb = _bytes(host, day, days)
                for c in range(4):  # four connections an hour, a quarter of the volume each
                    lines.append(conn_line(ts + c * 60, f"C{day}x{h}x{hour}x{c}", host, 50000 + c, "203.0.113.9", 443,
                                           sbytes=int(mb * 250_000), dbytes=5000))
        write_conn_log(folder / f"{START + dt.timedelta(days=day):%Y-%m-%d}" / "conn.log", lines)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("baseline")
    _write_logs(root / "logs")
    ingest([root / "logs"], root / "lake")
    return root / "lake"


def _by_day(findings: list) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in findings:
        out.setdefault(f.src, set()).add(f.entity.rsplit(" ", 1)[-1])
    return out


@pytest.mark.parametrize("engine_name", engine_params())
def test_spike_fires_growth_is_followed_and_a_ramp_stays_out(lake, engine_name) -> None:
    from winnow.detections import get_detector

    with connect(engine_name, lake) as engine:
        found = get_detector("baseline").find(engine, Window())
    days = _by_day(found)
    last = f"{START + dt.timedelta(days=DAYS - 1):%Y-%m-%d}"
    assert last in days["10.1.1.20"]  # the sudden 40x spike
    assert not any(h in days for h in PEERS)  # steady hosts: nothing
    grown = days.get("10.1.1.21", set())  # the growth may fire while it happens, not once it has settled
    assert not {d for d in grown if d >= f"{START + dt.timedelta(days=24):%Y-%m-%d}"}
    ramp = days["10.1.1.22"]  # 20 % a day: still anomalous at the end, the ramp never became normal
    assert last in ramp
    spike = next(f for f in found if f.src == "10.1.1.20" and f.entity.endswith(last))
    assert spike.severity in ("medium", "high") and "z_bytes_out" in spike.components
    assert spike.why.startswith("10.1.1.20: 40.0 MB between 09:00 and 10:00 on Wed 2026-10-28 (bytes_out); its usual "
                                "for that hour is 1.0 MB (spread 419.1 kB, 14 days); its /24 peers: 1.0 MB; z = 10.5")


def test_profiles_are_incremental(lake) -> None:
    from winnow.profiles import profiles, read_profile, update_profiles

    with connect("duckdb", lake) as engine:
        update_profiles(engine, profiles())
        again = update_profiles(engine, profiles())  # nothing new: no day is read again
    assert again["bytes_out"] == 0
    rows = read_profile(lake, "bytes_out").to_pylist()
    first = [r for r in rows if r["entity"] == "10.1.1.10" and r["hour"] == START + dt.timedelta(hours=9)]
    assert first == [{"entity": "10.1.1.10", "hour": START + dt.timedelta(hours=9), "value": 1_000_000.0}]


@pytest.mark.parametrize("engine_name", engine_params())
def test_a_new_member_of_an_asset_group_is_judged_against_its_group(tmp_path, engine_name) -> None:
    """profiles.peer_groups: a host new on the last day has no history; against its group it can be judged."""
    from winnow.config import load, use
    from winnow.detections import get_detector

    _write_logs(tmp_path / "logs")
    last = START + dt.timedelta(days=DAYS - 1)
    lines = [conn_line((last + dt.timedelta(hours=hour, minutes=c)).timestamp(), f"N{hour}x{c}", host, 40000 + c,
                       "198.51.100.7", 443, sbytes=int(mb * 250_000), dbytes=5000)
             for host, mb in (("10.1.1.30", 40), ("10.1.1.31", 1)) for hour in (9, 10) for c in range(4)]
    write_conn_log(tmp_path / "new" / "conn.log", lines)
    ingest([tmp_path / "logs", tmp_path / "new"], tmp_path / "lake")
    with connect(engine_name, tmp_path / "lake") as engine:
        alone = get_detector("baseline").find(engine, Window())
        with use(load(sets=['profiles.peer_groups=[["workstations", "10.1.1.0/24"]]'], env={})):
            grouped = get_detector("baseline").find(engine, Window())
    assert not {f.src for f in alone} & {"10.1.1.30", "10.1.1.31"}  # no history of their own: not judged
    new = [f for f in grouped if f.src == "10.1.1.30"]
    assert new and not [f for f in grouped if f.src == "10.1.1.31"]  # the ordinary newcomer stays quiet
    assert "the usual of its workstations group (it has no history of its own)" in new[0].why
    assert "its workstations peers: 1.0 MB" in new[0].why


def test_a_bad_peer_group_network_is_a_user_error_naming_the_setting(lake) -> None:
    from winnow.config import load, use
    from winnow.detections import get_detector
    from winnow.errors import WinnowError

    with use(load(sets=['profiles.peer_groups=[["kiosks", "10.0.0.0/99"]]'], env={})), \
            connect("duckdb", lake) as engine, pytest.raises(WinnowError, match="profiles.peer_groups: group 'kiosks'"):
        get_detector("baseline").find(engine, Window())
