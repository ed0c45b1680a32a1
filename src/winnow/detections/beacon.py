"""Beaconing: an internal host calling a destination back on a schedule.

Per (src, dst) channel the engine counts connections and the fleet prevalence of the
destination (distinct internal hosts that contact it); channels with enough connections to a
destination that not most of the fleet uses are handed, one group at a time, to
:func:`winnow.detections._beacon_stats.channel_stats` through the engine's per-group hook
(DuckDB grouped arrays or Spark ``applyInPandas``). Broadcast, multicast, link-local and
unspecified destinations (``infrastructure.addresses``) and ICMP errors are never channels.

Score = max(timing³ x (0.8 + 0.2 coverage), 0.45 timing + 0.30 size + 0.25 persistence) x
confidence x steadiness x prevalence x service: near-perfect timing carries a channel by itself,
size consistency adds, confidence grows with the callbacks, steadiness damps "schedules" present
in under 5 % of their span (sub-second bursts hours apart),
``prevalence`` lowers destinations many hosts of a fleet of at least ``min_fleet`` contact
(update services, telemetry) and ``service`` weights housekeeping (``infrastructure.services``:
DHCP, NTP...). Outbound channels the server never answers are judged like the others (a schedule
is a schedule) and said to be reply-less; unanswered knocks from outside are probes, left to
scan and fumbling. All factors are in ``components``.
"""

from __future__ import annotations

import json
import math
from typing import ClassVar

import ibis
import numpy as np
import pyarrow as pa

from winnow.detections._beacon_stats import channel_stats
from winnow.detections._infrastructure import (
    is_housekeeping_address,
    service_label,
    service_weight_py,
    vendor_weight,
)
from winnow.detections._networks import is_internal, local_flags, sensor_verdicts
from winnow.detections._vendor_names import vendor_names
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding, render

_STATS = pa.schema([
    ("src_ip", pa.string()), ("dst_ip", pa.string()), ("connections", pa.int64()), ("callbacks", pa.int64()),
    ("burst_connections", pa.int64()), ("period_s", pa.float64()), ("jitter_s", pa.float64()),
    ("timing_spread", pa.float64()), ("early_ratio", pa.float64()), ("missed_share", pa.float64()),
    ("span_s", pa.float64()), ("src_bytes_median", pa.float64()), ("dst_bytes_median", pa.float64()),
    ("size_spread", pa.float64()), ("dport", pa.int64()), ("timing", pa.float64()), ("size", pa.float64()),
    ("persistence", pa.float64()), ("histogram", pa.string()), ("replied_share", pa.float64()),
    ("coverage", pa.float64()), ("confidence", pa.float64()),
])

#: the blend of sub-scores; the schedule's strength is the larger of it and timing³ x (0.8 + 0.2 coverage),
#: so near-perfect timing carries a channel by itself and consistent sizes add, never veto
WEIGHTS = {"timing": 0.45, "size": 0.30, "persistence": 0.25}
#: a "schedule" present in under this share of its span is a few periodic bursts (scanners): damped
STEADY_COVERAGE = 0.05
#: ICMP types that answer someone else's packet (unreachable, source quench, redirect, time exceeded,
#: parameter problem): Zeek and Argus put the type in the source port
ICMP_ERRORS = (3, 4, 5, 11, 12)
_TOLERANCE = math.log(1.3)
#: below this many active hosts, sharing a destination with one or two others says little
SMALL_FLEET = 50
#: (table, name column, alias) of the names a channel can be keyed by besides the address
NAME_SOURCES = (("net.tls", "server_name", "sni"), ("net.http", "host", "http_host"))


def behaviour_prevalence(channels: list[dict]) -> dict[tuple[str, str], int]:
    """For each channel, how many distinct sources run a channel like it on the same port.

    Widespread agents (telemetry, update checks, NTP) spread over many addresses look rare per
    address but share one behaviour fleet-wide. Two channels are alike when their median sizes
    match within about ±30 % and their periods do too, or their sizes are exactly equal
    (NTP-style fixed-size exchanges whose poll interval varies per host).

    A channel whose destination nobody else in its look-alike group uses, in a group whose
    members mostly share destinations, is a mimic of the common agent, not one of it: its
    count stays 1. Sources are counted on their channel's side (``inbound``: outside sources).
    """
    def bins(c: dict) -> tuple[bool, int, int, int, int]:
        return (bool(c.get("inbound")), _port(c), round(math.log(c["src_bytes_median"] + 1) / _TOLERANCE),
                round(math.log(c["dst_bytes_median"] + 1) / _TOLERANCE), round(math.log(c["period_s"]) / _TOLERANCE))

    cells: dict[tuple, dict[str, set[str]]] = {}
    exact: dict[tuple, dict[str, set[str]]] = {}
    for c in channels:
        cells.setdefault(bins(c), {}).setdefault(c["dst_ip"], set()).add(c["src_ip"])
        exact_key = (bool(c.get("inbound")), _port(c), c["src_bytes_median"], c["dst_bytes_median"])
        exact.setdefault(exact_key, {}).setdefault(c["dst_ip"], set()).add(c["src_ip"])

    def summary(by_dst: dict[str, set[str]]) -> tuple[int, int, int, dict[str, set[str]]]:
        sources: set[str] = set().union(*by_dst.values()) if by_dst else set()
        shared = sum(len(v) for v in by_dst.values() if len(v) > 1)
        return len(sources), shared, sum(len(v) for v in by_dst.values()), by_dst

    cache: dict[tuple, tuple[int, int, int, dict[str, set[str]]]] = {}

    def neighbourhood(key: tuple[bool, int, int, int, int]) -> tuple[int, int, int, dict[str, set[str]]]:
        if key not in cache:
            side, port, a, b, p = key
            merged: dict[str, set[str]] = {}
            for da in (-1, 0, 1):
                for db in (-1, 0, 1):
                    for dp in (-1, 0, 1):
                        for dst, srcs in cells.get((side, port, a + da, b + db, p + dp), {}).items():
                            merged.setdefault(dst, set()).update(srcs)
            cache[key] = summary(merged)
        return cache[key]

    exact_summary = {k: summary(v) for k, v in exact.items()}
    out = {}
    for c in channels:
        count, shared, members, by_dst = neighbourhood(bins(c))
        same = exact_summary[(bool(c.get("inbound")), _port(c), c["src_bytes_median"], c["dst_bytes_median"])]
        if same[0] > count:
            count, shared, members, by_dst = same
        mimic = len(by_dst.get(c["dst_ip"], ())) <= 1 and shared >= 0.5 * members
        out[(c["src_ip"], c["dst_ip"])] = 1 if mimic else count
    return out


def _port(channel: dict) -> int:
    """The channel's port, -1 for a flow without ports."""
    return -1 if channel["dport"] is None else int(channel["dport"])


@register
class Beacon(Detector):
    """Args:
    min_callbacks: fewest callbacks (connections after collapsing bursts) a channel needs to be judged;
        the ``confidence`` component grows with them.
    max_burst_gap: seconds; connections closer than this (or a quarter of the median gap) are one burst.
    max_prevalence: channels to destinations contacted by more than this share of active hosts are skipped.
    min_fleet: fewest active internal hosts before prevalence lowers a score (2 of 2 hosts is no ubiquity).
    min_period: seconds; channels whose estimated period is shorter are bursts of activity, not beacons.
    min_score: findings below this score are dropped.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "beacon"
    description: ClassVar[str] = "periodic callbacks from a host to a destination (C2), with period and jitter"
    tables: ClassVar[tuple[str, ...]] = ("net.conn",)

    def __init__(self, min_callbacks: int = 6, max_burst_gap: float = 300.0, max_prevalence: float = 0.5,
                 min_fleet: int = 10, min_period: float = 0.5, min_score: float = 0.2, limit: int = 1000) -> None:
        self.min_callbacks = min_callbacks
        self.max_burst_gap = max_burst_gap
        self.max_prevalence = max_prevalence
        self.min_fleet = min_fleet
        self.min_period = min_period
        self.min_score = min_score
        self.limit = limit
        self._vendors = None  # set per run by find(): the addresses of listed vendor services

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        conn = engine.table("net.conn", window)
        if conn is None:
            return []
        c = conn.filter(conn.src_ip.notnull() & conn.dst_ip.notnull() & conn.ts.notnull())
        c = c.filter(~is_housekeeping_address(c.dst_ip) & ~is_housekeeping_address(c.src_ip)
                     & ~((c.proto.lower() == "icmp") & c.src_port.isin(ICMP_ERRORS)).fill_null(False))
        # the fleet is the internal sources (the sensor's flags, else networks.internal): on NetFlow an
        # internet source is not a host of ours, and a Zeek sensor that marks nothing local is not believed
        flags = local_flags(conn)
        c = flags.apply(c)
        c = c.mutate(internal=is_internal(c.src_ip, c.local_orig))
        internal = c.filter(c.internal)
        active = int(fetch(internal.aggregate(active=internal.src_ip.nunique()))["active"][0].as_py() or 0)
        # the remote end of a channel is its destination, or its source when that is outside (inbound)
        dst_prevalence = c.group_by("dst_ip").aggregate(
            dst_hosts=ibis.greatest(1, c.internal.ifelse(c.src_ip, ibis.null("string")).nunique())
        )
        src_reach = c.group_by("src_ip").aggregate(src_targets=c.dst_ip.nunique())
        pairs = c.group_by(["src_ip", "dst_ip"]).aggregate(
            n=c.count(), first_seen=c.ts.min(), last_seen=c.ts.max(), inbound=(~c.internal).all(),
            proto=c.proto.max(),
        )
        # a channel's score is at most its prevalence factor 1 - log(hosts) / log(fleet): destinations
        # reached by more than fleet ** (1 - min_score) hosts can never score min_score, so skip them early
        reachable = math.floor(max(active, SMALL_FLEET) ** (1.0 - self.min_score))
        limit_hosts = max(2, min(int(self.max_prevalence * active), reachable))
        if active < self.min_fleet:  # in a handful of hosts, sharing a destination says nothing
            limit_hosts = max(limit_hosts, active + 1)
        candidates = pairs.filter(pairs.n >= self.min_callbacks).join(dst_prevalence, "dst_ip").join(
            src_reach, "src_ip"
        )
        candidates = candidates.mutate(
            hosts_contacting_dst=candidates.inbound.ifelse(candidates.src_targets, candidates.dst_hosts)
        ).drop("dst_hosts", "src_targets")
        candidates = candidates.filter(candidates.hosts_contacting_dst <= limit_hosts)
        verdicts = sensor_verdicts(conn, flags)  # for the sources of net.tls / net.http, which carry no flags
        self._vendors = vendor_names(engine, window)
        candidates = self._with_names(engine, window, candidates, verdicts)
        fetched = fetch(candidates)
        context = {(r["src_ip"], r["dst_ip"]): r for r in fetched.to_pylist()}
        if not context:
            return []
        # join the fetched keys, not the candidates expression, which the engine would compute again
        keys = ibis.memtable(fetched.select(["src_ip", "dst_ip"]).combine_chunks())
        rows = c.join(keys, ["src_ip", "dst_ip"]).select(
            "src_ip", "dst_ip", "ts", "src_bytes", "dst_bytes", "dst_port"
        )
        params = (self.min_callbacks, self.max_burst_gap)

        def per_channel(key, cols):
            stats = channel_stats(cols, *params)
            return [] if stats is None else [{**key, **stats}]

        stats = engine.map_groups(rows, ["src_ip", "dst_ip"], ["ts", "src_bytes", "dst_bytes", "dst_port"],
                                  per_channel, _STATS)
        findings = []
        channels = [{**s, "inbound": context[(s["src_ip"], s["dst_ip"])]["inbound"]} for s in stats.to_pylist()
                    if s["period_s"] >= self.min_period
                    and (s["replied_share"] > 0 or not context[(s["src_ip"], s["dst_ip"])]["inbound"])]
        behaviour = behaviour_prevalence(channels)
        for s in channels:
            ctx = context[(s["src_ip"], s["dst_ip"])]
            finding = self._finding(s, ctx, active, behaviour[(s["src_ip"], s["dst_ip"])])
            if finding.score >= self.min_score:
                findings.append(finding)
        findings.extend(self._name_channels(engine, window, c, verdicts, active, limit_hosts, per_channel))
        findings.sort(key=lambda f: (-f.score, f.entity))
        return findings[: self.limit]

    def _name_channels(self, engine: Engine, window: Window, c, verdicts, active: int, limit_hosts: int,
                       per_channel):
        """Channels keyed by (src, TLS server name) or (src, HTTP Host) that span several addresses: C2 behind a CDN.

        A name reached through one address is already judged as an address channel; only names
        whose callbacks rotate over two or more addresses are judged here, with the name's fleet
        prevalence (internal hosts using it; for an outside source, outside sources), and reported
        against their most used address. HTTP requests count once per connection (the first
        request), so pipelined requests do not read as bursts.
        """
        findings = []
        for table, column, alias in NAME_SOURCES:
            source = engine.table(table, window)
            if source is None:
                continue
            named = source.filter(source[column].notnull() & (source[column] != "") & source.src_ip.notnull()
                                  & source.dst_ip.notnull() & source.ts.notnull())
            if "trans_depth" in source.columns:
                named = named.filter(named.trans_depth.isnull() | (named.trans_depth <= 1))
            named = named.select("src_ip", "dst_ip", "ts", "uid", "dst_port", name=named[column].lower())
            findings.extend(self._judge_names(engine, named, alias, c, verdicts, active, limit_hosts, per_channel))
        return findings

    def _judge_names(self, engine: Engine, named, alias: str, c, verdicts, active: int, limit_hosts: int,
                     per_channel) -> list[Finding]:
        """Judge the (src, name) channels of one name source; ``named`` has src_ip, dst_ip, ts, uid, dst_port, name."""
        channels = named.group_by(["src_ip", "name"]).aggregate(
            n=named.count(), addresses=named.dst_ip.nunique(), first_seen=named.ts.min(), last_seen=named.ts.max()
        )
        channels = channels.mutate(internal=is_internal(channels.src_ip, verdicts=verdicts))
        per_name = channels.group_by(["name", "internal"]).aggregate(name_hosts=channels.count())
        candidates = channels.filter((channels.n >= self.min_callbacks) & (channels.addresses >= 2))
        candidates = candidates.join(per_name, ["name", "internal"])
        candidates = candidates.filter(candidates.name_hosts <= limit_hosts)
        fetched = fetch(candidates)
        context = {(r["src_ip"], r["name"]): r for r in fetched.to_pylist()}
        if not context:
            return []
        sizes = c.filter(c.uid.notnull()).select("uid", "src_bytes", "dst_bytes")
        rows = named.join(ibis.memtable(fetched.select(["src_ip", "name"]).combine_chunks()), ["src_ip", "name"])
        rows = rows.left_join(sizes, rows.uid == sizes.uid).select(
            rows.src_ip, rows.name, rows.ts, sizes.src_bytes, sizes.dst_bytes, rows.dst_port, rows.dst_ip
        )

        def per_name_channel(key, cols):
            out = per_channel(key, cols)
            if out:  # the channel is reported against its most used address (ties: the smallest)
                addresses, counts = np.unique(cols["dst_ip"].astype(str), return_counts=True)
                out[0]["top_dst"] = str(addresses[np.argmax(counts)])
            return out

        schema = pa.schema([("name", pa.string()) if f.name == "dst_ip" else f for f in _STATS]
                           + [("top_dst", pa.string())])
        stats = engine.map_groups(rows, ["src_ip", "name"], ["ts", "src_bytes", "dst_bytes", "dst_port", "dst_ip"],
                                  per_name_channel, schema)
        findings = []
        for s in stats.to_pylist():
            if s["period_s"] < self.min_period:
                continue
            ctx = context[(s["src_ip"], s["name"])]
            hosts = int(ctx["name_hosts"])
            names = {"sni": None, "http_host": None, "sni_hosts": None, "http_host_hosts": None,
                     alias: s["name"], f"{alias}_hosts": hosts}
            ctx = {**ctx, **names, "hosts_contacting_dst": hosts, "proto": "tcp", "inbound": not ctx["internal"]}
            channel = {**s, "dst_ip": s["top_dst"]}
            finding = self._finding(channel, ctx, active, 1, name=s["name"], addresses=int(ctx["addresses"]))
            if finding.score >= self.min_score:
                findings.append(finding)
        return findings

    @staticmethod
    def _with_names(engine: Engine, window: Window, candidates, verdicts):
        """Add each channel's TLS server name / HTTP host and how many hosts use that name.

        Hosts on the channel's side count: internal hosts for an outbound channel, outside
        sources for an inbound one.
        """
        for table, column, alias in (("net.tls", "server_name", "sni"), ("net.http", "host", "http_host")):
            source = engine.table(table, window)
            if source is None:
                candidates = candidates.mutate(**{alias: ibis.null("string"), f"{alias}_hosts": ibis.null("int64")})
                continue
            named = source.filter(source[column].notnull() & (source[column] != ""))
            per_channel = named.group_by(["src_ip", "dst_ip"]).aggregate(**{alias: named[column].max()})
            users = named.select("src_ip", name=named[column]).distinct()
            users = users.mutate(internal=is_internal(users.src_ip, verdicts=verdicts))
            per_name = users.group_by(["name", "internal"]).aggregate(**{f"{alias}_hosts": users.count()})
            joined = candidates.left_join(per_channel, ["src_ip", "dst_ip"]).select(
                *[candidates[c] for c in candidates.columns], per_channel[alias]
            )
            same = (joined[alias] == per_name.name) & (joined.inbound != per_name.internal)
            candidates = joined.left_join(per_name, same).select(
                *[joined[c] for c in joined.columns], per_name[f"{alias}_hosts"]
            )
        return candidates

    def _finding(self, s: dict, ctx: dict, active: int, same_behaviour: int, name: str | None = None,
                 addresses: int = 1) -> Finding:
        ip_hosts = int(ctx["hosts_contacting_dst"])
        name_hosts = max(int(ctx["sni_hosts"] or 0), int(ctx["http_host_hosts"] or 0))
        hosts = max(ip_hosts, name_hosts, same_behaviour)
        small = active < self.min_fleet and not ctx["inbound"]  # an inbound channel's peers: outside sources
        fleet = math.log(max(active, SMALL_FLEET))
        prevalence = 1.0 if hosts <= 1 or small else max(0.0, min(1.0, 1.0 - math.log(hosts) / fleet))
        blend = sum(WEIGHTS[k] * s[k] for k in WEIGHTS)
        strength = max(s["timing"] ** 3 * (0.8 + 0.2 * s["coverage"]), blend)
        steadiness = math.sqrt(min(1.0, s["coverage"] / STEADY_COVERAGE))
        components = {k: s[k] for k in ("timing", "size", "persistence", "confidence")}
        components["steadiness"] = round(steadiness, 4)
        components["prevalence"] = round(prevalence, 4)
        weight = service_weight_py(ctx["proto"], s["dport"])
        label = service_label(ctx["proto"], s["dport"])
        if weight != 1.0:
            components["service"] = weight
        vendor, vendor_domain = vendor_weight(name or ctx["sni"] or ctx["http_host"])
        known = self._vendors.lookup(s["dst_ip"]) if vendor == 1.0 and self._vendors else None
        if known:
            vendor, vendor_domain = vendor_weight(known[0])
            vendor_domain = f"{known[0]} ({known[1]})"
        if vendor != 1.0:
            components["vendor"] = vendor
        score = strength * s["confidence"] * steadiness * prevalence * weight * vendor
        evidence = {k: s[k] for k in ("period_s", "jitter_s", "connections", "callbacks", "burst_connections",
                                      "missed_share", "span_s", "timing_spread", "early_ratio",
                                      "src_bytes_median", "dst_bytes_median", "size_spread", "replied_share")}
        evidence.update(channel="name" if name else "address", addresses=addresses,
                        hosts_contacting_dst=ip_hosts, hosts_same_name=name_hosts, hosts_same_behaviour=same_behaviour,
                        active_hosts=active, inbound=bool(ctx["inbound"]), server_name=ctx["sni"] or ctx["http_host"],
                        interval_histogram=json.loads(s["histogram"]))
        # an outbound channel is compared with the internal hosts, an inbound one with the outside sources
        inbound = bool(ctx["inbound"])
        peers = "outside sources" if inbound else f"of {active} internal hosts"
        if hosts <= 1:
            others = "it reaches no other internal host" if inbound else "no other host talks to it"
        elif hosts == ip_hosts:
            others = (f"it reaches {hosts} of {active} internal hosts" if inbound
                      else f"{hosts} of {active} internal hosts talk to it")
        elif hosts == name_hosts:
            others = f"{hosts} {peers} use its name {ctx['sni'] or ctx['http_host']}"
        else:
            others = f"{hosts} {peers} show the same rhythm and sizes on port {s['dport']}"
        if hosts > 1 and small:
            others += f" (a network of {active} hosts: no sign of a common service)"
        replies = s["replied_share"]
        sizes = ("near-constant sizes" if s["size"] >= 0.8 else "varying sizes" if s["size"] < 0.3
                 else "fairly regular sizes")
        answered = ("; the server never answered (a schedule of retries to a dead or blocked destination)"
                    if replies == 0 else f"; the server answered only {replies:.0%} of callbacks" if replies < 0.5
                    else "")
        port = "" if s["dport"] is None else f":{s['dport']}"
        why = (
            f"{s['src_ip']}{' (outside)' if inbound else ''} reached "
            + (f"{name} (through {addresses} addresses, mostly {s['dst_ip']}){port}" if name
               else f"{s['dst_ip']}{port}")
            + f" every {render.duration(s['period_s'])} "
            f"(±{render.duration(s['jitter_s'])}) {s['callbacks']:,} times over {render.duration(s['span_s'])}"
            + (f", missing ~{s['missed_share']:.0%}" if s["missed_share"] >= 0.05 else "")
            + (f", plus {s['burst_connections']} burst connections" if s["burst_connections"] else "")
            + f", with {sizes} ({render.size(s['src_bytes_median'])} out / {render.size(s['dst_bytes_median'])} in)"
            + answered + "; "
            + others
            + (f"; only {s['callbacks']} callbacks (confidence {s['confidence']:.2f})" if s["confidence"] < 0.8 else "")
            + (f"; {label} is network housekeeping (score x{weight:g})" if weight != 1.0 else "")
            + (f"; {vendor_domain} is a listed vendor service (infrastructure.vendor_services, score x{vendor:g})"
               if vendor != 1.0 else "")
        )
        return Finding(
            detector=self.name, score=score,
            entity=f"{s['src_ip']}->{name or s['dst_ip']}{port}",
            src=s["src_ip"], dst=s["dst_ip"], dport=s["dport"], first_seen=ctx["first_seen"],
            last_seen=ctx["last_seen"], components=components, evidence=evidence, why=why,
        )
