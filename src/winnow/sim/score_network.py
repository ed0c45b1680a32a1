"""Score findings against a simulation's truth for the shapes the shared scorer does not know.

The shared scorer (`shared/eval/score_network.py`) reads `beacons` as positives and
`rare_benign_periodic` and `fumblers` as neutral. `scoring_truth` gives it two views of one truth:

    * classic: the planted C2 shapes are neutral, so the figures compare with earlier runs;
    * shapes: the planted C2 shapes (`c2_shapes`: replyless, tasked, sparse, burst) are positives.

`shape_ranks` says where each C2 shape landed among beacon findings; `benign_hits` counts findings
of medium or higher severity on housekeeping (DHCP, NTP, SSDP, mDNS, LLMNR, NetBIOS, DNS-SD/AD names)
and on the remote servers of responder-side and flipped Zeek records.
"""

from __future__ import annotations

import copy
from collections import Counter

SERIOUS = {"medium", "high", "critical"}


def scoring_truth(truth: dict, shapes_positive: bool) -> dict:
    """A copy of `truth` in the shared scorer's format, with the C2 shapes positive or neutral."""
    out = copy.deepcopy(truth)
    shapes = [{**s, "period": float(s["period"])} for s in truth.get("c2_shapes", [])]
    key = "beacons" if shapes_positive else "rare_benign_periodic"
    out[key] = [*out.get(key, []), *shapes]
    return out


def _beacon_pairs(findings: list[dict], neutral: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, dict]]:
    """First (best-scored) beacon finding of each (src, dst) pair and its rank among non-neutral pairs."""
    rows = [f for f in findings if "beacon" in str(f.get("detector", ""))]
    rows.sort(key=lambda f: -float(f.get("score") or 0))
    out: dict[tuple[str, str], tuple[int, dict]] = {}
    rank = 0
    for f in rows:
        key = (str(f.get("src")), str(f.get("dst")))
        if key in out:
            continue
        if key not in neutral:
            rank += 1
        out[key] = (rank, f)
    return out


def shape_ranks(truth: dict, findings: list[dict]) -> dict[str, dict]:
    """Per C2 shape: its beacon rank (None when not reported), score, severity, and which detectors saw it."""
    neutral = {(b["src"], b["dst"]) for b in truth.get("rare_benign_periodic", []) + truth.get("fumblers", [])}
    pairs = _beacon_pairs(findings, neutral)
    out = {}
    for s in truth.get("c2_shapes", []):
        key = (s["src"], s["dst"])
        rank, f = pairs.get(key, (None, {}))
        seen = sorted({str(x.get("detector")) for x in findings if (str(x.get("src")), str(x.get("dst"))) == key})
        out[s["kind"]] = {"beacon_rank": rank, "score": f.get("score"), "severity": f.get("severity"),
                          "period_s": (f.get("evidence") or {}).get("period_s"), "detectors": seen}
    return out


def _housekeeping_match(truth: dict) -> tuple[set[str], set[tuple[str, int]], set[str]]:
    servers = set(truth.get("servers", {}).values())
    anywhere: set[str] = {"0.0.0.0"}
    by_port: set[tuple[str, int]] = set()
    hk = truth.get("housekeeping", {})
    for svc in hk.get("services", []):
        ports = svc["dport"] if isinstance(svc["dport"], list) else [svc["dport"]]
        for dst in svc["dst"]:
            if dst in servers:  # a server does more than housekeeping: only its housekeeping port counts
                by_port.update((dst, int(p)) for p in ports)
            else:
                anywhere.add(dst)
    names = set(hk.get("dns_names", []))
    return anywhere, by_port, names


def benign_hits(truth: dict, findings: list[dict]) -> dict:
    """Findings of medium or higher severity on housekeeping or on responder-side/flipped sessions."""
    anywhere, by_port, names = _housekeeping_match(truth)
    side_servers = {s["server"] for s in truth.get("zeek_sides", [])}
    hk: Counter[str] = Counter()
    side: Counter[str] = Counter()
    for f in findings:
        if str(f.get("severity")) not in SERIOUS:
            continue
        src, dst, dport = str(f.get("src")), str(f.get("dst")), f.get("dport")
        name_hit = any(dst == n or n.endswith("." + dst) for n in names) and "." in dst and not dst[0].isdigit()
        if src in anywhere or dst in anywhere or (dst, dport) in by_port or name_hit:
            hk[str(f.get("detector"))] += 1
        elif src in side_servers or dst in side_servers:
            side[str(f.get("detector"))] += 1
    return {"housekeeping_medium_plus": sum(hk.values()), "housekeeping_by_detector": dict(sorted(hk.items())),
            "side_records_medium_plus": sum(side.values()), "side_by_detector": dict(sorted(side.items()))}
