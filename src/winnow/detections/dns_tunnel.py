"""DNS tunnels: one source asking a resolver for many unique, long, random names under one domain.

Per (source, registered domain) over the window the engine counts queries, unique subdomains,
query types and NXDOMAINs (aggregating per (source, name) first and deriving domains on the
distinct names only). Pairs with at least ``min_subdomains`` unique names are candidates. For
their domains two small follow-up queries fetch the first ``sample_names`` subdomains of each
domain (label length and Shannon entropy are measured on them in Python) and the addresses in
the domain's answers, checked against ``net.conn``: a tunnel's answers are data, never a server
anyone connects to.

Sub-scores, each in [0, 1]:
    names        unique subdomains, log scale from ``min_subdomains`` (0) to ``full_subdomains`` (1)
    rate         queries per hour over the active span (at least one hour), log scale 60/h -> ``full_rate``
    length       mean length of the longest label of the sampled subdomains, 6 chars -> 0, 30 -> 1
    entropy      mean per-name entropy of the sampled subdomains, 2 bits/char -> 0, 4 bits/char -> 1
    qtype        share of queries whose type is one of ``tunnel_qtypes`` (TXT, NULL, CNAME, MX, ...)
    unconnected  share of the domain's answer addresses nobody connected to (1 when answers hold
                 no address; 0.5 when the lake has no net.conn to check)
    rarity       1 / (1 + log2(sources querying the domain)), counting internal hosts for an internal
                 source and outside sources for an outside one (``_networks.is_internal``; a source's
                 verdict is borrowed from its connections in ``net.conn`` when the lake has them)
score = shape x (0.4 + 0.6 x max(names, rate)) x (0.8 + 0.2 x rarity), where
shape = 0.2 length + 0.2 entropy + 0.3 qtype + 0.3 unconnected.
Reverse lookups (in-addr.arpa, ip6.arpa) are ignored by default; single-label names (WPAD,
Chromium's random probes) are their own domain with no subdomain, so never candidates. Queries
sent to housekeeping addresses (``infrastructure.addresses``: mDNS and LLMNR multicast) are left out.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import ibis

from winnow.detections import _domains
from winnow.detections._infrastructure import is_housekeeping_address
from winnow.detections._networks import is_internal, sensor_verdicts
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.scoring import Finding, render

#: query types counted one by one for the evidence (the rest are "other")
QTYPES = ("A", "AAAA", "TXT", "NULL", "CNAME", "MX", "SRV", "PTR", "ANY")
_IP = r"^([0-9]{1,3}\.){3}[0-9]{1,3}$|^[0-9a-fA-F:]*:[0-9a-fA-F:.]*$"
_KEY = ["src_ip", "domain"]


def _log_scale(value: float, low: float, high: float) -> float:
    if value <= low:
        return 0.0
    return min(1.0, math.log(value / low) / math.log(high / low))


def _linear(value: float, low: float, high: float) -> float:
    return min(1.0, max(0.0, (value - low) / (high - low)))


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 6) if values else 0.0


@register
class DnsTunnel(Detector):
    """Args:
    min_subdomains: unique names under one registered domain from one source before it is scored.
    full_subdomains: unique names at which the names sub-score reaches 1.
    full_rate: queries per hour (over the active span, at least one hour) at which the rate sub-score is 1.
    sample_names: subdomains per candidate domain (the first seen) fetched to measure length and entropy.
    tunnel_qtypes: query type names that carry data in tunnels.
    ignore_domains: domains (and everything under them) never scored; reverse lookups by default.
    extra_suffixes: suffixes added to the Public Suffix List, in its syntax (``corp.example``, ``*.x``, ``!y.x``): e.g.
        an internal zone whose subdomains are handed to separate teams.
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "dns_tunnel"
    description: ClassVar[str] = (
        "DNS tunnels: many unique long random names under one domain whose answers nobody uses"
    )
    tables: ClassVar[tuple[str, ...]] = ("net.dns",)
    optional_tables: ClassVar[tuple[str, ...]] = ("net.conn",)

    def __init__(
        self,
        min_subdomains: int = 10,
        full_subdomains: int = 1000,
        full_rate: float = 1000.0,
        sample_names: int = 200,
        tunnel_qtypes: tuple[str, ...] = ("TXT", "NULL", "CNAME", "MX", "ANY", "KEY", "PRIVATE"),
        ignore_domains: tuple[str, ...] = ("in-addr.arpa", "ip6.arpa"),
        extra_suffixes: tuple[str, ...] = (),
        limit: int = 100,
    ) -> None:
        self.min_subdomains = min_subdomains
        self.full_subdomains = full_subdomains
        self.full_rate = full_rate
        self.sample_names = sample_names
        self.tunnel_qtypes = tunnel_qtypes
        self.ignore_domains = ignore_domains
        self.extra_suffixes = extra_suffixes
        self.limit = limit

    # ------------------------------------------------------------------ engine side

    def _queries(self, dns: Any) -> Any:
        """Rows with a query and a source, minus ignored domains; adds the lower-cased query ``q``.

        The ignore test is on the raw text (cheap suffix tests, before any aggregation), so engines
        never evaluate the name regexes per row.
        """
        t = dns.filter(dns.query.notnull() & dns.src_ip.notnull() & ~is_housekeeping_address(dns.dst_ip))
        t = t.mutate(q=t.query.lower())
        for ignored in self.ignore_domains:
            d = ignored.lower().strip(".")
            t = t.filter(~(t.q.isin([d, d + "."]) | t.q.endswith("." + d) | t.q.endswith("." + d + ".")))
        return t

    def _names(self, t: Any) -> Any:
        """Add ``name``, ``domain``, ``sub`` and ``sub_len`` to a table with a lower-cased query ``q``."""
        t = t.mutate(name=_domains.normalized_name(t.q))
        t = t.mutate(domain=_domains.registered_domain(t.name, self.extra_suffixes))
        t = t.mutate(sub=_domains.subdomain(t.name, t.domain))
        return t.mutate(sub_len=t.sub.length())

    def _pairs(self, dns: Any, verdicts: Any | None = None) -> Any:
        """Per (source, registered domain) counts, and how many sources on the source's side query the domain.

        ``verdicts``: what the sensor's flags say about addresses (``_networks.sensor_verdicts``).

        Aggregates per (source, name, type, rcode) first and derives domains on the distinct names
        only (a day of 10,000 hosts has ~10 M queries but ~60 k names), then rolls up twice: to
        (source, domain, subdomain), to (source, domain).
        """
        queries = self._queries(dns)
        t = queries.select(
            "ts",
            "src_ip",
            "q",
            qtype=queries.qtype_name.upper().fill_null(""),
            nx=(queries.rcode_name.upper() == "NXDOMAIN").fill_null(False),
        )
        per_name = t.group_by(["src_ip", "q", "qtype", "nx"]).aggregate(
            n=t.count(), first_seen=t.ts.min(), last_seen=t.ts.max()
        )
        j = per_name.join(self._names(queries.select("q").distinct()), "q")
        j = j.filter(j.domain != "")
        tunnel = [q.upper() for q in self.tunnel_qtypes]

        def count_if(cond: Any) -> Any:
            return ibis.cases((cond, j.n), else_=0).sum()

        counts = {f"q_{q}": count_if(j.qtype == q) for q in QTYPES}
        subs = j.group_by([*_KEY, "sub"]).aggregate(
            queries=j.n.sum(),
            tunnel_queries=count_if(j.qtype.isin(tunnel)),
            nxdomain=count_if(j.nx),
            first_seen=j.first_seen.min(),
            last_seen=j.last_seen.max(),
            sub_len=j.sub_len.max(),
            **counts,
        )
        sums = {c: subs[c].sum() for c in ("queries", "tunnel_queries", "nxdomain", *counts)}
        pairs = subs.group_by(_KEY).aggregate(
            unique_subdomains=(subs.sub != "").cast("int64").sum(),
            max_name_len=subs.sub_len.max(),
            first_seen=subs.first_seen.min(),
            last_seen=subs.last_seen.max(),
            **sums,
        )
        pairs = pairs.mutate(internal=is_internal(pairs.src_ip, verdicts=verdicts))
        # one pass over the pairs: the count is a window, not a second aggregation joined back
        pairs = pairs.mutate(hosts=pairs.src_ip.count().over(ibis.window(group_by=["domain", "internal"])))
        return pairs.filter(pairs.unique_subdomains >= self.min_subdomains)

    def _domain_stats(self, engine: Engine, window: Window, domains: list[str]) -> dict[str, dict]:
        """Per candidate domain: its first ``sample_names`` subdomains and its answer addresses (and used)."""
        dns = self._queries(engine.table("net.dns", window))
        wanted = ibis.memtable({"domain": domains})
        seen = dns.group_by("q").aggregate(first=dns.ts.min())
        named = self._names(seen).join(wanted, "domain")
        subs = named.filter(named.sub != "").group_by(["domain", "sub"]).aggregate(first=named.first.min())
        ranked = subs.mutate(rn=ibis.row_number().over(group_by="domain", order_by=[subs.first, subs.sub]))
        sample = ranked.filter(ranked.rn < self.sample_names)
        stats: dict[str, dict] = {
            d: {"sample": [], "answer_addresses": None, "connected": None} for d in domains
        }
        for r in fetch(
            sample.select("domain", "sub", "first").order_by(["domain", "first", "sub"])
        ).to_pylist():
            stats[r["domain"]]["sample"].append(r["sub"])

        conn = engine.table("net.conn", window)
        if conn is None:
            return stats
        rows = dns.filter(dns.answers.notnull()).select("q", "answers")
        rows = rows.join(named.select("q", "domain"), "q")
        rows = rows.select("domain", ip=rows.answers.unnest())
        ans = rows.filter(rows.ip.notnull() & rows.ip.re_search(_IP)).distinct()
        used = conn.filter(conn.dst_ip.isin(ans.ip)).select(cip=conn.dst_ip).distinct()
        joined = ans.left_join(used, ans.ip == used.cip)
        per = joined.group_by("domain").aggregate(
            answer_addresses=joined.ip.nunique(), connected=joined.cip.nunique()
        )
        for d in domains:
            stats[d].update(answer_addresses=0, connected=0)
        for r in fetch(per).to_pylist():
            stats[r["domain"]].update(answer_addresses=r["answer_addresses"], connected=r["connected"])
        return stats

    # ------------------------------------------------------------------ scoring

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        dns = engine.table("net.dns", window)
        if dns is None:
            return []
        verdicts = sensor_verdicts(engine.table("net.conn", window))
        rows = fetch(self._pairs(dns, verdicts).order_by(_KEY)).to_pylist()
        if not rows:
            return []
        stats = self._domain_stats(engine, window, sorted({r["domain"] for r in rows}))
        for r in rows:
            s = stats[r["domain"]]
            names = s["sample"]
            r["entropy"] = _mean([_domains.entropy(n.replace(".", "")) for n in names])
            r["mean_label_len"] = _mean([max(len(label) for label in n.split(".")) for n in names])
            r["sample"] = names[:3]
            r["answer_addresses"], r["connected"] = s["answer_addresses"], s["connected"]
            r["score"], r["components"] = self._score(r)
        rows.sort(key=lambda r: (-r["score"], -r["queries"], r["src_ip"], r["domain"]))
        return [self._finding(r) for r in rows[: self.limit]]

    def _score(self, r: dict) -> tuple[float, dict[str, float]]:
        span_h = max((r["last_seen"] - r["first_seen"]).total_seconds() / 3600, 1.0)
        names = _log_scale(r["unique_subdomains"], self.min_subdomains, self.full_subdomains)
        rate = _log_scale(r["queries"] / span_h, 60.0, self.full_rate)
        length = _linear(r["mean_label_len"], 6.0, 30.0)
        entropy = _linear(r["entropy"], 2.0, 4.0)
        if r["answer_addresses"] is None:
            unconnected = 0.5
        elif r["answer_addresses"] == 0:
            unconnected = 1.0
        else:
            unconnected = 1.0 - r["connected"] / r["answer_addresses"]
        qtype = r["tunnel_queries"] / r["queries"]
        rarity = 1.0 / (1.0 + math.log2(max(r["hosts"], 1)))
        shape = 0.2 * length + 0.2 * entropy + 0.3 * qtype + 0.3 * unconnected
        score = shape * (0.4 + 0.6 * max(names, rate)) * (0.8 + 0.2 * rarity)
        components = {
            "names": names,
            "rate": rate,
            "length": length,
            "entropy": entropy,
            "qtype": qtype,
            "unconnected": unconnected,
            "rarity": rarity,
        }
        return min(1.0, max(0.0, round(score, 6))), {k: round(v, 6) for k, v in components.items()}

    def _finding(self, r: dict) -> Finding:
        span_s = (r["last_seen"] - r["first_seen"]).total_seconds()
        qtypes = {q: r[f"q_{q}"] for q in QTYPES if r[f"q_{q}"]}
        other = r["queries"] - sum(qtypes.values())
        if other:
            qtypes["other"] = other
        evidence = {
            "domain": r["domain"],
            "unique_subdomains": r["unique_subdomains"],
            "queries": r["queries"],
            "mean_label_len": round(r["mean_label_len"], 1),
            "max_subdomain_len": r["max_name_len"],
            "entropy": round(r["entropy"], 2),
            "qtypes": qtypes,
            "tunnel_qtype_queries": r["tunnel_queries"],
            "nxdomain": r["nxdomain"],
            "answer_addresses": r["answer_addresses"],
            "answers_connected": r["connected"],
            "src_internal": bool(r["internal"]),
            "hosts_querying_domain": r["hosts"],
            "span_s": round(span_s, 3),
            "queries_per_hour": round(r["queries"] / max(span_s / 3600, 1.0), 1),
            "sample_names": r["sample"],
        }
        return Finding(
            detector=self.name,
            score=r["score"],
            entity=f"{r['src_ip']}->{r['domain']}",
            src=r["src_ip"],
            dst=r["domain"],
            first_seen=r["first_seen"],
            last_seen=r["last_seen"],
            components=r["components"],
            evidence=evidence,
            why=self._why(r["src_ip"], evidence, r["components"]),
        )

    @staticmethod
    def _why(src: str, ev: dict, comp: dict) -> str:
        n_q = ev["queries"]
        top, top_n = max(ev["qtypes"].items(), key=lambda kv: (kv[1], kv[0]))
        if top_n >= 0.9 * n_q:
            what = f"{n_q:,} {top} quer{'ies' if n_q > 1 else 'y'}"
        else:
            mix = ", ".join(
                f"{q} {n / n_q:.0%}"
                for q, n in sorted(ev["qtypes"].items(), key=lambda kv: (-kv[1], kv[0]))[:3]
            )
            what = f"{n_q:,} queries ({mix})"
        looks = "random-looking " if comp["entropy"] >= 0.85 and comp["length"] >= 0.5 else ""
        span = render.duration(ev["span_s"]) if ev["span_s"] >= 1 else "under a second"
        u = ev["unique_subdomains"]
        text = (
            f"{src} sent {what} for {u:,} unique {looks}name{'s' if u != 1 else ''} under "
            f"{ev['domain']} (mean label {ev['mean_label_len']:.0f} chars, entropy {ev['entropy']:.1f} "
            f"bits/char) in {span}"
        )
        n, used = ev["answer_addresses"], ev["answers_connected"]
        if n is None:
            text += "; no conn log to check whether its answers were used"
        elif n == 0:
            text += "; its answers held no address to connect to"
        elif used == 0:
            addresses = f"{n:,} address{'es' if n > 1 else ''}"
            text += f"; none of the {addresses} in the domain's answers was ever connected to"
        else:
            text += (
                f"; {used:,} of the {n:,} address{'es' if n > 1 else ''} in the domain's answers "
                f"{'was' if used == 1 else 'were'} connected to"
            )
        others = ev["hosts_querying_domain"] - 1
        if others > 0:
            peers = ("internal host" if ev["src_internal"] else "outside source") + ("s" if others > 1 else "")
            text += f"; {others:,} other {peers} queried the domain"
        return text
