"""Rare destinations: least-frequency analysis stacked over the fleet, per (source, destination).

Prevalence is the number of distinct sources (internal hosts, for the default outbound direction)
that use a value in the window: a destination address, a TLS server name (SNI), a JA3 client
fingerprint, an HTTP user agent. A value is *rare* when at most ``max(rare_hosts, rare_share x
active sources)`` sources use it. Every (source, destination) pair with at least one rare value
is scored; the engine does the counting, Python only the arithmetic on integer aggregates.

Sub-scores, each in [0, 1] (``N`` = active sources, ``k`` = sources using a value,
``rar(k) = 1 - ln k / ln N``):
    dst      rar(sources contacting the destination)
    sni      share of the pair's handshakes with a rare SNI x rar(rarest SNI), plus 0.8 x share
             without a server name (no SNI or an IP literal)
    ja3      share of the pair's handshakes with a rare JA3 x rar(rarest JA3)
    ua       share of the pair's HTTP requests with a rare user agent x rar(rarest one)
    cert     share of checked certificates that failed validation (self-signed, no issuer, ...)
    connections  log10 connections / log10 ``full_connections``
    bytes        bytes on a log scale, 10 kB -> 0, ``full_bytes`` -> 1
    persistence  first to last connection on a log scale, 1 min -> 0, 12 h (or the data's extent) -> 1
Every rarity is scaled by min(1, ln N / ln 20): stacking needs a population, and with one active
source nothing is rare. rarity = 1 - (1 - 0.6 dst)(1 - 0.3 sni)(1 - 0.5 ja3)(1 - 0.5 ua)(1 - 0.4 cert)
(a noisy-OR: every rare dimension adds evidence), volume = max(bytes, (connections + persistence) / 2)
and score = rarity x (0.3 + 0.7 volume): one connection with 1 kB to a rare address is noise, while
an address and a JA3 nobody else uses, contacted all day, rank first. ``direction="any"`` ranks
outbound pairs against the internal sources and inbound pairs against the external ones, then merges.

Internal is the one definition of ``_networks.is_internal``: Zeek's ``local_orig``/``local_resp``
where the sensor sets them, else ``networks.internal``. A connection is outbound when its source is
internal and its destination neither internal nor a housekeeping address (``infrastructure.addresses``:
multicast, loopback...), inbound the other way round; connections are oriented first (``_orient``).
TLS handshakes and HTTP requests carry no flags: their addresses take the sensor's verdict from the
connections (``_networks.sensor_verdicts``), so they are in scope when their connections are.

The detector runs on any of its tables: without ``net.conn`` the pairs, their counts and ports come
from the TLS handshakes and HTTP requests (bytes unknown, counted 0). A pair whose busiest port is an
infrastructure service (``infrastructure.services``) has its score multiplied by the service's weight
(component ``service``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import ibis

from winnow.detections._infrastructure import is_housekeeping_address, service_label, service_weight_py
from winnow.detections._networks import LocalFlags, Verdicts, is_internal, local_flags, sensor_verdicts
from winnow.detections._orient import oriented
from winnow.detections.base import Detector
from winnow.detections.registry import register
from winnow.engine import Engine, Window, fetch
from winnow.errors import WinnowError
from winnow.scoring import Finding, render

_PAIR = ["src_ip", "dst_ip"]
_IP_LITERAL = r"^[0-9.]+$|:"
_DIRECTIONS = ("outbound", "inbound", "any")
#: active sources from which prevalence counts fully (fewer: every rarity sub-score is scaled by ln N / ln 20)
FULL_POPULATION = 20
#: seconds between a pair's first and last connection at which persistence reaches 1 (or the data's extent)
FULL_SPAN_S = 12 * 3600.0


def _from(t: Any, srcs: list[str] | None) -> Any:
    """``t`` limited to the sources ``srcs`` (all when None): a cheap filter before the network tests."""
    return t if srcs is None else t.filter(t.src_ip.isin(srcs))


def _split(key: str | None) -> tuple[int | None, str | None]:
    """(hosts, value) from a ``_rarest`` key."""
    if key is None:
        return None, None
    hosts, _, value = key.partition("|")
    return int(hosts), value


def _hosts(key: str | None) -> int | None:
    return _split(key)[0]


def _rank_key(t: tuple[float, dict, dict]) -> tuple:
    """Highest score first; among equal scores the busier pair, then by addresses."""
    r = t[2]
    return (-t[0], -r["connections"], -r["bytes"], r["src_ip"], r["dst_ip"])


@register
class RareDestinations(Detector):
    """Args:
    direction: outbound (internal -> external, default), inbound (external -> internal) or any (both).
    rare_hosts: a value used by at most this many sources is rare.
    rare_share: a value used by at most this share of the active sources is rare too (the larger bound wins).
    full_connections: connections of a pair at which the connections sub-score reaches 1.
    full_bytes: bytes of a pair at which the bytes sub-score reaches 1 (10 kB scores 0).
    limit: most findings kept, highest scores first.
    """

    name: ClassVar[str] = "rare_dest"
    description: ClassVar[str] = (
        "least-frequency analysis: destinations, SNIs, JA3s and user agents few hosts use, per pair"
    )
    tables: ClassVar[tuple[str, ...]] = ("net.conn", "net.tls", "net.http")

    def __init__(
        self,
        direction: str = "outbound",
        rare_hosts: int = 3,
        rare_share: float = 0.001,
        full_connections: int = 100,
        full_bytes: float = 1e8,
        limit: int = 500,
    ) -> None:
        self.direction = direction
        self.rare_hosts = rare_hosts
        self.rare_share = rare_share
        self.full_connections = full_connections
        self.full_bytes = full_bytes
        self.limit = limit

    # ------------------------------------------------------------------ engine side

    @staticmethod
    def _crosses(t: Any, direction: str, src_in: Any, dst_in: Any) -> Any:
        """Rows of ``t`` that cross the boundary in ``direction`` (outbound or inbound)."""
        if direction == "outbound":
            return t.filter(src_in & ~dst_in & ~is_housekeeping_address(t.dst_ip))
        return t.filter(~src_in & dst_in & ~is_housekeeping_address(t.src_ip))

    def _scope(self, conn: Any, direction: str, flags: LocalFlags) -> Any:
        """Connections (oriented) whose (src, dst) crosses the boundary in ``direction``."""
        t = oriented(conn.filter(conn.src_ip.notnull() & conn.dst_ip.notnull()), flags)
        return self._crosses(t, direction, is_internal(t.src_ip, t.local_orig), is_internal(t.dst_ip, t.local_resp))

    def _scope_log(self, t: Any, direction: str, verdicts: Verdicts) -> Any:
        """Rows of a log without flags in scope: its addresses take the connections' verdicts."""
        t = t.filter(t.src_ip.notnull() & t.dst_ip.notnull())
        return self._crosses(t, direction, is_internal(t.src_ip, verdicts=verdicts),
                             is_internal(t.dst_ip, verdicts=verdicts))

    @staticmethod
    def _with_prevalence(rows: Any, column: str) -> Any:
        """Add ``<column>_hosts`` (distinct sources using the value) to rows grouped per pair and value."""
        users = rows.filter(rows[column].notnull()).select("src_ip", column).distinct()
        prev = users.group_by(column).aggregate(**{f"{column}_hosts": users.count()})
        return rows.left_join(prev, column).drop(f"{column}_right")

    @staticmethod
    def _rarest(rows: Any, column: str) -> Any:
        """Aggregate: the pair's value used by the fewest sources, as ``'<hosts, 10 digits>|<value>'``.

        A string minimum is deterministic on every engine (ties go to the smaller value).
        """
        key = rows[f"{column}_hosts"].cast("string").lpad(10, "0").concat("|", rows[column])
        return key.min()

    def _tls(self, engine: Engine, window: Window, direction: str, verdicts: Verdicts) -> Any | None:
        """TLS handshakes in scope counted per (pair, JA3, SNI, validation status).

        Grouped on the raw values first, then the SNI is normalized (null when absent or an IP
        literal) on the few grouped rows rather than on every handshake.
        """
        tls = engine.table("net.tls", window)
        if tls is None:
            return None
        keys = [*_PAIR, "ja3", "server_name", "validation_status"]
        tls = self._scope_log(tls, direction, verdicts)
        g = tls.group_by(keys).aggregate(n=tls.count())
        sni = g.server_name.lower()
        status = g.validation_status
        return g.select(
            *_PAIR,
            "ja3",
            "n",
            sni=ibis.cases(
                (sni.isnull() | (sni == "") | sni.re_search(_IP_LITERAL), ibis.null("string")), else_=sni
            ),
            status=status,
            checked=status.notnull() & (status != ""),
            bad=status.notnull() & (status != "ok") & (status != ""),
        )

    def _http(self, engine: Engine, window: Window, direction: str, verdicts: Verdicts) -> Any | None:
        """HTTP requests in scope counted per (pair, user agent); '' stands for no user agent."""
        http = engine.table("net.http", window)
        if http is None:
            return None
        http = http.mutate(ua=http.user_agent.fill_null(""))
        http = self._scope_log(http, direction, verdicts)
        return http.group_by([*_PAIR, "ua"]).aggregate(n=http.count())

    def _contacts(self, engine: Engine, window: Window, direction: str, flags: LocalFlags, verdicts: Verdicts,
                  srcs: list[str] | None = None) -> Any:
        """Rows in scope with ts, pair, dst_port, proto and bytes: the connections, else TLS and HTTP records."""
        conn = engine.table("net.conn", window)
        if conn is not None:
            if srcs is not None:  # either end: a record turned round has its source on the other side
                conn = conn.filter(conn.src_ip.isin(srcs) | conn.dst_ip.isin(srcs))
            conn = _from(self._scope(conn, direction, flags), srcs)
            return conn.select("ts", *_PAIR, "dst_port", "proto", "src_bytes", "dst_bytes")
        parts = []
        for name in ("net.tls", "net.http"):
            t = engine.table(name, window)
            if t is not None:
                t = self._scope_log(_from(t, srcs), direction, verdicts)
                parts.append(t.select("ts", *_PAIR, "dst_port", proto=ibis.literal("tcp"),
                                      src_bytes=ibis.literal(0, "int64"), dst_bytes=ibis.literal(0, "int64")))
        return ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]

    def _candidates(self, engine: Engine, window: Window, direction: str, flags: LocalFlags,
                    verdicts: Verdicts) -> Any:
        """Pairs with at least one rare value, with their integer aggregates.

        One query: the active sources, the data's extent and the rarity threshold come from the
        pair table itself (a one-row table cross-joined in), so the connections are read once.
        """
        conn = self._contacts(engine, window, direction, flags, verdicts)
        pairs = conn.group_by(_PAIR).aggregate(
            connections=conn.count(),
            src_bytes=conn.src_bytes.fill_null(0).sum(),
            dst_bytes=conn.dst_bytes.fill_null(0).sum(),
            first_seen=conn.ts.min(),
            last_seen=conn.ts.max(),
        )
        stats = pairs.aggregate(
            active=pairs.src_ip.nunique(), start=pairs.first_seen.min(), end=pairs.last_seen.max()
        )
        share = (stats.active * self.rare_share).ceil().cast("int64")
        stats = stats.mutate(rare=ibis.greatest(ibis.literal(self.rare_hosts, "int64"), share))
        rare = stats.select("rare")
        hosts = pairs.group_by("dst_ip").aggregate(dst_hosts=pairs.count())
        pairs = pairs.join(hosts, "dst_ip").cross_join(stats)
        rare_columns = []

        tls = self._tls(engine, window, direction, verdicts)
        if tls is not None:
            rows = self._with_prevalence(self._with_prevalence(tls, "ja3"), "sni").cross_join(rare)
            n = rows.n

            def count_if(cond: Any) -> Any:
                return ibis.cases((cond, n), else_=0).sum()

            per = rows.group_by(_PAIR).aggregate(
                tls=n.sum(),
                named=count_if(rows.sni.notnull()),
                rare_sni=count_if(rows.sni_hosts <= rows.rare),
                rarest_sni=self._rarest(rows, "sni"),
                with_ja3=count_if(rows.ja3.notnull()),
                rare_ja3=count_if(rows.ja3_hosts <= rows.rare),
                rarest_ja3=self._rarest(rows, "ja3"),
                checked=count_if(rows.checked),
                bad_cert=count_if(rows.bad),
                bad_status=ibis.cases((rows.bad, rows.status), else_=ibis.null("string")).min(),
            )
            pairs = pairs.left_join(per, _PAIR).drop("src_ip_right", "dst_ip_right")
            rare_columns += ["rare_sni", "rare_ja3"]
        http = self._http(engine, window, direction, verdicts)
        if http is not None:
            rows = self._with_prevalence(http, "ua").cross_join(rare)
            per = rows.group_by(_PAIR).aggregate(
                http=rows.n.sum(),
                rare_ua=ibis.cases((rows.ua_hosts <= rows.rare, rows.n), else_=0).sum(),
                rarest_ua=self._rarest(rows, "ua"),
            )
            pairs = pairs.left_join(per, _PAIR).drop("src_ip_right", "dst_ip_right")
            rare_columns.append("rare_ua")

        def rare_any(t: Any) -> Any:
            cond = t.dst_hosts <= t.rare
            for c in rare_columns:
                cond = cond | (t[c] > 0)
            return cond

        return pairs.filter(rare_any)

    def _ports(self, engine: Engine, window: Window, direction: str, flags: LocalFlags, verdicts: Verdicts,
               keys: list[tuple[str, str]]) -> dict:
        """Per pair: (port, connections, proto), the busiest first."""
        wanted = ibis.memtable({"src_ip": [s for s, _ in keys], "dst_ip": [d for _, d in keys]})
        conn = self._contacts(engine, window, direction, flags, verdicts, sorted({s for s, _ in keys}))
        conn = conn.join(wanted, _PAIR)
        out: dict[tuple[str, str], list[tuple[int, int, str]]] = {k: [] for k in keys}
        per = conn.group_by([*_PAIR, "dst_port", "proto"]).aggregate(n=conn.count())
        for r in fetch(per).to_pylist():
            if r["dst_port"] is not None:
                out[(r["src_ip"], r["dst_ip"])].append((r["dst_port"], r["n"], r["proto"] or ""))
        return {k: sorted(v, key=lambda p: (-p[1], p[0], p[2])) for k, v in out.items()}

    # ------------------------------------------------------------------ scoring

    def find(self, engine: Engine, window: Window) -> list[Finding]:
        if self.direction not in _DIRECTIONS:
            raise WinnowError(
                f"rare_dest: direction must be one of {', '.join(_DIRECTIONS)}, not {self.direction!r}"
            )
        if not any(engine.table(t, window) is not None for t in self.tables):
            return []
        conn = engine.table("net.conn", window)
        flags = local_flags(conn)
        verdicts = sensor_verdicts(conn, flags)  # for net.tls and net.http, which carry no flags
        directions = ("outbound", "inbound") if self.direction == "any" else (self.direction,)
        scored: list[tuple[float, dict, dict]] = []
        for direction in directions:
            for r in fetch(self._candidates(engine, window, direction, flags, verdicts)).to_pylist():
                r.update(direction=direction, extent=(r["end"] - r["start"]).total_seconds())
                r["bytes"] = r["src_bytes"] + r["dst_bytes"]
                scored.append((*self._score(r), r))
        scored = [t for t in scored if t[0] > 0]
        scored.sort(key=_rank_key)
        scored = scored[: self.limit]
        findings = []
        for direction in directions:
            keys = [(r["src_ip"], r["dst_ip"]) for _, _, r in scored if r["direction"] == direction]
            ports = self._ports(engine, window, direction, flags, verdicts, keys) if keys else {}
            findings += [
                self._finding(r, s, c, ports[(r["src_ip"], r["dst_ip"])])
                for s, c, r in scored
                if r["direction"] == direction
            ]
        order = {(r["src_ip"], r["dst_ip"]): i for i, (_, _, r) in enumerate(scored)}
        findings.sort(key=lambda f: (-f.score, order[(f.src, f.dst)]))  # a housekeeping service's weight can reorder
        return findings

    def _score(self, r: dict) -> tuple[float, dict[str, float]]:
        active = r["active"]
        confidence = min(1.0, math.log(active) / math.log(FULL_POPULATION))

        def rar(k: int | None) -> float:
            if k is None or active < 2:
                return 0.0
            return confidence * max(0.0, 1.0 - math.log(max(k, 1)) / math.log(active))

        tls, http = r.get("tls") or 0, r.get("http") or 0
        dst = rar(r["dst_hosts"])
        sni = ja3 = ua = cert = 0.0
        if tls:
            named = (r["rare_sni"] or 0) / tls * rar(_hosts(r.get("rarest_sni")))
            sni = min(1.0, named + 0.8 * (tls - r["named"]) / tls)
        if r.get("with_ja3"):
            ja3 = (r["rare_ja3"] or 0) / r["with_ja3"] * rar(_hosts(r.get("rarest_ja3")))
        if http:
            ua = (r["rare_ua"] or 0) / http * rar(_hosts(r.get("rarest_ua")))
        if r.get("checked"):
            cert = r["bad_cert"] / r["checked"]
        rarity = 1 - (1 - 0.6 * dst) * (1 - 0.3 * sni) * (1 - 0.5 * ja3) * (1 - 0.5 * ua) * (1 - 0.4 * cert)
        conns = min(1.0, math.log10(r["connections"]) / math.log10(self.full_connections))
        size = min(1.0, max(0.0, (math.log10(max(r["bytes"], 1)) - 4) / (math.log10(self.full_bytes) - 4)))
        span = (r["last_seen"] - r["first_seen"]).total_seconds()
        full_span = max(min(FULL_SPAN_S, r["extent"]), 120.0)
        persistence = min(1.0, max(0.0, math.log(max(span, 60.0) / 60.0) / math.log(full_span / 60.0)))
        volume = max(size, (conns + persistence) / 2)
        score = min(1.0, max(0.0, round(rarity * (0.3 + 0.7 * volume), 6)))
        components = {
            "dst": dst,
            "sni": sni,
            "ja3": ja3,
            "ua": ua,
            "cert": cert,
            "connections": conns,
            "bytes": size,
            "persistence": persistence,
        }
        return score, {k: round(v, 6) for k, v in components.items()}

    def _finding(self, r: dict, score: float, comp: dict, ports: list[tuple[int, int, str]]) -> Finding:
        service = service_weight_py(ports[0][2], ports[0][0]) if ports else 1.0
        score = round(score * service, 6)
        comp = {**comp, "service": service}
        rarest = {k: _split(r.get(f"rarest_{k}")) for k in ("ja3", "sni", "ua")}
        evidence = {
            "hosts_contacting_dst": r["dst_hosts"],
            "active_hosts": r["active"],
            "rare_threshold": r["rare"],
            "connections": r["connections"],
            "bytes": r["bytes"],
            "src_bytes": r["src_bytes"],
            "dst_bytes": r["dst_bytes"],
            "dports": [p[0] for p in ports[:10]],
            "first_seen": r["first_seen"],
            "last_seen": r["last_seen"],
            "span_s": round((r["last_seen"] - r["first_seen"]).total_seconds(), 3),
            "tls_handshakes": r.get("tls") or 0,
            "http_requests": r.get("http") or 0,
            "server_name": rarest["sni"][1],
            "sni_hosts": rarest["sni"][0],
            "ja3": rarest["ja3"][1],
            "ja3_hosts": rarest["ja3"][0],
            "user_agent": rarest["ua"][1],
            "ua_hosts": rarest["ua"][0],
            "validation_status": r.get("bad_status"),
            "direction": r["direction"],
            "service_weight": service,
        }
        dport = ports[0][0] if ports else None
        label = service_label(ports[0][2], dport) if ports else ""
        return Finding(
            detector=self.name,
            score=score,
            entity=f"{r['src_ip']}->{r['dst_ip']}",
            src=r["src_ip"],
            dst=r["dst_ip"],
            dport=dport,
            first_seen=r["first_seen"],
            last_seen=r["last_seen"],
            components=comp,
            evidence=evidence,
            why=self._why(r, evidence, comp, dport)
            + (f"; {label} is network housekeeping (weight {service:g})" if service < 1 else ""),
        )

    @staticmethod
    def _why(r: dict, ev: dict, comp: dict, dport: int | None) -> str:
        def others(k: int | None) -> str:
            return "no other source" if (k or 0) <= 1 else f"{k:,} sources"

        where = f"{r['dst_ip']}:{dport}" if dport is not None else r["dst_ip"]
        sni = ""
        if ev["tls_handshakes"]:
            sni = f" (SNI {ev['server_name']})" if ev["server_name"] else " (no SNI)"
        n = ev["connections"]
        span = (r["last_seen"] - r["first_seen"]).total_seconds()
        times = "once" if n == 1 else f"{n:,} times over {render.duration(span)}"
        text = (
            f"{r['src_ip']} reached {where}{sni} {times}, {render.size(ev['bytes'])} moved; "
            f"it is contacted by {ev['hosts_contacting_dst']:,} of {ev['active_hosts']:,} active "
            f"source{'s' if ev['active_hosts'] > 1 else ''}"
        )
        if comp["ja3"] > 0 and ev["ja3"]:
            text += f"; JA3 {ev['ja3']} is used by {others(ev['ja3_hosts'])}"
        if comp["ua"] > 0 and ev["user_agent"] is not None:
            text += f"; user agent '{ev['user_agent'] or '(none)'}' is used by {others(ev['ua_hosts'])}"
        if comp["cert"] > 0 and ev["validation_status"]:
            text += f"; certificate: {ev['validation_status']}"
        return text
