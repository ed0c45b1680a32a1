"""Indicators matched against the lake at query time: one small Arrow table joined to every column where
each kind of indicator shows, on DuckDB and Spark alike.

Each *probe* reads one column of one table as ``(value, ts, local)``: the observed value, when, and the
local entity involved (the other end of a connection, the DNS/HTTP/TLS client, the host of an endpoint
or logon event). Probes of one kind are unioned and matched three ways, all equi-joins:

- exact kinds (address, URL, hash, JA3, user agent, user, certificate hash): ``value = indicator``;
- domains: a domain indicator of L labels matches a name whose last L labels equal it, so the
  distinct names are cut to their last L labels (one regex per distinct label count among the
  indicators) and joined on ``(L, tail)``: ``evil.com`` matches ``evil.com`` and ``a.b.evil.com``,
  never ``notevil.com``;
- IPv4 subnets: the distinct dotted-quad addresses become integers, and for each distinct prefix
  length P among the indicators the address's top P bits are joined to the subnet's.

Matched rows are counted per (indicator, table, column, local entity, observed value) in the engine; only those
counts come back. Nothing is re-ingested: changing the indicator lists changes the next run.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from winnow.engine import Engine, Window

Builder = Callable[[ir.Table], ir.Table]


def _lower(col: ir.StringValue) -> ir.StringValue:
    return col.lower()


def _rows(t: ir.Table, value: ir.StringValue, local: ir.StringValue) -> ir.Table:
    return t.select(value=value.cast("string"), ts=t.ts, local=local.cast("string"))


def _name(col: ir.StringValue) -> ir.StringValue:
    return col.lower().re_replace(r"\.+$", "")


def _url(t: ir.Table) -> ir.Table:
    absolute = t.uri.re_search(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
    stripped = t.uri.re_replace(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "")
    host, path = stripped.re_extract(r"^([^/]*)", 1).lower(), stripped.re_extract(r"^[^/]*(.*)$", 1)
    value = ibis.ifelse(absolute, host + path, t.host.lower() + t.uri)  # a proxy's request names the URL whole
    return _rows(t.filter(t.uri.notnull() & (t.host.notnull() | absolute)), value, t.src_ip)


def _answers(t: ir.Table) -> ir.Table:
    rows = t.select("ts", "src_ip", answer=t.answers.unnest())
    return _rows(rows, rows.answer, rows.src_ip)


def _dns_results(t: ir.Table) -> ir.Table:
    rows = t.select("ts", "host", result=t.results.split(";").unnest())
    return _rows(rows, rows.result.strip().re_replace(r"^::ffff:", ""), rows.host)


def _hashes(t: ir.Table) -> ir.Table:
    rows = t.select("ts", "host", part=t.hashes.split(",").unnest())
    rows = rows.filter(~rows.part.upper().strip().startswith("IMPHASH"))
    return _rows(rows, rows.part.re_extract(r"([0-9A-Fa-f]{32,64})\s*$", 1).lower(), rows.host)


def _certs(t: ir.Table) -> ir.Table:
    rows = t.select("ts", "src_ip", fp=t.cert_chain_fps.unnest())
    return _rows(rows, rows.fp.lower(), rows.src_ip)


def _account(col: ir.StringValue) -> ir.StringValue:
    return col.re_replace(r"^.*\\", "").lower()


@dataclass(frozen=True)
class Probe:
    """One column of one table where indicators of ``kind`` show, read as ``(value, ts, local)``."""

    table: str
    column: str
    kind: str
    rows: Builder


PROBES: tuple[Probe, ...] = (
    Probe("net.conn", "dst_ip", "ip", lambda t: _rows(t, t.dst_ip, t.src_ip)),
    Probe("net.conn", "src_ip", "ip", lambda t: _rows(t, t.src_ip, t.dst_ip)),
    Probe("net.dns", "answers", "ip", _answers),
    Probe("net.dns", "query", "domain", lambda t: _rows(t, _name(t.query), t.src_ip)),
    Probe("net.http", "host", "domain", lambda t: _rows(t, _name(t.host.re_replace(r":\d+$", "")), t.src_ip)),
    Probe("net.http", "host+uri", "url", _url),
    Probe("net.http", "user_agent", "user_agent", lambda t: _rows(t, t.user_agent, t.src_ip)),
    Probe("net.tls", "server_name", "domain", lambda t: _rows(t, _name(t.server_name), t.src_ip)),
    Probe("net.tls", "ja3", "ja3", lambda t: _rows(t, _lower(t.ja3), t.src_ip)),
    Probe("net.tls", "cert_chain_fps", "cert_hash", _certs),
    Probe("auth.logon", "src_ip", "ip", lambda t: _rows(t, t.src_ip, t.host.fill_null(t.dst_ip))),
    Probe("auth.logon", "user", "user", lambda t: _rows(t, _account(t.user), t.host.fill_null(t.dst_ip))),
    Probe("proc.net", "dst_ip", "ip", lambda t: _rows(t, t.dst_ip, t.host)),
    Probe("proc.net", "src_ip", "ip", lambda t: _rows(t, t.src_ip, t.host)),
    Probe("proc.net", "dst_hostname", "domain", lambda t: _rows(t, _name(t.dst_hostname), t.host)),
    Probe("proc.dns", "query", "domain", lambda t: _rows(t, _name(t.query), t.host)),
    Probe("proc.dns", "results", "ip", _dns_results),
    Probe("proc.exec", "hashes", "hash", _hashes),
    Probe("proc.exec", "user", "user", lambda t: _rows(t, _account(t.user), t.host)),
)

#: every table a probe reads
TABLES = tuple(dict.fromkeys(p.table for p in PROBES))


def indicator_table(kinds: list[str], values: list[str]) -> pa.Table:
    """The Arrow table of indicators (``id`` is the position in the lists) joined against the lake."""
    return pa.table({"id": pa.array(range(len(values)), pa.int64()), "kind": pa.array(kinds, pa.string()),
                     "value": pa.array(values, pa.string())})


def matches(engine: Engine, window: Window, indicators: pa.Table) -> ir.Table | None:
    """Per (indicator id, table, column, local entity, observed value): matched rows ``n``, first/last seen."""
    ind = ibis.memtable(indicators)
    present = set(indicators.column("kind").to_pylist())
    observed: dict[str, list[ir.Table]] = {}
    for probe in PROBES:
        wanted = {"ip": {"ip", "cidr"}}.get(probe.kind, {probe.kind})
        table = engine.table(probe.table, window) if wanted & present else None
        if table is None:
            continue
        rows = probe.rows(table)
        rows = rows.filter(rows.value.notnull() & (rows.value != ""))
        observed.setdefault(probe.kind, []).append(
            rows.mutate(tbl=ibis.literal(probe.table), col=ibis.literal(probe.column),
                        local=rows.local.fill_null("?")))
    parts = []
    for kind, tables in observed.items():
        obs = ibis.union(*tables, distinct=False) if len(tables) > 1 else tables[0]
        hits = []
        if kind in present:
            exact = ind.filter(ind.kind == kind)
            hits.append(exact.select(hit_value=exact.value, id=exact.id))
        if kind == "domain":
            hits.extend(_domain_hits(obs, indicators))
        if kind == "ip" and "cidr" in present:
            hits.extend(_subnet_hits(obs, indicators))
        if not hits:
            continue
        hit = ibis.union(*hits, distinct=False) if len(hits) > 1 else hits[0]
        joined = obs.join(hit, obs.value == hit.hit_value)
        parts.append(joined.group_by(["id", "tbl", "col", "local", "value"]).aggregate(
            n=joined.count().cast("int64"), first_seen=joined.ts.min(), last_seen=joined.ts.max()))
    if not parts:
        return None
    return ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]


def _domain_hits(obs: ir.Table, indicators: pa.Table) -> list[ir.Table]:
    """``(hit_value, id)`` for every distinct observed name strictly below a domain indicator."""
    domains = [(i, v) for i, (k, v) in enumerate(zip(indicators.column("kind").to_pylist(),
                                                     indicators.column("value").to_pylist(), strict=True))
               if k == "domain"]
    if not domains:
        return []
    table = ibis.memtable(pa.table({
        "id": pa.array([i for i, _ in domains], pa.int64()), "tail": pa.array([v for _, v in domains], pa.string()),
        "labels": pa.array([v.count(".") + 1 for _, v in domains], pa.int64())}))
    names = obs.select("value").distinct()
    out = []
    for labels in sorted({v.count(".") + 1 for _, v in domains}):
        pattern = r"\.(" + r"[^.]+\." * (labels - 1) + r"[^.]+)$"  # strictly below: at least one more label
        cut = names.select(hit_value=names.value, tail=names.value.re_extract(pattern, 1))
        cut = cut.filter(cut.tail.notnull() & (cut.tail != ""))
        mine = table.filter(table.labels == labels)
        joined = cut.join(mine, cut.tail == mine.tail)
        out.append(joined.select("hit_value", "id"))
    return out


def _subnet_hits(obs: ir.Table, indicators: pa.Table) -> list[ir.Table]:
    """``(hit_value, id)`` for every distinct observed IPv4 address inside an IPv4 subnet indicator."""
    subnets = [(i, ipaddress.ip_network(v)) for i, (k, v) in enumerate(zip(
        indicators.column("kind").to_pylist(), indicators.column("value").to_pylist(), strict=True)) if k == "cidr"]
    table = ibis.memtable(pa.table({
        "id": pa.array([i for i, _ in subnets], pa.int64()),
        "prefix": pa.array([n.prefixlen for _, n in subnets], pa.int64()),
        "key": pa.array([int(n.network_address) >> (32 - n.prefixlen) for _, n in subnets], pa.int64())}))
    names = obs.select("value").distinct()
    quad = r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$"
    v4 = names.filter(names.value.re_search(quad))
    octets = [v4.value.re_extract(quad, i).cast("int64") for i in range(1, 5)]
    v4 = v4.select("value", number=octets[0] * 16777216 + octets[1] * 65536 + octets[2] * 256 + octets[3])
    out = []
    for prefix in sorted({n.prefixlen for _, n in subnets}):
        keyed = v4.select(hit_value=v4.value, key=(v4.number // (2 ** (32 - prefix))).cast("int64"))
        mine = table.filter(table.prefix == prefix)
        joined = keyed.join(mine, keyed.key == mine.key)
        out.append(joined.select("hit_value", "id"))
    return out
