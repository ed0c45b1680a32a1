"""sensor_health and winnow sensors: a host that stopped reporting, one whose volume dropped, one steady, one
that is off every weekend (its silence is nothing new)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import engine_params, ingested_lake

from winnow.engine import Window, connect

_S = {"SourceName": "Microsoft-Windows-Sysmon", "Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1,
      "ProcessGuid": "{p}", "ProcessId": "42", "Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "cmd"}


def write_feed(folder: Path, start: dt.datetime, plan: dict[str, list[int]]) -> None:
    """Sysmon JSON lines: per host, per day from ``start``, that many events spread over the day."""
    lines = []
    for host, per_day in plan.items():
        for day, n in enumerate(per_day):
            for i in range(n):
                t = start + dt.timedelta(days=day, minutes=i * 1440 // n)
                lines.append({**_S, "Computer": host, "UtcTime": f"{t:%Y-%m-%d %H:%M:%S}.000",
                              "TimeCreated": f"{t:%Y-%m-%dT%H:%M:%S}Z"})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sysmon.json").write_text("".join(json.dumps(e) + "\n" for e in lines))


PLAN = {"WS1": [72] * 10, "WS2": [72] * 9 + [6], "WS3": [72] * 8 + [0, 0]}
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    return ingested_lake(tmp_path_factory, "sensor-health", lambda d: write_feed(d, START, PLAN))


def test_a_silence_like_earlier_ones_is_no_news(tmp_path) -> None:
    from winnow.detections import get_detector
    from winnow.ingest import ingest

    weekends = [72, 72, 72, 72, 72, 0, 0] * 2  # off every weekend, two weeks: the second weekend is routine
    write_feed(tmp_path / "logs", START, {"WS4": weekends, "WS5": [72] * 14})
    ingest([tmp_path / "logs"], tmp_path / "lake")
    with connect("duckdb", tmp_path / "lake") as engine:
        assert get_detector("sensor_health").find(engine, Window()) == []


@pytest.mark.parametrize("engine_name", engine_params())
def test_silent_and_dropped_hosts(lake, engine_name) -> None:
    from winnow.detections import get_detector

    with connect(engine_name, lake) as engine:
        found = {f.entity: f for f in get_detector("sensor_health").find(engine, Window())}
    assert sorted(found) == ["WS2 windows_json dropped", "WS3 windows_json silent"]
    silent = found["WS3 windows_json silent"]
    # its usual rates per hour of the day (periods counted back from 23:40, so whole hours are approximate)
    assert silent.host == "WS3" and silent.severity == "high" and silent.evidence["expected"] == pytest.approx(72, 0.05)
    assert silent.evidence["expected_in_silence"] == pytest.approx(144, 0.05)
    assert silent.why.startswith("WS3 (windows_json) sent nothing for 48.0 h before the feed's newest event (last seen "
                                 "2024-01-08 23:40 UTC), 49 of them hours it usually reports in, where its usual is ")
    assert silent.why.endswith(" events, after reporting in 8 periods of 24 h")
    dropped = found["WS2 windows_json dropped"]
    assert dropped.severity == "medium" and dropped.components["share"] == pytest.approx(6 / 72, 0.05)


def test_thresholds_are_settings(lake) -> None:
    from winnow.detections import get_detector

    with connect("duckdb", lake) as engine:  # 60 h of silence needed, drops below 5 %: WS2's 8 % is no drop
        found = get_detector("sensor_health", silence_hours=60.0, drop_ratio=0.05).find(engine, Window())
    assert [f.entity for f in found] == ["WS3 windows_json dropped"]  # 48 h of nothing is still 0 of 72


def test_winnow_sensors_names_the_silent_host_first(lake) -> None:
    from winnow.cli.main import cli

    result = CliRunner().invoke(cli, ["sensors", "--lake", str(lake), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["reporter"], r["state"]) for r in rows] == [("WS3", "silent"), ("WS2", "dropped")]
    assert rows[0]["last_seen"].startswith("2024-01-08 23:40")
    every = CliRunner().invoke(cli, ["sensors", "--lake", str(lake), "--format", "jsonl", "--all"])
    states = {json.loads(line)["reporter"]: json.loads(line)["state"] for line in every.output.splitlines()}
    assert states == {"WS1": "ok", "WS2": "dropped", "WS3": "silent", "(whole feed)": "ok"}


def _clock_days(skews: list[float | None], lost: int = 0) -> list[dict]:
    start = dt.date(2026, 11, 2)
    days = [{"day": start + dt.timedelta(days=i), "total": 1000, "matches": 950 if s is not None else 0, "skew": s,
             "last": dt.datetime(2026, 11, 2, tzinfo=dt.UTC) + dt.timedelta(days=i, hours=20)}
            for i, s in enumerate(skews)]
    for k in range(lost):  # days whose connections no longer match (a few stray pairs at most)
        day = start + dt.timedelta(days=len(skews) + k)
        days.append({"day": day, "total": 3000, "matches": 40, "skew": -100.0 + 30 * k,
                     "last": dt.datetime(day.year, day.month, day.day, 20, tzinfo=dt.UTC)})
    return days


def test_a_drifting_clock_is_named_with_its_rate_and_the_days_it_stopped_matching() -> None:
    from winnow.detections import get_detector

    detector = get_detector("sensor_health")
    drifting = detector._clock(_clock_days([0.7, 0.6, 0.8, 0.7, 0.7, 30.8, 91.8], lost=4))
    assert drifting["state"] == "clock off" and drifting["drift_s_per_day"] == 45.5
    assert drifting["measured_on"] == "2026-11-08" and drifting["unmatched_since"] == "2026-11-09"
    steady = detector._clock(_clock_days([0.7, 1.9, -0.4, 1.2, 0.3, 1.6, 0.9]))
    assert steady["state"] == "ok" and steady["drift_s_per_day"] is None
    wobbly = detector._clock(_clock_days([0.7, 5.0, 12.0, 19.0]))  # growing, but never 20 s a day
    assert wobbly["state"] == "ok"
    far = detector._clock(_clock_days([300.2, 300.4, 300.1]))  # constantly five minutes ahead: off, not drifting
    assert far["state"] == "clock off" and far["drift_s_per_day"] is None and far["skew_s"] == 300.1
