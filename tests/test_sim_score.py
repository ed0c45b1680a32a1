"""`winnow.sim.score_network`: the C2 shapes as beacon truth, benign hits on housekeeping and side records."""

from __future__ import annotations

from winnow.sim.score_network import benign_hits, scoring_truth, shape_ranks

TRUTH = {
    "servers": {"dc01": "10.0.0.10"},
    "beacons": [{"src": "10.1.0.10", "dst": "1.2.3.4", "period": 60}],
    "rare_benign_periodic": [],
    "fumblers": [],
    "c2_shapes": [{"src": "10.1.0.11", "dst": "5.6.7.8", "kind": "tasked_c2", "period": 180.0},
                  {"src": "10.1.0.12", "dst": "9.9.9.9", "kind": "replyless_c2", "period": 8.0}],
    "housekeeping": {
        "services": [{"service": "dhcp", "dport": 67, "dst": ["255.255.255.255", "10.1.0.1"]},
                     {"service": "ntp", "dport": 123, "dst": ["10.0.0.10"]}],
        "dns_names": ["_https._tcp.corp.acme.internal"],
    },
    "zeek_sides": [{"kind": "responder_side", "server": "7.7.7.7"}],
}


def _f(detector: str, src: str, dst: str, score: float, severity: str = "high", dport: int | None = None) -> dict:
    return {"detector": detector, "src": src, "dst": dst, "score": score, "severity": severity, "dport": dport}


def test_shapes_are_positive_or_neutral() -> None:
    pos = scoring_truth(TRUTH, shapes_positive=True)
    assert len(pos["beacons"]) == 3 and not pos["rare_benign_periodic"]
    neutral = scoring_truth(TRUTH, shapes_positive=False)
    assert len(neutral["beacons"]) == 1 and len(neutral["rare_benign_periodic"]) == 2
    assert len(TRUTH["beacons"]) == 1  # the input is not changed


def test_shape_ranks() -> None:
    findings = [_f("beacon", "10.1.0.10", "1.2.3.4", 0.9), _f("beacon", "10.1.0.20", "8.8.8.8", 0.8),
                _f("beacon", "10.1.0.11", "5.6.7.8", 0.7), _f("fumbling", "10.1.0.12", "9.9.9.9", 0.9)]
    ranks = shape_ranks(TRUTH, findings)
    assert ranks["tasked_c2"]["beacon_rank"] == 3
    assert ranks["replyless_c2"]["beacon_rank"] is None and ranks["replyless_c2"]["detectors"] == ["fumbling"]


def test_benign_hits() -> None:
    findings = [
        _f("beacon", "0.0.0.0", "255.255.255.255", 0.7, "medium", 67),
        _f("fumbling", "10.1.0.5", "10.0.0.10", 0.8, "high", 123),
        _f("scan", "10.1.0.5", "10.0.0.10", 0.9, "high"),  # a scan of the DC is not housekeeping
        _f("dns_rare", "10.1.0.5", "corp.acme.internal", 0.6, "medium"),
        _f("beacon", "10.1.0.1", "255.255.255.255", 0.3, "low", 68),  # low: not counted
        _f("scan", "7.7.7.7", "10.1.0.9", 0.9, "high"),
    ]
    hits = benign_hits(TRUTH, findings)
    assert hits["housekeeping_medium_plus"] == 3
    assert hits["housekeeping_by_detector"] == {"beacon": 1, "dns_rare": 1, "fumbling": 1}
    assert hits["side_records_medium_plus"] == 1
