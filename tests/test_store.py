"""The findings store: transactional replace per detector and window, exact contract on output."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from winnow.engine import Window
from winnow.errors import WinnowError
from winnow.lake import Lake
from winnow.scoring import FINDING_FIELDS, Finding
from winnow.store import FindingsStore

DAY = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)


def finding(entity: str, score: float, detector: str = "long_conn") -> Finding:
    return Finding(detector=detector, score=score, entity=entity, first_seen=DAY, last_seen=DAY,
                   components={"duration": score}, evidence={"n": 1}, why=f"{entity} did it", src="10.0.0.1",
                   dst="192.0.2.1", dport=22)


@pytest.fixture
def store(tmp_path):
    lake = Lake.open(tmp_path / "lake", create=True)
    with FindingsStore(lake) as s:
        yield s


def test_rerun_same_window_replaces(store):
    window = Window(DAY, DAY + dt.timedelta(days=1))
    store.replace("r1", "long_conn", "duckdb", {}, window, [finding("a", 0.9), finding("b", 0.5)], 0.1)
    store.replace("r2", "long_conn", "duckdb", {}, window, [finding("a", 0.8)], 0.1)
    rows = store.query()
    assert [(r["entity"], r["score"]) for r in rows] == [("a", 0.8)]


def test_other_windows_and_detectors_are_kept(store):
    day1 = Window(DAY, DAY + dt.timedelta(days=1))
    day2 = Window(DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2))
    store.replace("r1", "long_conn", "duckdb", {}, day1, [finding("a", 0.9)], 0.1)
    store.replace("r2", "long_conn", "duckdb", {}, day2, [finding("b", 0.7)], 0.1)
    store.replace("r3", "other", "duckdb", {}, day1, [finding("c", 0.6, "other")], 0.1)
    assert store.count() == 3
    # an open window contains both days: it replaces them, not the other detector's findings
    store.replace("r4", "long_conn", "duckdb", {}, Window(), [finding("d", 0.5)], 0.1)
    assert sorted(r["entity"] for r in store.query()) == ["c", "d"]


def test_query_contract_order_filters(store):
    store.replace("r1", "long_conn", "duckdb", {}, Window(), [finding("a", 0.3), finding("b", 0.9)], 0.1)
    store.replace("r2", "other", "duckdb", {}, Window(), [finding("c", 0.6, "other")], 0.1)
    rows = store.query()
    assert [r["entity"] for r in rows] == ["b", "c", "a"]
    assert all(list(r) == list(FINDING_FIELDS) for r in rows)
    assert rows[0]["first_seen"] == "2026-11-02T00:00:00Z" and rows[0]["severity"] == "high"
    assert [r["entity"] for r in store.query(["other"])] == ["c"]
    assert len(store.query(limit=1)) == 1
    assert [r["entity"] for r in store.query(min_score=0.5)] == ["b", "c"]


def test_failed_write_rolls_back(store):
    store.replace("r1", "long_conn", "duckdb", {}, Window(), [finding("a", 0.9)], 0.1)
    with pytest.raises(Exception, match="(?i)constraint|duplicate"):
        store.replace("r1", "long_conn", "duckdb", {}, Window(), [finding("b", 0.9)], 0.1)  # duplicate run id
    assert [r["entity"] for r in store.query()] == ["a"]


def test_scores_outside_unit_interval_are_rejected():
    with pytest.raises(ValueError):
        finding("x", 1.5)


def test_a_store_another_process_holds_is_a_user_error(tmp_path):
    """``winnow findings`` while a ``winnow detect`` writes: one line saying so, not a database traceback."""
    lake = Lake.open(tmp_path / "lake", create=True)
    code = ("import sys\nfrom winnow.lake import Lake\nfrom winnow.store import FindingsStore\n"
            "store = FindingsStore(Lake.open(sys.argv[1]))\nprint('held', flush=True)\nsys.stdin.read()\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(lake.root)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for read_only in (False, True):
            with pytest.raises(WinnowError, match="findings.duckdb is in use by another process"):
                FindingsStore(lake, read_only=read_only)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    with FindingsStore(lake, read_only=True) as store:  # released with the process
        assert store.count() == 0
