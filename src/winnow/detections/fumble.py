"""Fumbling: failed activity, unified across sources and stacked over the fleet.

Attempts from every failure source (``_failures.SOURCES``: connections, DNS lookups and
logons from ``auth.logon``) are aggregated per (src, target). A failure is a
connection nobody answered (S0, REJ, ...), a short login-like session to a login port (a
*soft* failure: the flow log's view of a failed password), an NXDOMAIN answer or a failed logon. Two kinds of
finding come out:

* **retry** -- one source failing over and over to ONE target: malware retrying a dead C2, a
  brute force against one service, a lookup of a dead domain. Scored from the number of
  failures, persistence (hours with failures), steadiness (share of the 10-minute slots of those
  hours with a failure), the share of attempts that failed, and how rare the failure is in the
  fleet: when many internal hosts fail to the same destination (registered domain for DNS), it
  is an outage, not malware, and the score is damped. Internal means ``_networks.is_internal``
  (the sensor's flags, else ``networks.internal``); outside sources are counted among themselves.
* **spread** -- one source failing on many targets that (almost) nobody else fails on:
  scans, worms, DGA lookups. Scored from the number of such targets and their share of the
  targets the source tried (in the sources where it failed). Single-label names (Chromium's
  random intranet probes, WPAD, ISATAP) and reverse lookups never count, and names under a
  domain many hosts fail to resolve (a search suffix) are not rare.
* **campaign** -- many outside sources failing on ONE local service: a distributed brute force
  or a service the internet keeps knocking on. Scored from the number of sources, the failures
  and how often each source came back.

The fleet view (prevalence, spread, campaign) is window functions over the failing
(src, target) pairs, so one query returns every candidate row; a second, restricted to the
retrying sources, counts their hours and 10-minute slots with failures. Counts are integers,
so both engines agree exactly.

Connections are oriented first (``_orient``: responder-side Zeek records are counted from the side
that opened them). Housekeeping (``_infrastructure``) is left out or weighted: no failure towards a
broadcast, multicast or link-local address counts; a retry or campaign on an infrastructure service
(NTP...) or a failed lookup of a service-discovery or reverse name (``_ldap._tcp...``, ``...in-addr.arpa``) has
its score multiplied
by its weight (component ``service``), and such failures never count towards a spread. What outside
sources do to internal hosts without an answer is the internet's background scanning: retries, spreads
and campaigns from outside are weighted by ``infrastructure.background`` in proportion to their
unanswered connection failures (component ``background``); failed logons and login-like sessions,
which were answered, keep full weight. The detector runs on any one of its tables: failed logons
alone are judged as well as connections.

Failed logons count here per (source, server), like any failed attempt; *which accounts* were tried
(password spraying over many Windows accounts, brute force of one account, the success that follows)
is the ``guessing`` detector's, the one place for account-based guessing.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from winnow.detections._failures import SOURCES, FailureSource
from winnow.detections._infrastructure import background_weight, service_label
from winnow.detections._networks import is_internal
from winnow.detections._orient import oriented
from winnow.detections._outcome import as_int
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding, render

PAIR = ["src", "target", "dport", "proto"]
KEY = ["source", *PAIR]
EXAMPLES = 8
TOP_SOURCES = 5


@register
class Fumbling(Detector):
    """Args:
    min_retries: failures of one source to one target that make a retry finding.
    min_failure_ratio: share of the attempts to that target that must have failed.
    full_retries: failures at which the volume sub-score of a retry reaches 1 (288: every 5 min for a day).
    full_hours: hours with failures at which the persistence sub-score reaches 1.
    min_targets: rare, never-successful targets of one source that make a spread finding.
    full_targets: such targets (or campaign sources) at which the breadth sub-score reaches 1.
    rare_hosts: hosts failing on the same destination (or registered domain) up to which it is rare.
    min_sources: outside sources failing on one local service that make a campaign finding.
    login_max_seconds: an answered session to a login port (ssh, rdp...) this short is a soft failure...
    login_max_bytes: ...when it also moved at most this many bytes both ways.
    soft_weight: weight of a soft (login-like) failure relative to an unanswered attempt.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "fumbling"
    description: ClassVar[str] = (
        "failed connections, login-like sessions and NXDOMAINs: retry storms, failures spread over many "
        "targets, campaigns against one service"
    )
    tables: ClassVar[tuple[str, ...]] = ("net.conn", "net.dns", "auth.logon")

    def __init__(self, min_retries: int = 10, min_failure_ratio: float = 0.5, full_retries: int = 288,
                 full_hours: int = 12, min_targets: int = 10, full_targets: int = 256, rare_hosts: int = 2,
                 min_sources: int = 10, login_max_seconds: float = 30.0, login_max_bytes: int = 16000,
                 soft_weight: float = 0.7, limit: int = 500) -> None:
        self.min_retries = min_retries
        self.min_failure_ratio = min_failure_ratio
        self.full_retries = full_retries
        self.full_hours = full_hours
        self.min_targets = min_targets
        self.full_targets = full_targets
        self.rare_hosts = rare_hosts
        self.min_sources = min_sources
        self.login_max_seconds = login_max_seconds
        self.login_max_bytes = login_max_bytes
        self.soft_weight = soft_weight
        self.limit = limit

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        sources = []
        for source in SOURCES.values():
            table = engine.table(source.table, window)
            if table is not None and "local_orig" in table.columns:
                table = oriented(table)  # believed flags; responder-side records from the side that opened them
            if table is not None:
                sources.append((source, table))
        if not sources:
            return []
        rows = fetch(self.candidates(self.failing_pairs(sources)).order_by(KEY)).to_pylist()
        spreading = sorted({r["src"] for r in rows if r["is_spread"]})
        timing, tried = self._details(sources, [r for r in rows if r["is_retry"]], spreading)
        findings = [self._retry(r, *timing[_key(r)]) for r in rows if r["is_retry"]]
        spreads: dict[str, list[dict]] = {}
        campaigns: dict[tuple, list[dict]] = {}
        for r in rows:
            if r["is_spread"]:
                spreads.setdefault(r["src"], []).append(r)
            if r["is_campaign"]:
                campaigns.setdefault((r["source"], r["target"], r["dport"], r["proto"]), []).append(r)
        findings += [self._spread(examples, tried[src]) for src, examples in spreads.items()]
        findings += [self._campaign(tops) for tops in campaigns.values()]
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    # -- engine side ----------------------------------------------------------------------
    def failing_pairs(self, sources: list[tuple[FailureSource, ir.Table]]) -> ir.Table:
        """Every (source, src, target, dport, proto) with a failure, with its attempts and end points."""
        params = self.get_params()
        parts = []
        for source, table in sources:
            rows = source.attempts(table, params)
            agg = rows.group_by(PAIR).aggregate(
                attempts=rows.count(), failures=rows.failed.sum(), soft=rows.soft.sum(),
                first_seen=rows.ts.min(), last_seen=rows.ts.max(),
                local_src=rows.local_src.any(), local_dst=rows.local_dst.any(),
            )
            bad = agg.filter(agg.failures > 0)
            parts.append(bad.select(
                *PAIR,
                source=ibis.literal(source.name),
                attempts=bad.attempts.cast("int64"), failures=bad.failures.cast("int64"),
                soft=bad.soft.cast("int64"),
                first_seen=bad.first_seen, last_seen=bad.last_seen,
                local_src=is_internal(bad.src, bad.local_src),
                local_dst=is_internal(bad.target, bad.local_dst),
                group=source.group(bad.target),
                spreadable=source.spreadable(bad.target),
                weight=source.weight(bad).cast("float64"),
            ))
        return ibis.union(*parts, distinct=False)

    def candidates(self, failed: ir.Table) -> ir.Table:
        """The rows behind every finding: retry storms, spread examples, campaign top sources."""
        # fleet prevalence counts the sources on the failing source's side: internal hosts for an internal one
        where = ["source", "group", "dport", "proto", "local_src"]
        f = failed.mutate(host_rank=ibis.dense_rank().over(ibis.window(group_by=where, order_by="src")))
        f = f.mutate(hosts_failing=(f.host_rank.max().over(ibis.window(group_by=where)) + 1).cast("int64"))
        rare = (f.failures == f.attempts) & f.spreadable & (f.weight >= 1.0) & (f.hosts_failing <= self.rare_hosts)
        f = f.mutate(rare=rare)
        by_src = ibis.window(group_by="src")
        no_ts = ibis.null(f.first_seen.type())
        f = f.mutate(
            rare_targets=as_int(f.rare).sum().over(by_src),
            rare_failures=ibis.ifelse(f.rare, f.failures, 0).sum().over(by_src),
            rare_soft=ibis.ifelse(f.rare, f.soft, 0).sum().over(by_src),
            rare_first=ibis.ifelse(f.rare, f.first_seen, no_ts).min().over(by_src),
            rare_last=ibis.ifelse(f.rare, f.last_seen, no_ts).max().over(by_src),
            example_rank=ibis.row_number().over(ibis.window(
                group_by=["src", "rare"], order_by=[ibis.desc("failures"), *KEY]
            )),
            **{f"rare_{name}": as_int(f.rare & (f.source == name)).sum().over(by_src) for name in SOURCES},
        )
        outside = ~f.local_src & f.local_dst
        f = f.mutate(outside=outside)
        service = ibis.window(group_by=["source", "target", "dport", "proto"])
        f = f.mutate(
            campaign_sources=as_int(f.outside).sum().over(service),
            campaign_failures=ibis.ifelse(f.outside, f.failures, 0).sum().over(service),
            campaign_soft=ibis.ifelse(f.outside, f.soft, 0).sum().over(service),
            campaign_attempts=ibis.ifelse(f.outside, f.attempts, 0).sum().over(service),
            campaign_first=ibis.ifelse(f.outside, f.first_seen, no_ts).min().over(service),
            campaign_last=ibis.ifelse(f.outside, f.last_seen, no_ts).max().over(service),
            campaign_rank=ibis.row_number().over(ibis.window(
                group_by=["source", "target", "dport", "proto", "outside"],
                order_by=[ibis.desc("failures"), "src"],
            )),
        )
        permille = round(1000 * self.min_failure_ratio)
        f = f.mutate(
            is_retry=(f.failures >= self.min_retries) & (f.failures * 1000 >= f.attempts * permille),
            is_spread=f.rare & (f.rare_targets >= self.min_targets) & (f.example_rank < EXAMPLES),
            is_campaign=(
                f.outside & (f.campaign_sources >= self.min_sources) & (f.campaign_rank < TOP_SOURCES)
            ),
        )
        return f.filter(f.is_retry | f.is_spread | f.is_campaign)

    def _details(self, sources: list[tuple[FailureSource, ir.Table]], retries: list[dict],
                 spreading: list[str]) -> tuple[dict, dict]:
        """Hours, 10-minute slots, first and last failure of each retry; targets tried by each spreading src.

        One query per source, reading only the rows of the sources involved (a pushed-down ``src IN``).
        """
        import pyarrow as pa

        timing: dict[tuple, tuple] = {}
        tried: dict[str, int] = dict.fromkeys(spreading, 0)
        params = self.get_params()
        for source, table in sources:
            mine = sorted({_key(r)[1:] for r in retries if r["source"] == source.name})
            srcs = sorted({k[0] for k in mine} | set(spreading))
            if not srcs:
                continue
            rows = source.attempts(table.filter(table[source.src_column].isin(srcs)), params)
            parts = []
            if mine:
                types = (pa.string(), pa.string(), pa.int32(), pa.string())
                keys = ibis.memtable(pa.table(
                    [pa.array([k[i] for k in mine], t) for i, t in enumerate(types)], names=PAIR
                ))
                hits = rows.filter(rows.failed == 1).semi_join(keys, PAIR)
                hits = hits.mutate(hour=hits.ts.truncate("h"), slot=(hits.ts.minute() // 10).cast("int32"))
                slots = hits.group_by([*PAIR, "hour", "slot"]).aggregate(
                    first=hits.ts.min(), last=hits.ts.max()
                )
                parts.append(slots.group_by(PAIR).aggregate(
                    n=slots.hour.nunique().cast("int64"), slots=slots.count().cast("int64"),
                    first=slots.first.min(), last=slots.last.max(),
                ))
            if spreading:
                targets = rows.filter(rows.src.isin(spreading)).select(*PAIR).distinct()
                ts_type = rows.ts.type()
                parts.append(targets.group_by("src").aggregate(n=targets.count().cast("int64")).select(
                    "src", target=ibis.null("string"), dport=ibis.null("int32"), proto=ibis.null("string"),
                    n="n", slots=ibis.null("int64"), first=ibis.null(ts_type), last=ibis.null(ts_type),
                ))
            both = ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]
            for r in fetch(both).to_pylist():
                if r["target"] is None:
                    tried[r["src"]] += int(r["n"])
                else:
                    key = (source.name, *(r[c] for c in PAIR))
                    timing[key] = (int(r["n"]), int(r["slots"]), r["first"], r["last"])
        return timing, tried

    # -- findings -------------------------------------------------------------------------
    def _volume(self, failures: int, soft: int, full: float) -> float:
        effective = failures - soft + self.soft_weight * soft
        return min(1.0, math.log1p(effective) / math.log1p(full))

    def _retry(self, r: dict, hours: int, slots: int, first: dt.datetime, last: dt.datetime) -> Finding:
        failures, soft, attempts = int(r["failures"]), int(r["soft"]), int(r["attempts"])
        hosts = int(r["hosts_failing"])
        volume = self._volume(failures, soft, self.full_retries)
        persistence = min(1.0, hours / self.full_hours)
        steadiness = min(1.0, slots / (6 * hours)) if hours else 0.0
        ratio = failures / attempts
        rarity = 1.0 / (1.0 + math.log2(max(hosts, 1))) if r["local_src"] else 1.0
        base = 0.45 * volume + 0.15 * persistence + 0.15 * steadiness + 0.25 * ratio
        service = float(r["weight"])
        outside = r["source"] == "conn" and not r["local_src"] and r["local_dst"]
        background = _background(outside, (failures - soft) / failures)
        score = min(1.0, base * (0.5 + 0.5 * rarity)) * service * background
        target = _target(r)
        evidence: dict[str, Any] = {
            "kind": "retry", "source": r["source"], "failures": failures, "attempts": attempts,
            "soft_failures": soft, "failure_ratio": round(ratio, 4), "hours_with_failures": hours,
            "slots_10min_with_failures": slots, "hosts_failing_to_dst": hosts, "service_weight": service,
            "background_weight": background,
        }
        span = (last - first).total_seconds()
        if r["source"] == "dns":
            what = f"failed to resolve {target} {failures} times (NXDOMAIN)"
        elif r["source"] == "auth":
            what = f"failed {failures} of {attempts} logons to {target}"
        elif soft == failures:
            what = f"opened {failures} short login-like sessions to {target} (the shape of password guessing)"
        else:
            what = f"failed {failures} of {attempts} attempts to reach {target}"
            if soft:
                what += f" ({soft} of them short login-like sessions)"
        others = hosts - 1
        who = "host(s)" if r["local_src"] else "outside source(s)"
        why = (
            f"{r['src']} {what} over {render.duration(span)}, in {hours} distinct hour(s) "
            f"and {100 * steadiness:.0f} % of their 10-minute slots; "
            + ("no other host fails on it" if others <= 0 else f"{others} other {who} fail on it too")
            + _housekeeping(r, service) + _background_clause(background)
        )
        dst = None if r["source"] == "dns" else r["target"]
        return Finding(
            detector=self.name, score=score, entity=f"{r['src']}->{target}", src=r["src"], dst=dst,
            dport=None if r["dport"] < 0 else int(r["dport"]), first_seen=first, last_seen=last,
            components={"volume": volume, "persistence": persistence, "steadiness": steadiness,
                        "failure": ratio, "rarity": rarity, "service": service, "background": background},
            evidence=evidence, why=why,
        )

    def _spread(self, examples: list[dict], tried: int) -> Finding:
        examples.sort(key=lambda e: e["example_rank"])
        r = examples[0]
        n = int(r["rare_targets"])
        breadth = min(1.0, math.log1p(n) / math.log1p(self.full_targets))
        ratio = min(1.0, n / max(tried, 1))
        # the share of its rare targets that were unanswered connections, not logons or login-like sessions
        unanswered = int(r["rare_conn"]) / n * (1.0 - int(r["rare_soft"]) / max(int(r["rare_failures"]), 1))
        background = _background(not r["local_src"], unanswered)
        score = min(1.0, 0.6 * breadth + 0.4 * ratio) * background
        shown = [_target(e) for e in examples]
        by_source = {name: int(r[f"rare_{name}"]) for name in SOURCES if r[f"rare_{name}"]}
        evidence: dict[str, Any] = {
            "kind": "spread", "rare_failed_targets": n, "by_source": by_source, "targets_tried": tried,
            "failure_ratio": round(ratio, 4), "failures": int(r["rare_failures"]),
            "soft_failures": int(r["rare_soft"]), "examples": shown, "background_weight": background,
        }
        names = [e["target"] for e in examples if e["source"] == "dns"]
        if names:
            evidence["name_label_entropy"] = round(sum(_entropy(x) for x in names) / len(names), 3)
        parts = [f"{k} {_SOURCE_NOUN.get(name, name)}" for name, k in by_source.items()]
        span = (r["rare_last"] - r["rare_first"]).total_seconds()
        why = (
            f"{r['src']} failed on {n} targets almost nobody else fails on ({', '.join(parts)}) "
            f"over {render.duration(span)}, {100 * ratio:.0f} % of the {tried} targets it tried; "
            f"e.g. {', '.join(shown[:3])}" + _background_clause(background)
        )
        return Finding(
            detector=self.name, score=score, entity=f"{r['src']} failures", src=r["src"],
            first_seen=r["rare_first"], last_seen=r["rare_last"],
            components={"breadth": breadth, "failure": ratio, "background": background}, evidence=evidence, why=why,
        )

    def _campaign(self, tops: list[dict]) -> Finding:
        tops.sort(key=lambda e: e["campaign_rank"])
        r = tops[0]
        sources, failures = int(r["campaign_sources"]), int(r["campaign_failures"])
        soft = int(r["campaign_soft"])
        breadth = min(1.0, math.log1p(sources) / math.log1p(self.full_targets))
        volume = self._volume(failures, soft, 10 * self.full_retries)
        repetition = min(1.0, math.log1p(failures / sources) / math.log1p(self.min_retries))
        service = float(r["weight"])
        background = _background(r["source"] == "conn", (failures - soft) / failures)
        score = min(1.0, 0.4 * breadth + 0.3 * volume + 0.3 * repetition) * service * background
        target = _target(r)
        top = [{"src": t["src"], "failures": int(t["failures"])} for t in tops]
        evidence: dict[str, Any] = {
            "kind": "campaign", "source": r["source"], "sources": sources, "failures": failures,
            "soft_failures": soft, "attempts": int(r["campaign_attempts"]), "top_sources": top,
            "service_weight": service, "background_weight": background,
        }
        span = (r["campaign_last"] - r["campaign_first"]).total_seconds()
        how = ("failed logons" if r["source"] == "auth" else "short login-like sessions" if soft * 2 >= failures
               else "failed attempts")
        why = (
            f"{sources} outside sources made {failures} {how} to {target} over {render.duration(span)} "
            f"({failures / sources:.0f} each on average); top {top[0]['src']} with {top[0]['failures']}"
            + _housekeeping(r, service) + _background_clause(background)
        )
        return Finding(
            detector=self.name, score=score, entity=f"*->{target}", src=top[0]["src"], dst=r["target"],
            dport=None if r["dport"] < 0 else int(r["dport"]), first_seen=r["campaign_first"],
            last_seen=r["campaign_last"],
            components={"breadth": breadth, "volume": volume, "repetition": repetition, "service": service,
                        "background": background},
            evidence=evidence, why=why,
        )


_SOURCE_NOUN = {"conn": "address/port targets", "dns": "DNS names (NXDOMAIN)", "auth": "logon targets"}


def _housekeeping(r: dict, weight: float) -> str:
    """The clause of a ``why`` that says a failure is network housekeeping ('' when it is not)."""
    if weight >= 0.9:  # mostly answered: the weight is in the components, not worth a clause
        return ""
    if r["source"] == "dns":
        kind = "a reverse lookup" if str(r["target"]).endswith(".arpa") else "a service-discovery name"
        return f"; {r['target']} is {kind}, looked up and missed by design (weight {weight:g})"
    label = service_label(r["proto"], r["dport"]) or f"{r['dport']}/{r['proto']}"
    return f"; {label} is network housekeeping (weight {weight:g})"


def _background(outside: bool, unanswered_share: float) -> float:
    """``infrastructure.background`` in proportion to the unanswered share of an outside source's failures.

    Only connection failures from outside are background: a failed logon or a login-like session was
    answered, and an internal source's failures are never background.
    """
    return background_weight(unanswered_share) if outside else 1.0


def _background_clause(weight: float) -> str:
    """The clause of a ``why`` that says failures are the internet's background ('' when they are not)."""
    if weight >= 0.9:  # mostly answered: the weight is in the components, not worth a clause
        return ""
    return f"; unanswered knocking from outside is the internet's background (weight {weight:.2g})"


def _key(r: dict) -> tuple:
    return (r["source"], r["src"], r["target"], r["dport"], r["proto"])


def _target(r: dict) -> str:
    if r["source"] == "dns":
        return str(r["target"])
    port = "" if r["dport"] < 0 else f":{r['dport']}"
    return f"{r['target']}{port}/{r['proto']}"


def _entropy(name: str) -> float:
    """Shannon entropy (bits per character) of the longest label left of the top-level domain."""
    label = max(name.split(".")[:-1] or [name], key=len)
    counts = Counter(label)
    return -sum(c / len(label) * math.log2(c / len(label)) for c in counts.values()) if label else 0.0
