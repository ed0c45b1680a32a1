"""The internet's background: what outside sources do to internal hosts unanswered weighs less (both engines)."""

from __future__ import annotations

import pytest
from zeekgen import conn_line, write_conn_log

from winnow.config import load, use
from winnow.detections import get_detector
from winnow.engine import Window, connect
from winnow.ingest import ingest

T0 = 1793577600.0  # 2026-11-02T00:00:00Z


def _probe(ts: float, uid: str, src: str, dst: str, dport: int) -> str:
    """One unanswered SYN (S0) from ``src`` to ``dst:dport``."""
    return conn_line(ts, uid, src, 41000, dst, dport, duration=None, sbytes=0, dbytes=0, state="S0")


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """The same vertical scan once from outside and once from inside, and a campaign of outside knocking on :23."""
    lines = []
    for port in range(1, 41):
        lines.append(_probe(T0 + 600 + port, f"O{port}", "198.51.100.9", "10.0.0.5", port))
        lines.append(_probe(T0 + 7200 + port, f"I{port}", "10.0.0.77", "10.0.2.5", port))
    for s in range(12):
        for k in range(15):
            lines.append(_probe(T0 + 20000 + s * 900 + k * 30, f"T{s}_{k}", f"203.0.113.{s + 1}", "10.0.0.6", 23))
    root = tmp_path_factory.mktemp("background")
    write_conn_log(root / "logs" / "conn.log", lines)
    ingest([root / "logs"], root / "lake")
    return root / "lake"


def _find(lake, url: str, name: str, weight: float) -> dict[str, object]:
    with use(load(sets=[f"infrastructure.background={weight}"], env={})), connect(url, lake) as engine:
        return {f.entity: f for f in get_detector(name).find(engine, Window())}


@pytest.mark.parametrize("url", ["duckdb", "spark"])
def test_outside_scan_is_background(lake, url):
    found = _find(lake, url, "scan", 0.5)
    outside, inside = found["198.51.100.9 vertical scan"], found["10.0.0.77 vertical scan"]
    assert inside.severity in ("medium", "high") and inside.components["background"] == 1.0
    assert outside.components["background"] == 0.5
    assert outside.score == pytest.approx(inside.score * 0.5, abs=1e-5)
    assert outside.severity not in ("medium", "high")
    assert "internet's background (weight 0.5)" in outside.why
    assert outside.evidence["background_weight"] == 0.5


def test_background_weight_one_judges_outside_like_inside(lake):
    found = _find(lake, "duckdb", "scan", 1.0)
    assert found["198.51.100.9 vertical scan"].score == pytest.approx(found["10.0.0.77 vertical scan"].score, abs=1e-5)
    assert "background" not in found["198.51.100.9 vertical scan"].why


@pytest.mark.parametrize("url", ["duckdb"])  # the weighting is shared; test_outside_scan_is_background runs on Spark
def test_unanswered_campaign_from_outside_is_background(lake, url):
    weighted = _find(lake, url, "fumbling", 0.5)["*->10.0.0.6:23/tcp"]
    full = _find(lake, "duckdb", "fumbling", 1.0)["*->10.0.0.6:23/tcp"]
    assert weighted.components["background"] == 0.5 and full.components["background"] == 1.0
    assert weighted.score == pytest.approx(full.score * 0.5, abs=1e-5)
    assert "internet's background" in weighted.why
    # the inside scanner's failures (a spread) are never background
    inside = _find(lake, url, "fumbling", 0.5)["10.0.0.77 failures"]
    assert inside.components["background"] == 1.0
