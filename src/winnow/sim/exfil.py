"""Planted exfiltration: DNS tunnelling and a large upload.

* DNS tunnel: one host sends 3,000-8,000 TXT queries in a 1-4 hour window through its resolver,
  each for a unique name `<30-60 base32 chars>.<domain>` under one registered domain; answers
  are TXT records of 16-200 base32 characters with TTL 0, resolved recursively (40-150 ms).
* Large upload: one host sends 2-8 GB to a rare external address over 443 in 1-3 long
  connections (5-40 MB/s) during working hours, with a TLS 1.3 handshake whose SNI is a rare
  name (or none) and a JA3 no other host uses; responses are tiny.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.sim import catalog, internet
from winnow.sim.context import HOUR, US, DayChunk
from winnow.sim.dns import queries, random_strings
from winnow.sim.frames import Traffic
from winnow.sim.internet import AddressSpace
from winnow.sim.network import World
from winnow.sim.web import web

_BASE32 = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", dtype=np.uint8)


@dataclass
class Exfil:
    """A planned exfiltration; `truth` is what truth.json reports."""

    kind: str
    host: int
    day: int
    start_us: int
    span_us: int
    count: int
    domain: str
    site: int
    dst: int
    sizes: np.ndarray
    truth: dict
    ja3: int = 0


def plan_exfil(world: World, rng: np.random.Generator, space: AddressSpace, hosts: list[int]) -> list[Exfil]:
    """A DNS tunnel on `hosts[0]` and a large upload on `hosts[1]`."""
    ip = world.hosts.ip
    pattern = str(rng.choice(["t.{w}.net", "{w}{w2}-sync.com", "ns.{w}.info"]))
    domain = internet.unique_name(world, rng, pattern)
    day, start = int(rng.integers(world.days)), int(rng.uniform(1, 19) * HOUR)
    span, count = int(rng.uniform(1, 4) * HOUR), int(rng.integers(3000, 8001))
    truth = {
        "src": world.ips[int(ip[hosts[0]])],
        "domain": domain,
        "qtype": "TXT",
        "queries": count,
        "start_hour": round(start / HOUR, 2),
        "hours": round(span / HOUR, 2),
    }
    tunnel = Exfil(
        "dns_tunnel",
        hosts[0],
        day,
        start,
        span_us=span,
        count=count,
        domain=domain,
        site=-1,
        dst=-1,
        sizes=np.zeros(0, dtype=np.int64),
        truth=truth,
    )

    dst = space.fresh()
    use_name = bool(rng.random() < 0.6)
    name = internet.unique_name(world, rng, "files.{w}.{tld}") if use_name else world.ips[dst]
    site = internet.add_site(world, rng, name, [dst], kind=internet.RARE, tls13=True, ttl=600, stack="exfil")
    n_conn = int(rng.integers(1, 4))
    total = int(rng.uniform(2e9, 8e9))
    sizes = np.diff(np.sort(np.concatenate([[0, total], rng.integers(0, total, n_conn - 1)])))
    day = int(rng.integers(world.days))
    start = int((world.hosts.work_start[hosts[1]] + rng.uniform(0.5, 3)) * HOUR)
    truth = {
        "src": world.ips[int(ip[hosts[1]])],
        "dst": world.ips[dst],
        "dport": 443,
        "bytes": total,
        "connections": n_conn,
        "name": name if use_name else None,
        "start_hour": round(start / HOUR, 2),
    }
    upload = Exfil(
        "large_upload",
        hosts[1],
        day,
        start,
        span_us=0,
        count=n_conn,
        domain=name if use_name else "",
        site=site,
        dst=dst,
        sizes=sizes,
        truth=truth,
        ja3=world.add_ja3("rclone-go"),
    )
    return [tunnel, upload]


def exfil_traffic(ctx: DayChunk, rng: np.random.Generator, e: Exfil) -> Traffic:
    """The tunnel's queries or the upload's connections, on the planned day only."""
    if ctx.day != e.day:
        return Traffic()
    w = ctx.world
    src = int(w.hosts.ip[e.host])
    if e.kind == "dns_tunnel":
        n = e.count
        ts = ctx.day0 + e.start_us + np.sort(rng.integers(0, e.span_us, n))
        qlen = rng.integers(30, 61, n)
        qstr = random_strings(rng, qlen, _BASE32, suffix="." + e.domain)
        alen = rng.integers(16, 201, n)
        data = random_strings(rng, alen, _BASE32)
        astr = pc.binary_join_element_wise("TXT", pc.cast(pa.array(alen), pa.string()), data, " ")
        rtt = rng.integers(40_000, 150_000, n)
        out = queries(
            rng,
            w,
            ts=ts,
            src=np.full(n, src),
            qtype=16,
            rtt=rtt,
            qstr=qstr,
            astr=astr,
            n_ans=1,
            ttl=0,
            qlen=qlen + len(e.domain) + 1,
        )
        out.count("dns_tunnel", n)
        return out
    rate = rng.uniform(5e6, 4e7, e.count)
    dur = (e.sizes / rate * US).astype(np.int64)
    ts = ctx.day0 + e.start_us + np.concatenate([[0], np.cumsum(dur[:-1] + 20 * US)]).astype(np.int64)
    out = web(
        rng,
        w,
        ts=ts,
        src=src,
        site=np.full(e.count, e.site),
        dst=e.dst,
        tls=True,
        orig_bytes=e.sizes.astype(np.int64),
        resp_bytes=(3000 + e.sizes // 200_000).astype(np.int64),
        duration=dur,
        ja3=e.ja3,
        ua=-1,
        failures=None,
        lookup=bool(e.domain),
        ssl_cols={"sni": w.sites.name_a[e.site] if e.domain else -1, "profile": catalog.TLS13_NEW},
    )
    out.count("large_upload", e.count)
    return out
