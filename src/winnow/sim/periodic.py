"""Benign periodic traffic: the hard negatives for beacon detection.

High-prevalence services (each host has its own period choice and phase, stable across days):

    key        destination                    port     period (s)             hosts      sizes
    ntp        NTP pool, 4 addresses          udp/123  64-1024 per host       all        48/48 B
    update     OS update CDN, 6 addresses     443      3600 (70 %), 900 (20 %)  90 %     ~1.8/5.2 kB
    telemetry  telemetry service, 2 addrs.    443      300                    90 %       2100/650 B +-1 %
    av_sig     AV signatures over HTTP        80       3600 +- 60 s           70 %       ~320/1400 B
    av_cloud   second AV vendor               443      1800                   25 %       ~900/2400 B
    presence   chat presence heartbeat        443      60, only while the user works  80 % of users

Rare benign periodic (listed in truth.json as `rare_benign_periodic`, neutral for scoring): one or
two hosts with a periodic agent only they run (a monitoring agent every 300 s, a backup job on the
file server every hour, and at >= 1000 hosts a licence check every 900 s). They look exactly like a
low-jitter beacon to a rare destination; only context tells them apart.

Events: t = phase + k * period + U(-jitter, +jitter) inside the host's on (or present) window,
1 % of events skipped; NTP is UDP without DNS (resolved once at daemon start), the others resolve
their name through `dns.lookups` like any client.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from winnow.sim import arrays, catalog, internet, transport
from winnow.sim.context import PERIODIC, RARE, US, DayChunk
from winnow.sim.frames import Traffic
from winnow.sim.internet import AddressSpace
from winnow.sim.network import World
from winnow.sim.web import web

_NTP = catalog.SERVICE_CODE["ntp"]


@dataclass
class Service:
    """A periodic client of one site; per-host arrays are indexed like `world.hosts`."""

    key: str
    site: int
    app: str
    period: np.ndarray
    phase: np.ndarray
    ip_pref: np.ndarray
    jitter_s: float
    orig: tuple[float, float]
    resp: tuple[float, float]
    schedule: str = "on"
    duration_us: float = 150_000
    ja3: int = 0
    ua: int = -1
    uri: int = 0
    rotate_daily: bool = False


def _phases(rng: np.random.Generator, period: np.ndarray) -> np.ndarray:
    return (rng.random(len(period)) * period * US).astype(np.int64)


def plan_services(world: World, rng: np.random.Generator, space: AddressSpace) -> None:
    """Create the high-prevalence periodic services and every host's schedule for them."""
    h = world.hosts
    n = len(h)
    ws = ~h.server
    schannel = world.add_ja3("schannel-win10")
    svcs: list[Service] = []

    def site(pattern: str, n_ips: int, *, https: bool = True, ttl: int = 300, cdn: bool = False) -> int:
        name = internet.unique_name(world, rng, pattern)
        if cdn:
            pool = space.cdn[int(rng.integers(len(space.cdn)))]
            ips = [pool[int(i)] for i in rng.choice(len(pool), n_ips, replace=False)]
        else:
            ips = [space.fresh() for _ in range(n_ips)]
        return internet.add_site(
            world,
            rng,
            name,
            ips,
            kind=internet.SERVICE,
            https=https,
            ttl=ttl,
            tls13=https,
            stack="service-" + pattern,
        )

    ntp_period = rng.choice([64, 128, 256, 512, 1024], n, p=[0.1, 0.1, 0.15, 0.25, 0.4])
    ntp_period[h.server] = 64
    svcs.append(
        Service(
            "ntp",
            site("pool.{w}-ntp.org", 4, https=False, ttl=150),
            "ntp",
            ntp_period,
            _phases(rng, ntp_period),
            rng.choice(4, n, p=[0.55, 0.25, 0.1, 0.1]),
            1.0,
            (48, 0),
            (48, 0),
            duration_us=30_000,
        )
    )
    upd = np.where(rng.random(n) < 0.78, 3600, 900) * (rng.random(n) < 0.9)
    svcs.append(
        Service(
            "update",
            site("update.{w}soft.com", 6, cdn=True),
            "ssl",
            upd,
            _phases(rng, np.maximum(upd, 1)),
            rng.integers(0, 6, n),
            30.0,
            (1800, 0.05),
            (5200, 0.08),
            ja3=schannel,
            rotate_daily=True,
        )
    )
    tel = np.where(rng.random(n) < 0.9, 300, 0)
    svcs.append(
        Service(
            "telemetry",
            site("telemetry.{w}.net", 2, ttl=3600),
            "ssl",
            tel,
            _phases(rng, np.maximum(tel, 1)),
            (rng.random(n) < 0.08).astype(np.int64),
            3.0,
            (2100, 0.01),
            (650, 0.01),
            ja3=schannel,
        )
    )
    u = rng.random(n)
    av1 = np.where(u < 0.7, 3600, 0)
    svcs.append(
        Service(
            "av_sig",
            site("sigs.{w}av.com", 3, https=False, cdn=True),
            "http",
            av1,
            _phases(rng, np.maximum(av1, 1)),
            rng.integers(0, 3, n),
            60.0,
            (320, 0.03),
            (1400, 0.3),
            ua=world.add_ua(catalog.AGENT_UAS[2]),
            uri=world.add_uri("/v1/signatures/check?channel=stable&engine=24.6"),
        )
    )
    av2 = np.where((u >= 0.7) & (u < 0.95), 1800, 0)
    svcs.append(
        Service(
            "av_cloud",
            site("cloud.{w}sec.net", 2),
            "ssl",
            av2,
            _phases(rng, np.maximum(av2, 1)),
            rng.integers(0, 2, n),
            20.0,
            (900, 0.05),
            (2400, 0.1),
            ja3=world.add_ja3("av-agent-openssl"),
        )
    )
    pres = np.where(ws & (rng.random(n) < 0.8), 60, 0)
    svcs.append(
        Service(
            "presence",
            site("presence.{w}chat.com", 2, ttl=600),
            "ssl",
            pres,
            _phases(rng, np.maximum(pres, 1)),
            rng.integers(0, 2, n),
            1.0,
            (560, 0.01),
            (310, 0.01),
            schedule="present",
            duration_us=90_000,
            ja3=world.add_ja3("electron-chat"),
        )
    )
    world.extra["services"] = svcs


def plan_rare(world: World, rng: np.random.Generator, space: AddressSpace, hosts: list[int]) -> list[dict]:
    """Rare benign periodic agents on `hosts` (workstation host indexes; fs01 gets the backup job)."""
    h = world.hosts
    n = len(h)
    specs = [
        ("api.{w}monitor.io", 300, 2.0, (1100, 0.01), (420, 0.01), "monitoring agent", "ssl"),
        ("vault.{w}backup.com", 3600, 10.0, (52000, 0.05), (2100, 0.02), "backup job", "ssl"),
        ("lic.{w}ware.com", 900, 5.0, (380, 0.0), (240, 0.0), "licence check", "http"),
    ]
    srcs = [hosts[0], world.hosts.ip.tolist().index(world.server_ip["fs01"])] + hosts[1:]
    out, svcs = [], []
    for (pattern, period, jit, orig, resp, what, app), host in zip(specs, srcs, strict=False):
        name = internet.unique_name(world, rng, pattern)
        site = internet.add_site(
            world,
            rng,
            name,
            [space.fresh()],
            kind=internet.RARE,
            https=app == "ssl",
            tls13=False,
            ttl=3600,
            stack="rare-" + what,
        )
        per = np.zeros(n, dtype=np.int64)
        per[host] = period
        h.always_on[host] = True
        svcs.append(
            Service(
                what,
                site,
                app,
                per,
                _phases(rng, np.maximum(per, 1)),
                np.zeros(n, np.int64),
                jit,
                orig,
                resp,
                ja3=world.add_ja3("agent-" + what),
                ua=world.add_ua(catalog.AGENT_UAS[4]),
                uri=world.add_uri("/v2/license/verify"),
            )
        )
        dst = world.ips[int(world.sites.ips[world.sites.ip_off[site]])]
        out.append(
            {
                "src": world.ips[int(h.ip[host])],
                "dst": dst,
                "dport": 443 if app == "ssl" else 80,
                "period": period,
                "jitter_s": jit,
                "name": name,
                "kind": what,
            }
        )
    world.extra["rare_services"] = svcs
    return out


def _times(ctx: DayChunk, rng: np.random.Generator, svc: Service) -> tuple[np.ndarray, np.ndarray]:
    """Local host indexes and timestamps of one service's events in this unit."""
    period = svc.period[ctx.hosts].astype(np.int64) * US
    if svc.schedule == "present":
        a, b = ctx.pres_start, ctx.pres_end
    else:
        a, b = ctx.on_start, ctx.on_end
    use = (period > 0) & (a >= 0)
    local = np.flatnonzero(use)
    p, ph = period[local], svc.phase[ctx.hosts[local]]
    k0 = -((ph - a[local]) // p)
    k1 = -((ph - b[local]) // p)
    count = np.maximum(k1 - k0, 0)
    host = np.repeat(local, count)
    k = np.repeat(k0, count) + arrays.position_in_group(count)
    ts = np.repeat(ph, count) + k * np.repeat(p, count)
    ts += (rng.uniform(-svc.jitter_s, svc.jitter_s, len(ts)) * US).astype(np.int64)
    keep = (rng.random(len(ts)) >= 0.01) & (ts >= ctx.day0) & (ts < ctx.day0 + 86_400 * US)
    return host[keep], ts[keep]


def _sizes(rng: np.random.Generator, spec: tuple[float, float], n: int) -> np.ndarray:
    median, sd = spec
    return np.maximum(median * (1 + sd * rng.standard_normal(n)), 1).astype(np.int64)


def generate_service(ctx: DayChunk, rng: np.random.Generator, svc: Service) -> Traffic:
    """Connections of one periodic service for the chunk's hosts on this day."""
    w, s = ctx.world, ctx.world.sites
    host, ts = _times(ctx, rng, svc)
    n = len(ts)
    src = ctx.ip[host]
    n_ips = s.n_ips_a[svc.site]
    pref = svc.ip_pref[ctx.hosts[host]] + (ctx.day if svc.rotate_daily else 0)
    dst = s.ips_a[s.ip_off_a[svc.site] + pref % n_ips]
    dur = (svc.duration_us * rng.lognormal(0, 0.3, n)).astype(np.int64)
    if svc.app == "ntp":
        out = Traffic()
        out.add(
            "conn",
            transport.udp(
                rng,
                ts=ts,
                src=src,
                dst=dst,
                dport=123,
                sport=123,
                orig_bytes=48,
                resp_bytes=48,
                duration=dur,
                service=_NTP,
                replied=rng.random(n) > 0.002,
            ),
        )
        return out
    http_cols = (
        {"uri": svc.uri, "method": 0, "status": 0, "mime": 7, "referrer": -1} if svc.app == "http" else None
    )
    return web(
        rng,
        w,
        ts=ts,
        src=src,
        site=np.full(n, svc.site),
        dst=dst,
        tls=svc.app == "ssl",
        orig_bytes=_sizes(rng, svc.orig, n),
        resp_bytes=_sizes(rng, svc.resp, n),
        duration=dur,
        ja3=svc.ja3,
        ua=svc.ua,
        failures={catalog.S0: 0.002, catalog.RSTR: 0.002},
        http_cols=http_cols,
    )


def periodic(ctx: DayChunk) -> Traffic:
    """Every high-prevalence and rare periodic service for this unit."""
    out = Traffic()
    for i, svc in enumerate(ctx.world.extra["services"]):
        out.extend(generate_service(ctx, ctx.rng(PERIODIC * 100 + i), svc))
    for i, svc in enumerate(ctx.world.extra["rare_services"]):
        out.extend(generate_service(ctx, ctx.rng(RARE * 100 + i), svc))
    return out
