"""Scans: one source probing many hosts on a port (horizontal) or many ports on a host (vertical).

A sequential hypothesis test in the style of Threshold Random Walk (Jung et al., 2004). Every
*first contact* of a source with a new target is a Bernoulli trial: success when the target
answered (see ``_outcome.answered``), failure when it did not. A benign host's first contacts
succeed with probability ``theta0``, a scanner's with ``theta1``; each trial moves the log
likelihood ratio by log(theta1/theta0) on success and log((1-theta1)/(1-theta0)) on failure, and
the source is flagged when it reaches log((1-beta)/alpha). The walk restarts at 0 whenever the
evidence favours a benign host (the CUSUM form of the test), so a morning of ordinary browsing
cannot hide an afternoon scan.

Two walks run over the same first contacts, each per source and in time order:
  * horizontal: per (src, dst port, proto), the trials are the new hosts probed on that port;
  * vertical:   per (src, dst host), the trials are the new ports probed on that host.
A slow scan is either kind spread over hours; it is reported with its pace. Durations and rates
are measured over the unanswered probes, which is where a scan shows.
A walk is also flagged by breadth when it reached ``min_targets`` targets with at least
``min_failure_ratio`` of them unanswered, which catches scanners that hit many live services.

Everything up to one summary row per flagged walk runs in the engine: pairs are aggregated,
walks with too few failures are dropped, the walk itself is a cumulative sum and a cumulative
minimum over integer steps (milli-nats), so both engines compute exactly the same numbers.
Findings are one per source and kind; scores combine the walk's peak, the breadth and the
share of unanswered probes. No fleet count enters the score; the evidence says whether the
scanner is one of ours (``src_internal``, by ``_networks.is_internal``): an internal host
scanning is lateral movement, an outside one the internet's background, whose score is multiplied by
``infrastructure.background`` (component ``background``).

Connections are counted from the side that opened them (``_orient``): a server whose replies Zeek
wrote as its own connections (missed handshake) probes nobody. Housekeeping destinations
(``infrastructure.addresses``) are no targets, and a walk on infrastructure services (NTP, DHCP,
SSDP... in ``infrastructure.services``) has its score multiplied by their weight (component
``service``; one ordinary service among the probed ones weighs 1). The pace reads per minute,
hour or day, whichever shows at least one unanswered probe.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from winnow.detections._infrastructure import (
    background_weight,
    is_housekeeping_address,
    service_key,
    service_label,
    services,
)
from winnow.detections._networks import is_internal
from winnow.detections._orient import EPHEMERAL, oriented
from winnow.detections._outcome import answered, as_int, initiated
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding, render

# UDP to ephemeral ports (``_orient.EPHEMERAL`` and up) is left out: one-way answers to a broadcast
# query and traceroute probes land there, and both look like a vertical scan of the host they reach
SCALE = 1000  # walk steps in milli-nats, integers so both engines sum exactly
KINDS = {
    # kind: (walk key, what one trial is keyed by, tie-break order after first_ts)
    "horizontal": (("src_ip", "dport", "proto"), ("dst_ip",), ("dst_ip",)),
    "vertical": (("src_ip", "dst_ip"), ("dport", "proto"), ("dport", "proto")),
}


@register
class Scan(Detector):
    """Args:
    theta0: probability that a benign host's first contact with a new target is answered.
    theta1: the same probability for a scanner.
    alpha: false-alarm probability accepted by the sequential test.
    beta: miss probability accepted by the sequential test; a walk is flagged at log((1 - beta) / alpha).
    min_targets: targets in one walk (hosts on a port, ports on a host) that flag it by breadth alone.
    min_failure_ratio: share of unanswered first contacts a walk needs to be flagged by breadth.
    full_targets: targets at which the breadth sub-score reaches 1.
    slow_span: seconds from first to last unanswered probe from which a scan is reported as slow.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "scan"
    description: ClassVar[str] = "horizontal, vertical and slow scans by a sequential test on first contacts"
    tables: ClassVar[tuple[str, ...]] = ("net.conn",)

    def __init__(self, theta0: float = 0.8, theta1: float = 0.2, alpha: float = 0.01, beta: float = 0.01,
                 min_targets: int = 20, min_failure_ratio: float = 0.25, full_targets: int = 256,
                 slow_span: float = 3600.0, limit: int = 500) -> None:
        self.theta0 = theta0
        self.theta1 = theta1
        self.alpha = alpha
        self.beta = beta
        self.min_targets = min_targets
        self.min_failure_ratio = min_failure_ratio
        self.full_targets = full_targets
        self.slow_span = slow_span
        self.limit = limit

    # -- the test -------------------------------------------------------------------------
    @property
    def steps(self) -> tuple[int, int, int]:
        """(success step, failure step, threshold) of the walk in milli-nats."""
        success = round(SCALE * math.log(self.theta1 / self.theta0))
        failure = round(SCALE * math.log((1 - self.theta1) / (1 - self.theta0)))
        threshold = math.ceil(SCALE * math.log((1 - self.beta) / self.alpha))
        return success, failure, threshold

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        conn = engine.table("net.conn", window)
        if conn is None:
            return []
        conn = oriented(conn)  # responder-side records counted from the side that opened them
        pairs = first_contacts(conn)
        flagged = ibis.union(*(self.walks(pairs, kind) for kind in KINDS), distinct=False)
        rows = fetch(flagged.order_by(["src_ip", "kind", "dst_ip", "dport", "proto"])).to_pylist()
        by_source: dict[tuple[str, str], list[dict]] = {}
        for r in rows:
            by_source.setdefault((r["src_ip"], r["kind"]), []).append(r)
        internal = self._internal(conn, sorted({src for src, _ in by_source}))
        findings = [self._finding(kind, src, walks, internal[src]) for (src, kind), walks in by_source.items()]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    @staticmethod
    def _internal(conn: ir.Table, sources: list[str]) -> dict[str, bool]:
        """Whether each of ``sources`` is internal: believed flags (``conn`` is oriented), else the networks."""
        if not sources:
            return {}
        mine = conn.filter(conn.src_ip.isin(sources))
        per = mine.group_by("src_ip").aggregate(local=mine.local_orig.any())
        per = per.select("src_ip", internal=is_internal(per.src_ip, per.local))
        return {r["src_ip"]: bool(r["internal"]) for r in fetch(per).to_pylist()}

    def walks(self, pairs: ir.Table, kind: str) -> ir.Table:
        """One summary row per flagged walk of ``kind`` (the same columns for every kind)."""
        key, target, order = KINDS[kind]
        success, failure, threshold = self.steps
        need = min(math.ceil(threshold / failure), math.ceil(self.min_failure_ratio * self.min_targets))
        groups = pairs.group_by(list(key)).aggregate(fails=(1 - pairs.ok).sum())
        groups = groups.filter(groups.fails >= max(1, need)).select(*key)
        trials = pairs.semi_join(groups, list(key))
        ordered = ibis.window(group_by=list(key), order_by=["first_ts", *order])
        cumulative = ibis.window(group_by=list(key), order_by=["first_ts", *order], rows=(None, 0))
        trials = trials.mutate(
            i=(ibis.row_number().over(ordered) + 1).cast("int64"),
            cf=(1 - trials.ok).sum().over(cumulative).cast("int64"),
        )
        trials = trials.mutate(llr=trials.cf * failure + (trials.i - trials.cf) * success)
        trials = trials.mutate(low=trials.llr.min().over(cumulative))
        trials = trials.mutate(walk=trials.llr - ibis.least(trials.low, 0))
        target_col = trials[target[0]]
        failed_at = ibis.ifelse(trials.ok == 0, trials.first_ts, ibis.null(trials.first_ts.type()))
        summary = trials.group_by(list(key)).aggregate(
            n=trials.count(),
            fails=(1 - trials.ok).sum(),
            peak=trials.walk.max(),
            detect_at=ibis.ifelse(trials.walk >= threshold, trials.i, ibis.null("int64")).min(),
            first_seen=failed_at.min(),
            last_seen=failed_at.max(),
            targets=target_col.collect(),
        )
        permille = round(1000 * self.min_failure_ratio)  # integer comparison: exact on every engine
        by_breadth = (summary.n >= self.min_targets) & (summary.fails * 1000 >= summary.n * permille)
        summary = summary.filter(summary.detect_at.notnull() | by_breadth)
        return summary.select(
            "src_ip",
            kind=ibis.literal(kind),
            dst_ip=summary.dst_ip if "dst_ip" in key else ibis.null("string"),
            dport=summary.dport if "dport" in key else ibis.null("int32"),
            proto=summary.proto if "proto" in key else ibis.null("string"),
            n=summary.n.cast("int64"), fails=summary.fails.cast("int64"), peak=summary.peak.cast("int64"),
            detect_at=summary.detect_at.cast("int64"),
            first_seen=summary.first_seen, last_seen=summary.last_seen,
            targets=summary.targets.map(lambda t: t.cast("string")),
        )

    # -- findings -------------------------------------------------------------------------
    def _finding(self, kind: str, src: str, walks: list[dict], internal: bool) -> Finding:
        _, _, threshold = self.steps
        walks.sort(key=lambda w: (-w["n"], str(w.get("dst_ip")), str(w.get("dport")), str(w.get("proto"))))
        probes = sum(w["n"] for w in walks)
        fails = sum(w["fails"] for w in walks)
        peak = max(w["peak"] for w in walks) / SCALE
        detects = [w["detect_at"] for w in walks if w["detect_at"] is not None]
        first = min(w["first_seen"] for w in walks)
        last = max(w["last_seen"] for w in walks)
        span = (last - first).total_seconds()
        rate = fails / max(span, 1.0) * 60.0
        weights = services()
        if kind == "horizontal":
            hosts = len({t for w in walks for t in w["targets"]})
            probed = [(_service(w["dport"], w["proto"]), w["n"]) for w in walks]
            ports, breadth_n = len(probed), hosts
            # one ordinary service among the probed ones makes it a scan at full weight
            service = max(weights.get(service_key(w["proto"], w["dport"]), 1.0) for w in walks)
            label = service_label(walks[0]["proto"], walks[0]["dport"]) if len(walks) == 1 else ""
        else:
            targets = {int(t) for w in walks for t in w["targets"]}
            ports = len(targets)
            probed = []
            hosts, breadth_n = len(walks), ports
            service = max(weights.get(service_key(p, t), 1.0) for t in targets for p in ("tcp", "udp"))
            label = ""
        failure = fails / probes
        llr_score = 1.0 - math.exp(-peak / (2 * threshold / SCALE))
        breadth = min(1.0, math.log(max(breadth_n, 1)) / math.log(self.full_targets))
        background = 1.0 if internal else background_weight()
        score = min(1.0, 0.4 * llr_score + 0.3 * breadth + 0.3 * failure) * service * background
        pace = "slow" if span >= self.slow_span else "fast"
        evidence: dict[str, Any] = {
            "kind": kind, "pace": pace, "src_internal": internal, "probes": probes, "failures": fails,
            "hosts": hosts, "ports": ports,
            "failure_ratio": round(failure, 4), "duration_s": round(span, 3), "rate_per_min": round(rate, 3),
            "service_weight": service, "background_weight": background,
            "peak_llr": round(peak, 3), "threshold_llr": round(threshold / SCALE, 3),
            "probes_to_detect": min(detects) if detects else None,
            "flagged_by": "sequential test" if detects else "breadth",
        }
        dst: str | None = None
        dport: int | None = None
        if kind == "horizontal":
            evidence["top_ports"] = [{"port": s, "hosts": n} for s, n in probed[:5]]
            if len(walks) == 1:
                dport = walks[0]["dport"]
            where = f"{_count(hosts, 'host')} on {_list([s for s, _ in probed])}"
        else:
            evidence["top_hosts"] = [{"host": w["dst_ip"], "ports": w["n"]} for w in walks[:5]]
            evidence["lowest_ports"] = sorted({int(t) for w in walks for t in w["targets"]})[:10]
            if len(walks) == 1:
                dst = walks[0]["dst_ip"]
            where = f"{_count(ports, 'port')} on {_list([w['dst_ip'] for w in walks])}"
        how = "slowly over" if pace == "slow" else "in"
        why = (
            f"{src}{'' if internal else ' (outside)'} probed {where} {how} {render.duration(span)} "
            f"({_pace(fails, span)}), "
            f"{100 * failure:.0f} % unanswered; "
            + (f"flagged after {min(detects)} probes (sequential test)" if detects else
               f"flagged by breadth (the sequential test peaked at {peak:.1f} of {threshold / SCALE:.1f})")
            + (f"; {label + ' is' if label else 'these services are'} network housekeeping (weight {service:g})"
               if service < 1 else "")
            + (f"; scanning from outside is the internet's background (weight {background:g})"
               if background < 1 else "")
        )
        return Finding(
            detector=self.name, score=score, entity=f"{src} {kind} scan", src=src, dst=dst,
            dport=None if dport is None or dport < 0 else int(dport), first_seen=first, last_seen=last,
            components={"llr": llr_score, "breadth": breadth, "failure": failure, "service": service,
                        "background": background},
            evidence=evidence, why=why,
        )


def first_contacts(conn: ir.Table) -> ir.Table:
    """One row per (src, dst, dst port, proto): when it was first contacted and whether it ever answered."""
    reply_like = (conn.proto == "udp") & (conn.dst_port >= EPHEMERAL)
    keep = (conn.src_ip.notnull() & conn.dst_ip.notnull() & initiated(conn) & ~reply_like.fill_null(False)
            & ~is_housekeeping_address(conn.dst_ip))
    rows = conn.filter(keep).select(
        "src_ip", "dst_ip", "ts",
        dport=conn.dst_port.fill_null(-1).cast("int32"),
        proto=conn.proto.fill_null("?"),
        ok=as_int(answered(conn)),
    )
    return rows.group_by(["src_ip", "dst_ip", "dport", "proto"]).aggregate(
        first_ts=rows.ts.min(), ok=rows.ok.max()
    )


def _pace(fails: int, span: float) -> str:
    """The unanswered probes per minute, hour or day, whichever reads as at least one."""
    for unit, seconds in (("min", 60.0), ("hour", 3600.0)):
        rate = fails / max(span, 1.0) * seconds
        if rate >= 1.0:
            return f"{rate:.1f} unanswered probes/{unit}"
    return f"{fails / max(span, 1.0) * 86400.0:.1f} unanswered probes/day"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _service(port: int, proto: str) -> str:
    if port < 0:
        return proto
    return f"{port}/{proto}"


def _list(items: list[str], most: int = 3) -> str:
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")
