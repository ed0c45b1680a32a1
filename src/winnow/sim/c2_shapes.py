"""Planted C2 shapes seen on real captures that the classic beacon (steady sizes, hours of callbacks) is not.

    kind            what                                                    truth `period`
    replyless_c2    a bot retrying a dead C2 address every 8 s +- 0.5 s all   8
                    day: S0 (70 %, a third with retransmitted SYNs) or REJ,
                    never any payload, no DNS (address hard-coded)
    tasked_c2       tcp/449 (TLS, self-signed, bare IP) every 180 s +- 1 s     180
                    for 6 h a day; request and response sizes vary with
                    tasking (lognormal; a fifth of responses empty)
    sparse_c2       a dozen HTTPS callbacks over half a day (1 h +- 60 s)     3600
    burst_c2        25 HTTP callbacks in three minutes (7.2 s +- 0.5 s)        7.2

Each gets its own workstation among those that stay on all day and carry no classic planted item
(so every other host's traffic stays as it was); tiny networks share hosts and keep them on.
truth.json lists them under `c2_shapes`, each with its `kind`; they are positives for beacon
scoring exactly like `beacons`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from winnow.sim import catalog, internet, transport
from winnow.sim.context import HOUR, SHAPES, US, DayChunk
from winnow.sim.frames import Traffic
from winnow.sim.internet import AddressSpace
from winnow.sim.network import World
from winnow.sim.web import web

KINDS = ("replyless_c2", "tasked_c2", "sparse_c2", "burst_c2")
#: kind -> (period s, jitter s, dport, callbacks a day or 0 for all day, active hours)
SPEC = {
    "replyless_c2": (8.0, 0.5, 443, 0, 24.0),
    "tasked_c2": (180.0, 1.0, 449, 120, 6.0),
    "sparse_c2": (3600.0, 60.0, 443, 12, 12.0),
    "burst_c2": (7.2, 0.5, 80, 25, 0.05),
}


@dataclass
class Shape:
    """One planted C2 of a non-classic shape; `truth` is what truth.json reports."""

    index: int
    kind: str
    host: int
    dst: int
    site: int
    start_h: float
    ja3: int
    ua: int
    uri: int
    truth: dict


def plan_shapes(world: World, rng: np.random.Generator, space: AddressSpace, taken: set[int]) -> list[Shape]:
    """One C2 of every kind in `KINDS`, each on its own workstation when there are enough."""
    h = world.hosts
    ws = np.flatnonzero(~h.server)
    free = np.array([i for i in ws if int(i) not in taken and h.always_on[i]], dtype=np.int64)
    if len(free) < len(KINDS):  # tiny networks: share hosts (and keep them on)
        free = ws
    hosts = rng.choice(free, len(KINDS), replace=len(free) < len(KINDS))
    out = []
    for i, (kind, host) in enumerate(zip(KINDS, hosts, strict=True)):
        period, jitter, dport, per_day, hours = SPEC[kind]
        dst = space.fresh()
        name = None
        if kind == "sparse_c2":
            name = internet.unique_name(world, rng, "cdn-{w}.{tld}")
        site = internet.add_site(
            world, rng, name or world.ips[dst], [dst], kind=internet.RARE, https=kind != "burst_c2",
            tls13=False, ttl=300, valid=catalog.VALID_SELF_SIGNED, stack=f"c2-shape-{i}",
        )
        start_h = 0.0 if kind == "replyless_c2" else round(float(rng.uniform(1, 23.9 - hours)), 2)
        world.hosts.always_on[host] = True
        uri = world.add_uri(f"/{rng.bytes(5).hex()}/{int(rng.integers(10, 99))}/")
        shape = Shape(i, kind, int(host), dst, site, start_h, world.add_ja3(f"c2-shape-{kind}"),
                      world.add_ua(catalog.C2_UAS[int(rng.integers(len(catalog.C2_UAS)))]), uri, {})
        shape.truth = {
            "src": world.ips[int(world.hosts.ip[host])],
            "dst": world.ips[dst],
            "dport": dport,
            "kind": kind,
            "period": period,
            "jitter_s": jitter,
            "callbacks_per_day": per_day or int(86_400 / period),
            "window": {"start_hour": start_h, "end_hour": round(start_h + hours, 2)},
            "name": name,
            "replies": kind != "replyless_c2",
        }
        out.append(shape)
    return out


def shape_traffic(ctx: DayChunk) -> Traffic:
    """Traffic of every planted C2 shape whose host is in this unit's chunk."""
    out = Traffic()
    lo, hi = int(ctx.hosts[0]), int(ctx.hosts[-1]) + 1
    for s in ctx.world.extra["c2_shapes"]:
        if lo <= s.host < hi:
            out.extend(_one(ctx, ctx.rng(SHAPES * 1000 + s.index), s))
    return out


def _one(ctx: DayChunk, rng: np.random.Generator, s: Shape) -> Traffic:
    w = ctx.world
    period, jitter, dport, per_day, hours = SPEC[s.kind]
    n = per_day or int(86_400 / period)
    t0 = ctx.day0 + int(s.start_h * HOUR) + int(rng.uniform(0, period) * US)
    ts = t0 + (np.arange(n) * period * US + rng.uniform(-jitter, jitter, n) * US).astype(np.int64)
    ts = np.sort(ts[ts < ctx.day0 + 24 * HOUR])
    n = len(ts)
    src = int(w.hosts.ip[s.host])
    if s.kind == "replyless_c2":
        state = np.where(rng.random(n) < 0.7, catalog.S0, catalog.REJ)
        out = Traffic()
        out.add("conn", transport.tcp(rng, ts=ts, src=src, dst=s.dst, dport=dport, orig_bytes=np.zeros(n),
                                      resp_bytes=np.zeros(n), duration=np.zeros(n), service=0, state=state))
        out.count(f"c2_shape:{s.index}", n)
        return out
    if s.kind == "tasked_c2":
        orig = rng.lognormal(np.log(600), 1.0, n).clip(90, 60_000).astype(np.int64)
        resp = rng.lognormal(np.log(2500), 1.6, n).clip(40, 2_000_000).astype(np.int64)
        resp[rng.random(n) < 0.2] = 0
    else:
        orig = (rng.integers(300, 500) * (1 + 0.03 * rng.standard_normal(n))).astype(np.int64)
        resp = (rng.integers(200, 900) * (1 + 0.03 * rng.standard_normal(n))).astype(np.int64)
    http = s.kind == "burst_c2"
    out = web(
        rng, w, ts=ts, src=src, site=np.full(n, s.site), dst=s.dst, tls=not http, orig_bytes=orig,
        resp_bytes=resp, dport=dport, lookup=s.truth["name"] is not None,
        duration=(rng.lognormal(np.log(0.3 * US), 0.3, n) + (orig + resp) * 2).astype(np.int64),
        ja3=s.ja3, ua=s.ua, failures=None,
        ssl_cols={"profile": catalog.TLS12_NO_ALPN, "sni": -1},
        http_cols={"host": -1, "uri": s.uri, "method": 1, "status": 0, "referrer": -1, "mime": 7,
                   "req_len": np.maximum(orig - 250, 0), "resp_len": np.maximum(resp - 200, 0)},
    )
    out.count(f"c2_shape:{s.index}", n)
    return out
